import { createHash } from 'node:crypto';
import type { ExampleContent } from './example.ts';

/** The content as a JSON array in a fixed field order, so key order in the file never matters. */
function canonicalContent(content: ExampleContent): unknown[] {
  switch (content.shape) {
    case 'alpaca':
      return [content.shape, content.instruction, content.input, content.output];
    case 'dolly':
      return [content.shape, content.instruction, content.context, content.response];
    case 'gsm8k':
      return [content.shape, content.question, content.answer];
    case 'chat':
      return [content.shape, content.messages.map((m) => [m.role, m.content])];
  }
}

/**
 * Content hash of an example: sha256 of its canonical JSON, first 32 hex digits (128 bits).
 * Independent of file and position, so the same record in two files gets the same id.
 */
export function exampleId(content: ExampleContent): string {
  return createHash('sha256').update(JSON.stringify(canonicalContent(content)), 'utf8').digest('hex').slice(0, 32);
}
