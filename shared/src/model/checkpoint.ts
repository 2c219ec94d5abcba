import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelError } from '../errors.ts';
import { fingerprintFiles, type FingerprintFile } from './fingerprint.ts';
import { readLlamaConfig, type LlamaConfig } from './llama-config.ts';
import { EMBED_TOKENS, LM_HEAD, expectedLlamaTensors } from './llama-tensors.ts';
import { SafetensorsFile, type TensorSource } from './safetensors.ts';
import { ShardedSafetensors } from './safetensors-index.ts';

export interface CheckpointFiles {
  config: string;
  tokenizer: string;
  tokenizerConfig: string | null;
  /** Its eos ids end templated answers (prompt/model-tokenizer-files.ts), so it is fingerprinted too. */
  generationConfig: string | null;
  /** `model.safetensors.index.json` of a sharded checkpoint, else null. */
  index: string | null;
  /** The .safetensors files, sorted. */
  weights: string[];
}

/** A Hugging Face Llama-family checkpoint folder, checked against its config on open. */
export interface Checkpoint {
  /** Absolute path of the folder. */
  dir: string;
  config: LlamaConfig;
  files: CheckpointFiles;
  /** Stored tensor names, plus `lm_head.weight` when it is tied to the embedding and not stored. */
  tensorNames(): string[];
  readTensor(name: string): Promise<Float32Array>;
  tensorShape(name: string): number[];
  /** sha256 hex over the config, tokenizer files and weight bytes. */
  fingerprint: string;
  close(): Promise<void>;
}

export interface OpenCheckpointOptions {
  /** Holds the fingerprint memo; default `$SAFESIFT_CACHE_DIR` or `~/.cache/safesift`. */
  cacheDir?: string;
}

const EXPECTED_FILES = 'expected config.json, tokenizer.json and model.safetensors or model.safetensors.index.json';

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function locateFiles(dir: string): Promise<CheckpointFiles> {
  let dirStat;
  try {
    dirStat = await stat(dir);
  } catch {
    throw new ModelError(`${dir}: checkpoint folder not found; ${EXPECTED_FILES} in it`);
  }
  if (!dirStat.isDirectory()) throw new ModelError(`${dir}: not a folder; a checkpoint is a folder with ${EXPECTED_FILES.slice('expected '.length)}`);
  const config = join(dir, 'config.json');
  const tokenizer = join(dir, 'tokenizer.json');
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const missing: string[] = [];
  if (!(await isFile(config))) missing.push('config.json');
  if (!(await isFile(tokenizer))) missing.push('tokenizer.json');
  const hasIndex = await isFile(index);
  const hasSingle = !hasIndex && (await isFile(single));
  if (!hasIndex && !hasSingle) missing.push('model.safetensors (or model.safetensors.index.json)');
  if (missing.length > 0) throw new ModelError(`${dir}: missing ${missing.join(', ')}; ${EXPECTED_FILES}`);
  const optional = async (name: string): Promise<string | null> => ((await isFile(join(dir, name))) ? join(dir, name) : null);
  return {
    config,
    tokenizer,
    tokenizerConfig: await optional('tokenizer_config.json'),
    generationConfig: await optional('generation_config.json'),
    index: hasIndex ? index : null,
    weights: hasIndex ? [] : [single],
  };
}

function checkTensors(dir: string, config: LlamaConfig, source: TensorSource): boolean {
  const stored = new Set(source.tensorNames());
  let aliasLmHead = false;
  for (const t of expectedLlamaTensors(config)) {
    if (!stored.has(t.name)) throw new ModelError(`${dir}: weights lack tensor '${t.name}' (shape [${t.shape}]) that config.json implies`);
    const shape = source.info(t.name).shape;
    if (shape.length !== t.shape.length || shape.some((d, i) => d !== t.shape[i])) {
      throw new ModelError(`${dir}: tensor '${t.name}' has shape [${shape}], config.json implies [${t.shape}]`);
    }
  }
  if (config.tieWordEmbeddings) {
    if (stored.has(LM_HEAD)) {
      const shape = source.info(LM_HEAD).shape;
      const want = source.info(EMBED_TOKENS).shape;
      if (shape.join() !== want.join()) throw new ModelError(`${dir}: tied '${LM_HEAD}' has shape [${shape}], embedding has [${want}]`);
    } else {
      aliasLmHead = true;
    }
  }
  return aliasLmHead;
}

/** Opens a checkpoint folder: parses config.json, opens the weights, checks tensor shapes, fingerprints the files. */
export async function openCheckpoint(dir: string, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const absDir = resolve(dir);
  const files = await locateFiles(absDir);
  const config = await readLlamaConfig(files.config);
  let source: TensorSource;
  if (files.index) {
    const sharded = await ShardedSafetensors.open(files.index);
    files.weights = sharded.shardPaths;
    source = sharded;
  } else {
    source = await SafetensorsFile.open(files.weights[0]!);
  }
  try {
    const aliasLmHead = checkTensors(absDir, config, source);
    const resolveName = (name: string): string => (aliasLmHead && name === LM_HEAD ? EMBED_TOKENS : name);

    const toHash: FingerprintFile[] = [
      { label: 'config.json', path: files.config, memoise: false },
      { label: 'tokenizer.json', path: files.tokenizer, memoise: false },
    ];
    if (files.tokenizerConfig) toHash.push({ label: 'tokenizer_config.json', path: files.tokenizerConfig, memoise: false });
    if (files.generationConfig) toHash.push({ label: 'generation_config.json', path: files.generationConfig, memoise: false });
    if (files.index) toHash.push({ label: 'model.safetensors.index.json', path: files.index, memoise: false });
    for (const w of files.weights) toHash.push({ label: w.slice(absDir.length + 1), path: w, memoise: true });
    const fingerprint = await fingerprintFiles(toHash, options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir });

    const names = source.tensorNames();
    if (aliasLmHead) names.push(LM_HEAD);
    return {
      dir: absDir,
      config,
      files,
      fingerprint,
      tensorNames: () => [...names],
      tensorShape: (name) => [...source.info(resolveName(name)).shape],
      readTensor: async (name) => {
        const values = await source.readFloat32(resolveName(name));
        assertFiniteWeights(values, absDir, resolveName(name));
        return values;
      },
      close: () => source.close(),
    };
  } catch (err) {
    await source.close();
    throw err;
  }
}

/**
 * A NaN or infinite weight poisons every feature downstream, where it would be blamed on whatever
 * first divides by a norm (the anchors); stop here, naming the tensor. Checked once per graph
 * build (a cached graph's weights were checked when it was built).
 */
function assertFiniteWeights(values: Float32Array, dir: string, name: string): void {
  let bad = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    // x - x is 0 for every finite x, NaN for NaN and ±Infinity.
    if (values[i]! - values[i]! !== 0) {
      if (first < 0) first = i;
      bad++;
    }
  }
  if (bad > 0) {
    throw new ModelError(
      `${dir}: tensor '${name}' holds ${bad} non-finite value(s) (NaN or infinity; first at index ${first}): the checkpoint is corrupt, re-download or re-convert it`,
    );
  }
}
