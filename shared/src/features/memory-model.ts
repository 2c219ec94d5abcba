import type { LlamaConfig } from '../model/llama-config.ts';
import { countParameters } from '../model/llama-tensors.ts';

/**
 * The memory a feature session needs, in bytes, as a function of the model and the batch:
 *
 *   process ≈ BASE + weights × copies + Σ over sessions of examples × (T × perToken + T² × perTokenPair + perExample)
 *
 * - weights: parameter count × the compute type's size (tied embeddings once). One copy when the
 *   session maps the graph's data file without pre-packing; pre-packing keeps ~PREPACK_COPIES more.
 * - perToken: what one token keeps alive between the forward and the backward (every layer's
 *   linear inputs, norms in float32, q/k/v, the SwiGLU products) plus the float32 logits and their
 *   gradient at that token: L·(cD·D + cKV·kv + cI·I)·bytes + cV·V·4.
 * - perTokenPair: attention keeps each layer's probabilities, T² per head, for the backward.
 * - perExample: the gradient feature vector (float32, graph output + its copy handed back).
 *
 * The coefficients are fitted to peak RSS measured on three model shapes (`npm run bench -- --only
 * memory-model` checks them); onnxruntime's arena adds slack that ARENA_SLACK covers.
 */
export interface FeatureMemoryModel {
  weightBytes: number;
  perTokenBytes: number;
  /** Attention keeps each layer's softmax probabilities for the backward: this × T² per example. */
  perTokenPairBytes: number;
  perExampleBytes: number;
}

/** Node, onnxruntime and the tokenizer, before any model: measured ~250–320 MiB. */
export const BASE_PROCESS_BYTES = 320 * 2 ** 20;
/** Pre-packed MatMul copies of each weight (forward and backward each pack their own). */
export const PREPACK_COPIES = 0.8;
/** The arena rounds blocks up and keeps them: headroom on top of the estimate. */
export const ARENA_SLACK = 1.25;

/** Kept values per token per layer, in units of each dimension (fitted, see above). */
const PER_LAYER = { hidden: 14, kv: 6, intermediate: 6 } as const;
/** float32 values per token per vocabulary entry: logits, softmax and their gradient. */
const PER_VOCAB = 3;
/**
 * Bytes per (query, key) pair per head per layer in float32: the kept probabilities (causal blocks
 * skip about 3/8 of them) and the scores and their gradient while a layer's backward runs. Fitted:
 * 58M and 1B-shaped checkpoints at 256 and 1024 tokens both give 14–15.
 */
const PER_TOKEN_PAIR_FLOAT32 = 14;
/** A float16 graph on the CPU holds two float32 casts of each weight besides it (measured 1B-shaped: 10–11 bytes/parameter in all). */
const CPU_FLOAT16_BYTES_PER_PARAM = 2 + 2 * 4;

export function dtypeBytes(dtype: 'float32' | 'float16'): number {
  return dtype === 'float16' ? 2 : 4;
}

/**
 * The memory model of `config`'s feature graph. On the CPU provider a float16 graph also holds a
 * float32 copy of each weight: onnxruntime's CPU kernels lack half precision for most of our ops,
 * so it casts around them and folds the casts of constant weights (measured: more memory and
 * slower than float32 there; float16 is for GPUs).
 */
export function featureMemoryModel(config: LlamaConfig, dtype: 'float32' | 'float16', gradientDim: number, device: 'cpu' | 'gpu'): FeatureMemoryModel {
  const b = dtypeBytes(dtype);
  const weightBytesPerParam = dtype === 'float16' && device === 'cpu' ? CPU_FLOAT16_BYTES_PER_PARAM : b;
  const kv = config.numKvHeads * config.headDim;
  const perLayer = PER_LAYER.hidden * config.hiddenSize + PER_LAYER.kv * kv + PER_LAYER.intermediate * config.intermediateSize;
  return {
    weightBytes: countParameters(config) * weightBytesPerParam,
    perTokenBytes: config.numLayers * perLayer * b + PER_VOCAB * config.vocabSize * 4,
    perTokenPairBytes: config.numLayers * config.numHeads * PER_TOKEN_PAIR_FLOAT32 * (b / 4),
    perExampleBytes: 2 * gradientDim * 4,
  };
}

/**
 * One session's working memory for a batch of `examples` holding `tokens` padded tokens, none
 * longer than `longest`: attention's Σ T² is at most tokens × longest.
 */
export function batchBytes(model: FeatureMemoryModel, examples: number, tokens: number, longest: number): number {
  return tokens * (model.perTokenBytes + longest * model.perTokenPairBytes) + examples * model.perExampleBytes;
}

export interface SessionLayout {
  sessions: number;
  prepack: boolean;
  /** Examples per batch and padded tokens per batch (examples × longest). */
  batchExamples: number;
  batchTokens: number;
  /** The longest example a batch may hold (--max-tokens). */
  longestTokens: number;
}

/** Estimated peak of the whole process (host memory on the CPU; device memory less BASE on a GPU). */
export function estimatePeakBytes(model: FeatureMemoryModel, layout: SessionLayout, device: 'cpu' | 'gpu'): number {
  const copies = device === 'cpu' ? layout.sessions * (1 + (layout.prepack ? PREPACK_COPIES : 0)) : 1;
  const working = layout.sessions * batchBytes(model, layout.batchExamples, layout.batchTokens, layout.longestTokens) * ARENA_SLACK;
  return (device === 'cpu' ? BASE_PROCESS_BYTES : 0) + model.weightBytes * copies + working;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}
