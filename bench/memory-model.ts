import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FeatureMemoryModel } from '../shared/src/features/memory-model.ts';
import { defaultCacheDir } from '../shared/src/model/cache-dir.ts';
import { writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../shared/src/model/synthetic-checkpoint.ts';

/**
 * Llama-3.2-1B's shape (hidden 2048, MLP 8192, 32 heads over 8 KV heads, 128,256-token vocabulary,
 * tied embeddings, llama3 RoPE scaling) with 4 of its 16 layers: 505,960,448 parameters, 1.9 GiB
 * in float32 — as large as this 24 GiB machine audits comfortably.
 */
export const BENCH_1B_SHAPED_SPEC: Readonly<SyntheticLlamaSpec> = Object.freeze({
  hiddenSize: 2048,
  intermediateSize: 8192,
  numLayers: 4,
  numHeads: 32,
  numKvHeads: 8,
  vocabSize: 128256,
  tieWordEmbeddings: true,
  ropeTheta: 500000,
  maxPositionEmbeddings: 131072,
  ropeScaling: { type: 'llama3' as const, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  seed: 1_000_000_000,
});

/** The 1B-shaped checkpoint (random weights) in the cache, as `name`; `overrides` e.g. give it a real tokenizer and its special ids. */
export async function benchModel1bShaped(name = 'bench-1b-shaped-v1', overrides: Partial<SyntheticLlamaSpec> = {}): Promise<string> {
  const dir = join(defaultCacheDir(), 'models', name);
  if (!existsSync(join(dir, 'model.safetensors'))) {
    console.error(`  writing ${name} (1.9 GiB)…`);
    await writeRandomLlamaCheckpoint(dir, { ...BENCH_1B_SHAPED_SPEC, ...overrides });
  }
  return dir;
}

export interface MemoryModelPoint {
  model: string;
  dtype: 'float32' | 'float16';
  tokens: number;
  examples: number;
  threads: number;
}

export interface MemoryModelRow extends MemoryModelPoint {
  peakRssBytes: number;
  estimatedPeakBytes: number;
  memory: FeatureMemoryModel;
  sessions: number;
  threadsPerSession: number;
  prepack: boolean;
  secondsPerBatch: number;
}

const CHILD = fileURLToPath(new URL('./memory-model-child.ts', import.meta.url));

/** Each point in a fresh process: measured peak RSS next to the memory model's estimate. */
export async function measureMemoryModel(points: Array<MemoryModelPoint & { dir: string }>, env: Record<string, string>): Promise<MemoryModelRow[]> {
  const rows: MemoryModelRow[] = [];
  for (const { dir, ...point } of points) {
    const args = ['--import', 'tsx', CHILD, dir, point.dtype, String(point.tokens), String(point.examples), String(point.threads)];
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 24 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out))),
    );
    const row = { ...point, ...(JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<MemoryModelRow, keyof MemoryModelPoint>) };
    console.error(`  ${point.model} ${point.dtype} T=${point.tokens} B=${point.examples} threads=${point.threads}: peak ${(row.peakRssBytes / 2 ** 30).toFixed(2)} GiB, model ${(row.estimatedPeakBytes / 2 ** 30).toFixed(2)} GiB`);
    rows.push(row);
  }
  return rows;
}
