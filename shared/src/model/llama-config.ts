import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ModelError } from '../errors.ts';

export type ModelType = 'llama' | 'mistral' | 'qwen2';

export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** A Hugging Face Llama-family config.json, normalised: defaults applied, unsupported features rejected. */
export interface LlamaConfig {
  modelType: ModelType;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections. */
  attentionBias: boolean;
  /** Bias on o_proj: Llama's `attention_bias` covers it, Qwen2's fixed q/k/v bias does not. */
  attentionOutputBias: boolean;
  mlpBias: boolean;
  bosTokenId: number | null;
  /** The first of `eosTokenIds`. */
  eosTokenId: number;
  eosTokenIds: number[];
  hiddenAct: 'silu';
  /** Active sliding-window size (Mistral `sliding_window`, Qwen2 with `use_sliding_window`), else null. Recorded, not applied. */
  slidingWindow: number | null;
  torchDtype: string | null;
}

const SUPPORTED_MODEL_TYPES: readonly ModelType[] = ['llama', 'mistral', 'qwen2'];

const posInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

// Loose: unknown keys are kept (HF configs carry many), only the fields we use are typed.
const rawSchema = z.looseObject({
  model_type: z.string(),
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt.nullish(),
  head_dim: posInt.nullish(),
  vocab_size: posInt,
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().nullish(),
  rope_scaling: z.looseObject({}).nullish(),
  max_position_embeddings: posInt,
  tie_word_embeddings: z.boolean().nullish(),
  attention_bias: z.boolean().nullish(),
  mlp_bias: z.boolean().nullish(),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId).min(1)]).nullish(),
  hidden_act: z.string().nullish(),
  sliding_window: posInt.nullish(),
  use_sliding_window: z.boolean().nullish(),
  torch_dtype: z.string().nullish(),
  quantization_config: z.looseObject({}).nullish(),
});

const llama3ScalingSchema = z.object({
  factor: z.number().positive(),
  low_freq_factor: z.number().positive(),
  high_freq_factor: z.number().positive(),
  original_max_position_embeddings: posInt,
});

function fail(source: string, message: string): never {
  throw new ModelError(`${source}: ${message}`);
}

function describeIssues(source: string, error: z.ZodError, prefix = ''): never {
  const issue = error.issues[0];
  const field = prefix + (issue?.path.map(String).join('.') ?? '');
  fail(source, `invalid ${field || 'value'}: ${issue?.message ?? 'unknown problem'}`);
}

function parseRopeScaling(source: string, raw: Record<string, unknown> | null | undefined): Llama3RopeScaling | null {
  if (raw == null) return null;
  // Newer configs say `rope_type`, older ones `type`.
  const key = 'rope_type' in raw ? 'rope_type' : 'type';
  const kind = raw[key];
  if (kind === 'default' || kind === undefined || kind === null) return null;
  if (kind !== 'llama3') fail(source, `unsupported rope_scaling.${key} ${quote(kind)} (supported: llama3)`);
  const parsed = llama3ScalingSchema.safeParse(raw);
  if (!parsed.success) describeIssues(source, parsed.error, 'rope_scaling.');
  const s = parsed.data;
  return {
    type: 'llama3',
    factor: s.factor,
    lowFreqFactor: s.low_freq_factor,
    highFreqFactor: s.high_freq_factor,
    originalMaxPositionEmbeddings: s.original_max_position_embeddings,
  };
}

/** Normalises a parsed config.json; `source` names the file in error messages. */
export function parseLlamaConfig(json: unknown, source = 'config.json'): LlamaConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(source, 'expected a JSON object');
  const modelType = (json as Record<string, unknown>)['model_type'];
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as ModelType)) {
    fail(source, `unsupported model_type ${quote(modelType)} (supported: ${SUPPORTED_MODEL_TYPES.join(', ')})`);
  }
  const parsed = rawSchema.safeParse(json);
  if (!parsed.success) describeIssues(source, parsed.error);
  const c = parsed.data;
  const type = c.model_type as ModelType;

  const hiddenAct = c.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') fail(source, `unsupported hidden_act ${quote(hiddenAct)} (supported: silu)`);
  if (c.quantization_config != null) {
    fail(source, `unsupported quantization_config (quant_method ${quote(c.quantization_config['quant_method'])}); only unquantised weights load`);
  }

  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    fail(source, `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  let headDim = c.head_dim;
  if (headDim == null) {
    if (c.hidden_size % numHeads !== 0) fail(source, `hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${numHeads}`);
    headDim = c.hidden_size / numHeads;
  }
  if (headDim % 2 !== 0) fail(source, `head_dim ${headDim} must be even for rotary embeddings`);

  const eosRaw = c.eos_token_id ?? (type === 'qwen2' ? null : 2);
  if (eosRaw == null) fail(source, 'missing eos_token_id');
  const eosTokenIds = Array.isArray(eosRaw) ? eosRaw : [eosRaw];

  let slidingWindow: number | null = null;
  if (type === 'mistral') slidingWindow = c.sliding_window ?? null;
  if (type === 'qwen2' && c.use_sliding_window === true) slidingWindow = c.sliding_window ?? null;

  const qwen = type === 'qwen2';
  const llamaBias = type === 'llama' && c.attention_bias === true;
  return {
    modelType: type,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: c.vocab_size,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta ?? 10000,
    ropeScaling: parseRopeScaling(source, c.rope_scaling),
    maxPositionEmbeddings: c.max_position_embeddings,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    attentionBias: qwen || llamaBias,
    attentionOutputBias: llamaBias,
    mlpBias: type === 'llama' && c.mlp_bias === true,
    bosTokenId: c.bos_token_id ?? (qwen ? null : 1),
    eosTokenId: eosTokenIds[0]!,
    eosTokenIds,
    hiddenAct: 'silu',
    slidingWindow,
    torchDtype: c.torch_dtype ?? null,
  };
}

/** Reads and normalises a config.json file. */
export async function readLlamaConfig(path: string): Promise<LlamaConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelError(`${path}: cannot read config (${(err as Error).message})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelError(`${path}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  return parseLlamaConfig(json, path);
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? 'undefined';
}
