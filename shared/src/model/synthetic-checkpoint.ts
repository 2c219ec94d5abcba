import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultCacheDir } from './cache-dir.ts';
import { parseLlamaConfig, type Llama3RopeScaling, type ModelType } from './llama-config.ts';
import { expectedLlamaTensors, type ExpectedTensor } from './llama-tensors.ts';
import { writeSafetensors } from './safetensors-writer.ts';
import { TINY_TOKENIZER_VOCAB_SIZE, buildTinyTokenizer, buildTinyTokenizerConfig } from './tiny-tokenizer.ts';

export interface SyntheticLlamaSpec {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** At least the tiny tokenizer's size; ids past it are simply never produced. */
  vocabSize: number;
  tieWordEmbeddings: boolean;
  modelType?: ModelType;
  /** q/k/v biases (Llama: also o_proj, as HF's `attention_bias`). Qwen2 always has them; Mistral never. */
  attentionBias?: boolean;
  ropeScaling?: Llama3RopeScaling | null;
  maxPositionEmbeddings?: number;
  ropeTheta?: number;
  /** config.json `bos_token_id` (default 1, the tiny tokenizer's). */
  bosTokenId?: number;
  /** config.json `eos_token_id`: one id or a list, as Llama-3 instruct models ship (default 2). */
  eosTokenId?: number | number[];
  /** Tokenizer files to ship instead of the tiny tokenizer (e.g. a real model's). */
  tokenizer?: SyntheticTokenizerFiles;
  seed: number;
}

export interface SyntheticTokenizerFiles {
  /** tokenizer.json's text, written byte for byte. */
  tokenizerJson: string;
  tokenizerConfig: Record<string, unknown>;
}

export interface WriteCheckpointOptions {
  /** Called after each tensor is written (for progress on big checkpoints). */
  onTensor?: (name: string, index: number, total: number) => void;
}

const INIT_STD = 0.02;
const ARCHITECTURES: Record<ModelType, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
};

/** The `--model tiny` demo model: 119,872 parameters (tied), runs anywhere. */
export const TINY_MODEL_SPEC: Readonly<SyntheticLlamaSpec> = Object.freeze({
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: TINY_TOKENIZER_VOCAB_SIZE,
  tieWordEmbeddings: true,
  seed: 20240401,
});

/**
 * Benchmark model, Llama-2 shaped. Untied: 58,073,600 parameters (embedding 16,384,000 + 8 layers of
 * 3,163,136 + final norm 512 + lm_head 16,384,000); tied it would be 41,689,600 — untied is nearer 50M
 * and, like Llama-2, has a separate lm_head. About 232 MB as F32.
 */
export const BENCH_50M_SPEC: Readonly<SyntheticLlamaSpec> = Object.freeze({
  hiddenSize: 512,
  intermediateSize: 1376,
  numLayers: 8,
  numHeads: 8,
  numKvHeads: 8,
  vocabSize: 32000,
  tieWordEmbeddings: false,
  seed: 50_000_000,
});

/** The config.json value a spec describes. */
export function syntheticConfigJson(spec: SyntheticLlamaSpec): Record<string, unknown> {
  const modelType = spec.modelType ?? 'llama';
  const bias = spec.attentionBias ?? modelType === 'qwen2';
  if (modelType === 'qwen2' && !bias) throw new Error('qwen2 always has q/k/v biases: attentionBias cannot be false');
  if (modelType === 'mistral' && bias) throw new Error('mistral has no attention biases: attentionBias cannot be true');
  const tokenizerIds = spec.tokenizer ? tokenizerIdCount(spec.tokenizer.tokenizerJson) : TINY_TOKENIZER_VOCAB_SIZE;
  if (spec.vocabSize < tokenizerIds) {
    const which = spec.tokenizer ? 'given' : 'tiny';
    throw new Error(`vocabSize ${spec.vocabSize} is below the ${which} tokenizer's ${tokenizerIds} ids`);
  }
  const bos = spec.bosTokenId ?? 1;
  const eos = spec.eosTokenId ?? 2;
  for (const id of [bos, ...(Array.isArray(eos) ? eos : [eos])]) {
    if (!Number.isInteger(id) || id < 0 || id >= spec.vocabSize) throw new Error(`special token id ${id} is outside vocabSize ${spec.vocabSize}`);
  }
  const rs = spec.ropeScaling ?? null;
  return {
    architectures: [ARCHITECTURES[modelType]],
    model_type: modelType,
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    head_dim: spec.hiddenSize / spec.numHeads,
    vocab_size: spec.vocabSize,
    max_position_embeddings: spec.maxPositionEmbeddings ?? 2048,
    rms_norm_eps: 1e-5,
    rope_theta: spec.ropeTheta ?? 10000,
    rope_scaling: rs && {
      rope_type: 'llama3',
      factor: rs.factor,
      low_freq_factor: rs.lowFreqFactor,
      high_freq_factor: rs.highFreqFactor,
      original_max_position_embeddings: rs.originalMaxPositionEmbeddings,
    },
    hidden_act: 'silu',
    ...(modelType === 'llama' ? { attention_bias: bias, mlp_bias: false } : {}),
    ...(modelType === 'mistral' ? { sliding_window: null } : {}),
    ...(modelType === 'qwen2' ? { use_sliding_window: false, sliding_window: null } : {}),
    initializer_range: INIT_STD,
    tie_word_embeddings: spec.tieWordEmbeddings,
    bos_token_id: bos,
    eos_token_id: eos,
    use_cache: true,
    torch_dtype: 'float32',
  };
}

