/** Seeded random corpus items, score rows and anchor features for the codec round-trip tests. */
import type { CorpusItem, ExampleContent } from '../../../shared/src/corpus/example.ts';
import type { RankedEntry } from '../../../shared/src/scoring/ranked-entry.ts';
import type { AnchorSetSpec } from '../../../shared/src/scoring/anchor-sets.ts';

export type Rand = () => number;

export { rng } from '../scoring/random.ts';

export const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const PIECES = [
  '', 'a', 'Hello, world. ', 'ünïcødé', '日本語のテキスト', '🙂👩‍👩‍👧', 'e\u0301', '"quoted"\n\ttab\r\n', 'مرحبا', '\\', '\u0000nul',
  '{"shape":"alpaca"}', '$num', '{"$num":"NaN"}', 'NaN', ' ', '\u2028\u2029', '\uFEFFbom', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
];

/** Well-formed text (no lone surrogates) from empty to a few KB. */
export function text(r: Rand): string {
  const parts = int(r, 0, 4);
  let s = '';
  for (let i = 0; i < parts; i++) s += pick(r, PIECES);
  if (r() < 0.05) s += 'x'.repeat(int(r, 1000, 5000));
  return s;
}

export function content(r: Rand): ExampleContent {
  switch (int(r, 0, 3)) {
    case 0: return { shape: 'alpaca', instruction: text(r), input: text(r), output: text(r) };
    case 1: return { shape: 'dolly', instruction: text(r), context: text(r), response: text(r) };
    case 2: return { shape: 'gsm8k', question: text(r), answer: text(r) };
    default: return {
      shape: 'chat',
      messages: Array.from({ length: int(r, 0, 5) }, () => ({ role: pick(r, ['system', 'user', 'assistant'] as const), content: text(r) })),
    };
  }
}

export function corpusItem(r: Rand, source: string, row: number): CorpusItem {
  if (r() < 0.2) return { kind: 'error', error: { source, row: r() < 0.2 ? -1 : row, reason: text(r) } };
  const id = Array.from({ length: 16 }, () => int(r, 0, 15).toString(16)).join('');
  return { kind: 'example', example: { id, source, row, content: content(r) } };
}

export function corpusItems(r: Rand, n: number): CorpusItem[] {
  const sources = ['data/a.jsonl', 's3://bucket/corpus/part-00001.parquet', 'données/ünï.json', ''];
  let row = int(r, 0, 2 ** 40);
  return Array.from({ length: n }, () => corpusItem(r, pick(r, sources), row++));
}

/** A double that is often special: NaN, ±Infinity, -0, 0, tiny, huge, or plain. */
export function score(r: Rand): number {
  switch (int(r, 0, 9)) {
    case 0: return Number.NaN;
    case 1: return Number.POSITIVE_INFINITY;
    case 2: return Number.NEGATIVE_INFINITY;
    case 3: return -0;
    case 4: return 0;
    case 5: return Number.MIN_VALUE * int(r, 1, 100);
    case 6: return Number.MAX_VALUE / int(r, 1, 100);
    default: return (r() * 2 - 1) * 10 ** int(r, -8, 8);
  }
}

export function rankedEntry(r: Rand): RankedEntry {
  return {
    score: score(r), id: text(r), source: text(r), row: int(r, 0, 2 ** 50),
    repScore: score(r), gradScore: score(r), promptPreview: text(r), responsePreview: text(r),
  };
}

export function anchorSpecs(r: Rand, n: number): AnchorSetSpec[] {
  return Array.from({ length: n }, (_, i) => {
    const role = i === 0 || r() < 0.5 ? 'harmful' : 'safe';
    return { name: `${role}${i + 1}`, role, weight: r() < 0.3 ? score(r) : role === 'harmful' ? 1 : -1, source: text(r) || `anchors/${i}.jsonl` };
  });
}

/** Float32 values from random bit patterns: NaNs with payloads, denormals, ±0 and ±Infinity included. */
export function randomBitsVector(r: Rand, n: number): Float32Array {
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = (r() * 2 ** 32) >>> 0;
  const special = [0x7fc00001, 0xffc12345, 0x7f800001, 0x80000000, 0x00000001, 0x7f800000, 0xff800000];
  for (let i = 0; i < Math.min(n, special.length); i++) if (r() < 0.5) bits[int(r, 0, n - 1)] = special[i]!;
  return new Float32Array(bits.buffer);
}
