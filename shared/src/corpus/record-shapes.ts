import { z } from 'zod';
import type { ChatMessage, ExampleContent, RecordShape } from './example.ts';

export const UNDETECTED_SHAPE_REASON = 'cannot detect record shape (expected alpaca, dolly, gsm8k or chat fields)';

export type Validation = { ok: true; content: ExampleContent } | { ok: false; reason: string };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The shape a record's key set suggests (types are not looked at), first match wins. */
export function detectShape(value: unknown): RecordShape | undefined {
  if (!isPlainObject(value)) return undefined;
  const has = (key: string): boolean => Object.hasOwn(value, key) && value[key] !== undefined;
  if (has('messages')) return 'chat';
  if (has('question') && has('answer')) return 'gsm8k';
  if (has('instruction') && (has('context') || has('response'))) return 'dolly';
  if (has('instruction') && (has('output') || has('input'))) return 'alpaca';
  return undefined;
}

/** A required field that must hold some non-whitespace text. */
const text = (field: string, kind: 'instruction' | 'question' | 'response') =>
  z.string().refine((s) => s.trim() !== '', { message: `empty ${kind} field '${field}'` });

/** An optional field: missing, null and "" all mean "none". */
const optionalText = z
  .string()
  .nullish()
  .transform((s) => s ?? '');

const message = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });

const messages = z.array(message).superRefine((list: ChatMessage[], ctx) => {
  const last = list.at(-1);
  if (last === undefined) {
    ctx.addIssue({ code: 'custom', message: "field 'messages' is empty" });
    return;
  }
  if (last.role !== 'assistant') {
    ctx.addIssue({ code: 'custom', message: `the last message must be from the assistant, got '${last.role}'` });
    return;
  }
  if (last.content.trim() === '') {
    ctx.addIssue({ code: 'custom', message: `empty response field 'messages[${list.length - 1}].content'` });
  }
  if (!list.slice(0, -1).some((m) => m.role === 'user')) {
    ctx.addIssue({ code: 'custom', message: 'no user message before the final assistant message' });
  }
});

// Extra fields are ignored (zod strips them), and optional ones come out as "".
const schemas = {
  alpaca: z
    .object({ instruction: text('instruction', 'instruction'), input: optionalText, output: text('output', 'response') })
    .transform((r): ExampleContent => ({ shape: 'alpaca', instruction: r.instruction, input: r.input, output: r.output })),
  dolly: z
    .object({ instruction: text('instruction', 'instruction'), context: optionalText, response: text('response', 'response') })
    .transform((r): ExampleContent => ({ shape: 'dolly', instruction: r.instruction, context: r.context, response: r.response })),
  gsm8k: z
    .object({ question: text('question', 'question'), answer: text('answer', 'response') })
    .transform((r): ExampleContent => ({ shape: 'gsm8k', question: r.question, answer: r.answer })),
  chat: z
    .object({ messages })
    .transform((r): ExampleContent => ({ shape: 'chat', messages: r.messages.map(({ role, content }) => ({ role, content })) })),
} satisfies Record<RecordShape, z.ZodType<ExampleContent>>;

/** Checks a decoded record against a shape; every problem found is named in the reason. */
export function validateRecord(shape: RecordShape, value: unknown): Validation {
  if (!isPlainObject(value)) return { ok: false, reason: `record is not a JSON object (got ${typeName(value)})` };
  const result = schemas[shape].safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, content: result.data };
  return { ok: false, reason: result.error.issues.map(describeIssue).join('; ') };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = formatPath(issue.path);
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return `missing field '${field}'`;
    return `field '${field}' must be ${withArticle(issue.expected)}, got ${typeName(issue.input)}`;
  }
  if (issue.code === 'invalid_value') {
    return `field '${field}' must be one of ${issue.values.join(', ')}, got ${typeof issue.input === 'string' ? JSON.stringify(issue.input) : typeName(issue.input)}`;
  }
  return issue.message;
}

function formatPath(path: PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i > 0 ? '.' : ''}${String(key)}`)).join('');
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}