/** Ids a tokenizer.json can produce: one past the largest of its vocabulary and added tokens. */
export function tokenizerIdCount(tokenizerJson: string): number {
  const json = JSON.parse(tokenizerJson) as { model?: { vocab?: unknown }; added_tokens?: Array<{ id: number }> };
  let max = -1;
  const vocab = json.model?.vocab;
  // BPE/WordPiece keep a token → id map; Unigram a list of [piece, score].
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) max = Math.max(max, id as number);
  for (const t of json.added_tokens ?? []) max = Math.max(max, t.id);
  return max + 1;
}

function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Normal-like values (mean 0, sd `std`) from mulberry32. A sum of four 16-bit uniforms (Irwin–Hall)
 * stands in for Box–Muller: integer arithmetic only, so the bytes are the same on every machine.
 */
function fillNormalLike(out: Float32Array, seed: number, mean: number, std: number): void {
  // Sum of four uniforms on [0, 65535]: mean 131070, variance 4 * (65536² - 1) / 12.
  const scale = std / Math.sqrt((4 * (65536 * 65536 - 1)) / 12);
  let a = seed | 0;
  const n = out.length;
  // Two mulberry32 draws per value, inlined and kept in int32 (a closure call per draw is 3x slower).
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = ((t + Math.imul(t ^ (t >>> 7), 61 | t)) | 0) ^ t;
    t ^= t >>> 14;
    a = (a + 0x6d2b79f5) | 0;
    let u = Math.imul(a ^ (a >>> 15), 1 | a);
    u = ((u + Math.imul(u ^ (u >>> 7), 61 | u)) | 0) ^ u;
    u ^= u >>> 14;
    out[i] = mean + ((t & 0xffff) + (t >>> 16) + (u & 0xffff) + (u >>> 16) - 131070) * scale;
  }
}

function tensorSeed(spec: SyntheticLlamaSpec, name: string): number {
  const hi = Math.floor(spec.seed / 2 ** 32) >>> 0;
  return fnv1a(name, (spec.seed >>> 0) ^ Math.imul(hi, 0x9e3779b1));
}

function makeTensor(spec: SyntheticLlamaSpec, t: ExpectedTensor): Float32Array {
  const data = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  const seed = tensorSeed(spec, t.name);
  if (t.role === 'norm') fillNormalLike(data, seed, 1, INIT_STD);
  else fillNormalLike(data, seed, 0, INIT_STD);
  return data;
}

/**
 * Writes a random Llama-family checkpoint (config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json) into `dir`. One tensor is in memory at a time; same spec → same bytes.
 */
export async function writeRandomLlamaCheckpoint(dir: string, spec: SyntheticLlamaSpec, options: WriteCheckpointOptions = {}): Promise<void> {
  const configJson = syntheticConfigJson(spec);
  const config = parseLlamaConfig(configJson, 'synthetic config.json');
  const tensors = expectedLlamaTensors(config);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(configJson, null, 2)}\n`);
  const tokenizerJson = spec.tokenizer?.tokenizerJson ?? `${JSON.stringify(buildTinyTokenizer(), null, 2)}\n`;
  await writeFile(join(dir, 'tokenizer.json'), tokenizerJson);
  const tokenizerConfig = spec.tokenizer?.tokenizerConfig ?? buildTinyTokenizerConfig({ modelMaxLength: config.maxPositionEmbeddings });
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(tokenizerConfig, null, 2)}\n`);
  await writeSafetensors(
    join(dir, 'model.safetensors'),
    tensors.map((t, index) => ({
      name: t.name,
      shape: t.shape,
      data: () => {
        const data = makeTensor(spec, t);
        options.onTensor?.(t.name, index, tensors.length);
        return data;
      },
    })),
    { format: 'pt' },
  );
}

// Bump when the generator's output changes, so cached demo models are rebuilt.
const GENERATOR_VERSION = 1;

/** Writes the tiny demo model once under `<cacheDir>/models/tiny-<hash>` and returns that folder. */
export async function ensureTinyModel(cacheDir: string = defaultCacheDir()): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify({ v: GENERATOR_VERSION, spec: TINY_MODEL_SPEC })).digest('hex');
  const dir = join(cacheDir, 'models', `tiny-${key.slice(0, 12)}`);
  if (await exists(join(dir, 'model.safetensors'))) return dir;
  // Build beside it and rename, so a half-written folder is never taken for a finished one.
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeRandomLlamaCheckpoint(tmp, TINY_MODEL_SPEC);
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    // Another process may have finished first.
    if (!(await exists(join(dir, 'model.safetensors')))) throw err;
  }
  return dir;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
