import { readFile } from 'node:fs/promises';
import { dirname, join, relative, isAbsolute } from 'node:path';
import { z } from 'zod';
import { ModelError } from '../errors.ts';
import { SafetensorsFile, type TensorInfo, type TensorSource } from './safetensors.ts';

const indexSchema = z.looseObject({
  metadata: z.looseObject({}).nullish(),
  weight_map: z.record(z.string(), z.string()),
});

/** A sharded checkpoint: `model.safetensors.index.json` maps each tensor name to its shard file. */
export class ShardedSafetensors implements TensorSource {
  private constructor(
    readonly indexPath: string,
    /** Shard file paths, sorted, each once. */
    readonly shardPaths: string[],
    private readonly shards: Map<string, SafetensorsFile>,
    private readonly weightMap: Map<string, string>,
  ) {}

  static async open(indexPath: string): Promise<ShardedSafetensors> {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (err) {
      throw new ModelError(`${indexPath}: cannot read index (${(err as Error).message})`, { cause: err });
    }
    const parsed = indexSchema.safeParse(json);
    if (!parsed.success) throw new ModelError(`${indexPath}: expected an object with a weight_map of tensor name → shard file`);
    const dir = dirname(indexPath);
    const weightMap = new Map<string, string>();
    for (const [name, file] of Object.entries(parsed.data.weight_map)) {
      const path = join(dir, file);
      // Shards must live beside the index: a weight_map must not point elsewhere on disk.
      const rel = relative(dir, path);
      if (rel.startsWith('..') || isAbsolute(rel)) throw new ModelError(`${indexPath}: shard '${file}' for '${name}' is outside the checkpoint folder`);
      weightMap.set(name, path);
    }
    const shardPaths = [...new Set(weightMap.values())].sort();
    const shards = new Map<string, SafetensorsFile>();
    try {
      for (const path of shardPaths) shards.set(path, await SafetensorsFile.open(path));
      for (const [name, path] of weightMap) {
        if (!shards.get(path)!.has(name)) throw new ModelError(`${indexPath}: weight_map puts '${name}' in ${path}, which does not hold it`);
      }
    } catch (err) {
      await Promise.all([...shards.values()].map((s) => s.close()));
      throw err;
    }
    return new ShardedSafetensors(indexPath, shardPaths, shards, weightMap);
  }

  tensorNames(): string[] {
    return [...this.weightMap.keys()];
  }

  private shardOf(name: string): SafetensorsFile {
    const path = this.weightMap.get(name);
    if (path === undefined) throw new ModelError(`${this.indexPath}: no tensor named '${name}'`);
    return this.shards.get(path)!;
  }

  info(name: string): TensorInfo {
    return this.shardOf(name).info(name);
  }

  async readFloat32(name: string): Promise<Float32Array> {
    return this.shardOf(name).readFloat32(name);
  }

  async close(): Promise<void> {
    await Promise.all([...this.shards.values()].map((s) => s.close()));
  }
}
