import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultCacheDir } from '../model/cache-dir.ts';

export interface CachedGraph {
  /** Path to the .onnx file; its external weights sit next to it. */
  modelPath: string;
  /** True when this call built the graph (false: reused from the cache). */
  built: boolean;
}

/**
 * Returns the graph for `key` (model fingerprint + options + builder version), building it once.
 * Graphs are built in a temporary folder and renamed into place, so a crash never leaves a
 * half-written graph under its final name.
 */
export async function cachedGraph(
  key: Record<string, unknown>,
  build: (dataPath: string) => Promise<Uint8Array>,
  root = join(defaultCacheDir(), 'graphs'),
): Promise<CachedGraph> {
  const digest = createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32);
  const folder = join(root, digest);
  const modelPath = join(folder, 'graph.onnx');
  if (existsSync(modelPath)) return { modelPath, built: false };

  const staging = `${folder}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    const model = await build(join(staging, 'graph.onnx.data'));
    await writeFile(join(staging, 'graph.onnx'), model);
    await writeFile(join(staging, 'key.json'), JSON.stringify(key, null, 2));
    await rename(staging, folder).catch(async (error: NodeJS.ErrnoException) => {
      // Another process built it first: theirs is as good as ours.
      if (!existsSync(modelPath)) throw error;
      await rm(staging, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return { modelPath, built: true };
}
