import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCacheDir } from '../shared/src/model/cache-dir.ts';
import { countParameters } from '../shared/src/model/llama-tensors.ts';
import { readLlamaConfig } from '../shared/src/model/llama-config.ts';
import { writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../shared/src/model/synthetic-checkpoint.ts';

/** ~738M parameters, 2.95 GB of float32: over protobuf's 2 GB limit, so weights must go to external data. */
export const LARGE_SPEC: SyntheticLlamaSpec = {
  hiddenSize: 2048,
  intermediateSize: 5504,
  numLayers: 12,
  numHeads: 16,
  numKvHeads: 16,
  vocabSize: 32000,
  tieWordEmbeddings: false,
  seed: 2_000_000_000,
};

export interface LargeGraphResult {
  parameters: number;
  checkpointGiB: number;
  graphDataGiB: number;
  buildSeconds: number;
  builderPeakRssMiB: number;
}

const CHILD = fileURLToPath(new URL('./build-graph-child.ts', import.meta.url));

/** Builds the feature graph of a >2 GiB random checkpoint in a child process and reads its peak RSS. */
export async function measureLargeGraphBuild(): Promise<LargeGraphResult> {
  const dir = join(defaultCacheDir(), 'models', 'bench-large-v1');
  if (!existsSync(join(dir, 'model.safetensors'))) await writeRandomLlamaCheckpoint(dir, LARGE_SPEC);
  // A fresh graph cache every run: the point is to measure a cold build.
  const graphCache = mkdtempSync(join(tmpdir(), 'safesift-large-graph-'));
  const output = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', CHILD, dir, 'all', 'kron:64x128', graphCache], { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const child = JSON.parse(output) as { graph: string; seconds: number; peakRssMiB: number };
  const config = await readLlamaConfig(join(dir, 'config.json'));
  const graphDataBytes = statSync(`${child.graph}.data`).size;
  rmSync(graphCache, { recursive: true, force: true });
  return {
    parameters: countParameters(config),
    checkpointGiB: statSync(join(dir, 'model.safetensors')).size / 2 ** 30,
    graphDataGiB: graphDataBytes / 2 ** 30,
    buildSeconds: child.seconds,
    builderPeakRssMiB: child.peakRssMiB,
  };
}
