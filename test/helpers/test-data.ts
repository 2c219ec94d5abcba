// The data the tests use: files we wrote and commit (test/assets/, demo/). See test/assets/README.md.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEMO_INPUTS } from '../../shared/src/audit/demo-inputs.ts';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { readJsonLines } from './fixtures.ts';

/** 60 GSM8K-shaped records ({"question","answer"}, answers ending "#### N"), written for the tests. */
export const GSM8K_SAMPLE = fileURLToPath(new URL('../assets/gsm8k-sample.jsonl', import.meta.url));
export const GSM8K_SAMPLE_RECORDS = 60;

/** The demo's three anchor sets (one harmful, two safe; ten chat records each), as in the paper's setup. */
export const ANCHOR_FILES = {
  harmful: DEMO_INPUTS.harmful,
  safe1: DEMO_INPUTS.safe[0],
  safe2: DEMO_INPUTS.safe[1],
} as const;

/** The audit flags for those sets. */
export const ANCHOR_FLAGS: readonly string[] = ['--harmful', ANCHOR_FILES.harmful, '--safe', ANCHOR_FILES.safe1, '--safe', ANCHOR_FILES.safe2];

export interface Gsm8kRecord {
  question: string;
  answer: string;
}

/** The first n records of the GSM8K sample, as written in the file. */
export function gsm8kSample(n: number = GSM8K_SAMPLE_RECORDS): Gsm8kRecord[] {
  if (n > GSM8K_SAMPLE_RECORDS) throw new Error(`the GSM8K sample has ${GSM8K_SAMPLE_RECORDS} records, not ${n}`);
  return readJsonLines(GSM8K_SAMPLE, n) as Gsm8kRecord[];
}

/** Rows of the GSM8K sample as corpus contents. */
export function gsm8kContents(rows: number[]): ExampleContent[] {
  const all = gsm8kSample();
  return rows.map((i) => {
    const r = all[i];
    if (!r) throw new Error(`the GSM8K sample has no row ${i}`);
    return { shape: 'gsm8k', question: r.question, answer: r.answer };
  });
}

/** Every record of a chat JSONL file (an anchor set) as corpus contents. */
export function chatContents(path: string): ExampleContent[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => ({ shape: 'chat', messages: (JSON.parse(l) as { messages: Array<{ role: 'user' | 'assistant'; content: string }> }).messages }));
}
