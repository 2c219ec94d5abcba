/** The paper's data files the replication uses (../shared/fixtures/data), read and split with a seed. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../../shared/src/report/sampling.ts';

export interface AlpacaRow { instruction: string; input: string; output: string }
export interface DollyRow { instruction: string; context: string; response: string; category?: string }
export interface Gsm8kRow { question: string; answer: string }

export const FIXTURE_FILES = {
  alpaca: 'alpaca/alpaca_data_safety_only.json',
  dolly: 'dolly/databricks-dolly-15k-safety-only.jsonl',
  gsm8kTest: 'gsm8k/gsm8k_test.jsonl',
  harmful: 'eval/harmful_behaviors.csv',
} as const;

const jsonLines = <T>(path: string): T[] =>
  readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);

/** One-column CSV without a header (AdvBench goals as the paper ships them): quoted fields may hold commas and "". */
export function readOneColumnCsv(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const rows: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const close = text.indexOf('"', i);
        if (close < 0) throw new Error(`${path}: unterminated quote`);
        field += text.slice(i, close);
        i = close + 1;
        if (text[i] === '"') {
          field += '"';
          i++;
        } else break;
      }
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
    } else {
      const end = text.indexOf('\n', i);
      field = text.slice(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end + 1;
    }
    rows.push(field.replace(/\r$/, ''));
  }
  return rows;
}

export interface FixtureData {
  alpaca: AlpacaRow[];
  dolly: DollyRow[];
  gsm8kTest: Gsm8kRow[];
  harmful: string[];
}

export function readFixtureData(dataDir: string): FixtureData {
  return {
    alpaca: JSON.parse(readFileSync(join(dataDir, FIXTURE_FILES.alpaca), 'utf8')) as AlpacaRow[],
    dolly: jsonLines<DollyRow>(join(dataDir, FIXTURE_FILES.dolly)),
    gsm8kTest: jsonLines<Gsm8kRow>(join(dataDir, FIXTURE_FILES.gsm8kTest)),
    harmful: readOneColumnCsv(join(dataDir, FIXTURE_FILES.harmful)),
  };
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, random: SeededRandom): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.below(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Row indices split in two: `heldOut` rows (a seeded sample) and the rest, each in file order. */
export function splitRows(n: number, heldOut: number, random: SeededRandom): { train: number[]; heldOut: number[] } {
  const order = permutation(n, random);
  const byRow = (a: number, b: number) => a - b;
  return { heldOut: order.slice(0, heldOut).sort(byRow), train: order.slice(heldOut).sort(byRow) };
}

/** A 32-bit seed from a text, so that each split has its own stream (FNV-1a). */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
