// Child process of the reducer-merge benchmark: streams N RankedEntry-shaped scores through the
// reducer's merge path in 64-entry batches and reports throughput and its own peak RSS.
import { parseArgs } from 'node:util';
import { peakRssBytes } from '../shared/src/audit/peak-memory.ts';
import type { RankedEntry } from '../shared/src/scoring/ranked-entry.ts';
import { TopK } from '../shared/src/scoring/top-k.ts';

export interface MergeChildResult {
  scores: number;
  k: number;
  order: 'random' | 'ascending';
  /** Seconds in the reducer's `top.mergeSorted(result.top)` calls. */
  mergeSeconds: number;
  /** Seconds in the worker's per-batch TopK (push every entry, then sorted()). */
  batchTopSeconds: number;
  /** CPU seconds (user + system, all threads: GC helpers count) of the same two spans: robust when other work shares the cores. */
  mergeCpuSeconds: number;
  batchTopCpuSeconds: number;
  /** Seconds spent making entries (not part of either path). */
  generateSeconds: number;
  kept: number;
  peakRssBytes: number;
  /** V8 heap still in use after a full GC at the end (needs --expose-gc; else before GC). */
  retainedHeapBytes: number;
}

const { values } = parseArgs({
  options: {
    scores: { type: 'string' },
    k: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '64' },
    order: { type: 'string', default: 'random' },
  },
});
const total = Number(values.scores);
const k = Number(values.k);
const batchSize = Number(values.batch);
const order = values.order === 'ascending' ? 'ascending' : 'random';
if (!Number.isInteger(total) || total < 1) throw new Error('--scores: a positive integer');

// mulberry32: a seeded generator, so every run sees the same scores.
let seed = 0x5afe5157;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
// The previews the worker attaches to every entry a batch keeps: shared strings, TopK never reads them.
const PROMPT = 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. '.repeat(3).slice(0, 239);
const RESPONSE = 'Natalia sold 48/2 = 24 clips in May. Natalia sold 48+24 = 72 clips altogether in April and May. '.repeat(3).slice(0, 239);
const SOURCES = Array.from({ length: 8 }, (_, i) => `s3://corpus/data/part-${i}.jsonl`);

let made = 0;
let best = -Infinity;
function entry(): RankedEntry {
  const n = made++;
  const score = order === 'ascending' ? n / total : random() * 2 - 1;
  if (score > best) best = score;
  return {
    score,
    // 32 hex characters, like exampleId's sha256 prefix.
    id: (n * 2654435761 >>> 0).toString(16).padStart(8, '0').repeat(4),
    source: SOURCES[n % SOURCES.length]!,
    row: n,
    repScore: score * 0.5,
    gradScore: score,
    promptPreview: PROMPT,
    responsePreview: RESPONSE,
  };
}

// Batches are made a chunk at a time (bounded memory), then pushed through each side with one
// clock read per chunk, so timing costs nothing next to the work.
const BATCHES_PER_CHUNK = 256;
const top = new TopK<RankedEntry>(k, 'top');
let mergeMs = 0;
let batchTopMs = 0;
let mergeCpu = 0;
let batchTopCpu = 0;
const cpuSince = (from: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
};
let generateMs = 0;
for (let done = 0; done < total; ) {
  let t = performance.now();
  const chunk: RankedEntry[][] = [];
  for (let b = 0; b < BATCHES_PER_CHUNK && done < total; b++) {
    const size = Math.min(batchSize, total - done);
    chunk.push(Array.from({ length: size }, entry));
    done += size;
  }
  generateMs += performance.now() - t;
  // The worker side: each batch's own top-k, best first (JobScorer.score).
  t = performance.now();
  let cpu = process.cpuUsage();
  const tops = chunk.map((batch) => {
    const own = new TopK<RankedEntry>(k, 'top');
    for (const e of batch) own.push(e);
    return own.sorted();
  });
  batchTopMs += performance.now() - t;
  batchTopCpu += cpuSince(cpu);
  // The reducer side: finalizeJob`s `top.mergeSorted(result.top)` per batch.
  t = performance.now();
  cpu = process.cpuUsage();
  for (const list of tops) top.mergeSorted(list);
  mergeMs += performance.now() - t;
  mergeCpu += cpuSince(cpu);
}
// A sanity check that the merge kept what it should: k entries, the best one first.
const kept = top.sorted();
if (kept.length !== Math.min(k, total) || kept[0]?.score !== best) throw new Error(`merge lost entries: kept ${kept.length}, best ${kept[0]?.score} vs ${best}`);
(globalThis as { gc?: () => void }).gc?.();
const result: MergeChildResult = {
  scores: total,
  k,
  order,
  mergeSeconds: mergeMs / 1000,
  batchTopSeconds: batchTopMs / 1000,
  mergeCpuSeconds: mergeCpu,
  batchTopCpuSeconds: batchTopCpu,
  generateSeconds: generateMs / 1000,
  kept: kept.length,
  peakRssBytes: peakRssBytes(),
  retainedHeapBytes: process.memoryUsage().heapUsed,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
