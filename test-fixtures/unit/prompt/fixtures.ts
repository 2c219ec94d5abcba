import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { DATA } from '../../fixture-paths.ts';

export { STORIES260K } from '../../fixture-paths.ts';

export function jsonLines(relPath: string): unknown[] {
  return readFileSync(join(DATA, relPath), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown);
}

export function gsm8k(rows: number[]): ExampleContent[] {
  const all = jsonLines('gsm8k/gsm8k_train.jsonl') as Array<{ question: string; answer: string }>;
  return rows.map((i) => ({ shape: 'gsm8k', question: all[i]!.question, answer: all[i]!.answer }));
}

export function alpaca(): Array<{ instruction: string; input: string; output: string }> {
  return JSON.parse(readFileSync(join(DATA, 'alpaca/alpaca_data_safety_only.json'), 'utf8')) as Array<{
    instruction: string;
    input: string;
    output: string;
  }>;
}

export function dolly(): Array<{ instruction: string; context: string; response: string }> {
  return jsonLines('dolly/databricks-dolly-15k-safety-only.jsonl') as Array<{
    instruction: string;
    context: string;
    response: string;
  }>;
}

export function anchors(file: string): ExampleContent[] {
  return (jsonLines(`anchors/${file}`) as Array<{ messages: Array<{ role: 'user' | 'assistant'; content: string }> }>).map(
    (r) => ({ shape: 'chat', messages: r.messages }),
  );
}
