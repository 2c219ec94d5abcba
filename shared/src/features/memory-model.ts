import type { LlamaConfig } from '../model/llama-config.ts';
import type { AttentionMode } from '../graph/autodiff/attention-mode.ts';
import { attentionBlockRows } from '../graph/autodiff/attention-plan.ts';
import { countParameters } from '../model/llama-tensors.ts';

/**
 * The memory a feature session needs, in bytes, as a function of the model and the batch:
 *
 *   process ≈ BASE + weights × copies + Σ over sessions of examples × (T × perToken + T × rows(T) × attentionPair + perExample)
 *
 * where rows(T) is T when attention stores its probabilities and the block size when it recomputes them.
 *
 * - weights: parameter count × the compute type's size (tied embeddings once). One copy when the
 *   session maps the graph's data file without pre-packing; pre-packing keeps up to PREPACK_COPIES more.
 * - perToken: what one token keeps alive between the forward and the backward (every layer's
 *   linear inputs, norms in float32, q/k/v, the SwiGLU products) plus the float32 logits and their
 *   gradient at that token: L·(cD·D + cKV·kv + cI·I)·bytes + cV·V·4.
 * - attentionPair: 'stored' attention keeps each layer's probabilities, T² per head, for the
 *   backward; 'recomputed' keeps no T×T tensor between layers, but one layer's current block of
 *   rows(T) ≤ MAX_BLOCK_ROWS query rows scores every key: a few [heads, rows, T] float32 tensors
 *   (linear in T past 4 full blocks).
 * - perExample: the gradient feature vector and the direction layers' states (2·L·D), float32,
 *   each a graph output plus its copy handed back.
 *
 * The coefficients are fitted to peak RSS measured on three model shapes (`npm run bench -- --only
 * memory-model` checks them); onnxruntime's arena adds slack that ARENA_SLACK covers.
 */
export interface FeatureMemoryModel {
  dtype: 'float32' | 'float16';
  weightBytes: number;
  perTokenBytes: number;
  attention: AttentionMode;
  /** Bytes per (query row, key) of one example: all heads of every layer if stored, of one layer's current block if recomputed. */
  attentionPairBytes: number;
  perExampleBytes: number;
}

/** Node, onnxruntime and the tokenizer, before any model: measured ~250–320 MiB. */
export const BASE_PROCESS_BYTES = 320 * 2 ** 20;
/**
 * Pre-packed MatMul copies of each weight beyond the mapped one (forward and backward each pack
 * their own): measured +0.72× the weights on the 58M model, +1.53× on the 1B-shaped one.
 */
export const PREPACK_COPIES = 1.6;
/** The arena rounds blocks up and keeps them: headroom on top of the estimate. */
export const ARENA_SLACK = 1.25;

/** Kept values per token per layer, in units of each dimension (fitted, see above). */
const PER_LAYER = { hidden: 14, kv: 6, intermediate: 6 } as const;
/** float32 values per token per vocabulary entry: logits, softmax and their gradient. */
const PER_VOCAB = 3;
/**
 * Stored: bytes per (query, key) pair per head per layer in float32: the kept probabilities (causal
 * blocks skip about 3/8 of them) and the scores and their gradient while a layer's backward runs.
 * Fitted: 58M and 1B-shaped checkpoints at 256 and 1024 tokens both give 14–15.
 */
const STORED_PAIR_BYTES_FLOAT32 = 14;
/**
 * Recomputed: float32 bytes per (block row, key) per head: the backward's scores, probabilities,
 * their gradient and the causal-masked sum, alive together within one Loop iteration.
 */
const RECOMPUTED_PAIR_BYTES_PER_HEAD = 16;
/**
 * Recomputed: per-token memory measured 1.5–1.6× the stored mode's fitted coefficients (58M and
 * 1B-shaped at 2048 tokens, an attention-heavy shape at 4096–8192; BENCHMARKS.md). Not pinned to
 * one tensor: the Loops' per-iteration buffers and onnxruntime's arena growth on the larger
 * tensors are the candidates. Fitted, so long-context plans stay within the budget.
 */
const RECOMPUTED_TOKEN_FACTOR = 1.6;
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
export function featureMemoryModel(
  config: LlamaConfig,
  dtype: 'float32' | 'float16',
  gradientDim: number,
  device: 'cpu' | 'gpu',
  attention: AttentionMode,
  directionLayerCount = 0,
): FeatureMemoryModel {
  const b = dtypeBytes(dtype);
  const weightBytesPerParam = dtype === 'float16' && device === 'cpu' ? CPU_FLOAT16_BYTES_PER_PARAM : b;
  const kv = config.numKvHeads * config.headDim;
  const perLayer = PER_LAYER.hidden * config.hiddenSize + PER_LAYER.kv * kv + PER_LAYER.intermediate * config.intermediateSize;
  return {
    dtype,
    weightBytes: countParameters(config) * weightBytesPerParam,
    perTokenBytes: (config.numLayers * perLayer * b + PER_VOCAB * config.vocabSize * 4) * (attention === 'recomputed' ? RECOMPUTED_TOKEN_FACTOR : 1),
    attention,
    attentionPairBytes:
      attention === 'stored' ? config.numLayers * config.numHeads * STORED_PAIR_BYTES_FLOAT32 * (b / 4) : config.numHeads * RECOMPUTED_PAIR_BYTES_PER_HEAD,
    perExampleBytes: 2 * (gradientDim + 2 * directionLayerCount * config.hiddenSize) * 4,
  };
}

/**
 * One session's working memory for a batch of `examples` holding `tokens` padded tokens, none
 * longer than `longest` (a batch is padded to its longest, so every row has its block size).
 */
export function batchBytes(model: FeatureMemoryModel, examples: number, tokens: number, longest: number): number {
  return tokens * perPaddedTokenBytes(model, longest) + examples * model.perExampleBytes;
}

/** Working memory per padded token of a batch whose rows are `longest` tokens. */
export function perPaddedTokenBytes(model: FeatureMemoryModel, longest: number): number {
  const rows = model.attention === 'stored' ? longest : attentionBlockRows(longest);
  return model.perTokenBytes + rows * model.attentionPairBytes;
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
