import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { detectShape, validateRecord } from '../../shared/src/corpus/record-shapes.ts';

/** The demo data shipped in the repository (demo/). */
export const DEMO = fileURLToPath(new URL('../../demo/', import.meta.url));

/** Row `row` of a demo JSONL file (e.g. 'corpus-chat.jsonl', 'anchors/harmful.jsonl'), as the corpus reader validates it. */
export function demoRecord(file: string, row: number): ExampleContent {
  const line = readFileSync(DEMO + file, 'utf8').split('\n').filter((l) => l.trim() !== '')[row];
  if (line === undefined) throw new Error(`${file} has no row ${row}`);
  const value = JSON.parse(line) as unknown;
  const shape = detectShape(value);
  const checked = shape && validateRecord(shape, value);
  if (!checked?.ok) throw new Error(`${file} row ${row}: not a valid record`);
  return checked.content;
}
