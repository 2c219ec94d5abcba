import { DiffGraph, type Value } from './autodiff/diff-graph.ts';
import type { AttentionMode } from './autodiff/attention-mode.ts';
import { BATCH } from './autodiff/shapes.ts';
import { emitGradientFeatures, emitSketch, gradientLayout } from './gradient-features.ts';
import type { LlamaConfig } from '../model/llama-config.ts';
import { emitLlamaForward, SEQ, type ForwardValues, type WeightSource } from './llama-forward.ts';
import { DType, OnnxGraph, type FloatType } from './onnx-graph.ts';
import { headParamKey, probedParams, type Probe } from './probes.ts';
import type { ProjectionSpec, SketchSpec } from './projection.ts';

/** Bump when the emitted graphs change, so cached graphs are rebuilt. */
export const GRAPH_BUILDER_VERSION = 6;

export interface FeatureGraphOptions {
  probe: Probe;
  projection: ProjectionSpec;
  /** Compute type: float16 halves weight memory for GPUs (norms, loss and outputs stay float32). */
  dtype?: 'float32' | 'float16';
  /** Optional CountSketch of the concatenated features to a fixed size (`--proj-dim`). */
  sketch?: SketchSpec | null;
  /** Also output logits [B,T,V] (parity tests only: large). */
  emitLogits?: boolean;
  /** Attention's backward: probabilities stored (default) or recomputed (long contexts). */
  attention?: AttentionMode;
  /**
   * Decoder layers (0-based, sorted, unique) whose residual states are output as `layer_states`
   * for the compliance direction (default none: then the graph is exactly the one without them).
   */
  directionLayers?: readonly number[];
}

/** Names of the graph's inputs and outputs: the contract with the runtime. */
export const FEATURE_IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  lossWeights: 'loss_weights',
  representation: 'representation',
  loss: 'loss',
  gradient: 'gradient',
  logits: 'logits',
  /** [B, 2·L, D] float32, per direction layer: the last prompt token's state, then the response mean. */
  layerStates: 'layer_states',
} as const;

/** Values per example before the optional sketch. */
export function projectedDimension(weights: WeightSource, options: Pick<FeatureGraphOptions, 'probe' | 'projection'>): number {
  return gradientLayout(probedParams(weights.config, options.probe), options.projection).reduce((n, l) => n + l.size, 0);
}

export function gradientDimension(weights: WeightSource, options: Pick<FeatureGraphOptions, 'probe' | 'projection' | 'sketch'>): number {
  return options.sketch ? options.sketch.dim : projectedDimension(weights, options);
}

/**
 * The feature graph: one forward over a right-padded batch, one backward from the per-example
 * losses, and per example
 * - representation: final-norm hidden state at the last real token,
 * - loss: Σ_t w_t CE(z_{t-1}, y_t) (weights sum to 1: the mean response loss),
 * - gradient: the per-example gradient of that loss w.r.t. the probed parameters, exact or
 *   projected in-graph per parameter (see gradient-features.ts),
 * - layer states (only with directionLayers): see emitLayerStates.
 */
export async function buildFeatureGraph(weights: WeightSource, options: FeatureGraphOptions, dataPath: string | null): Promise<Uint8Array> {
  const c = weights.config;
  const params = probedParams(c, options.probe);
  const wanted = new Set(params.map((p) => p.key));
  const g = new OnnxGraph('safesift_features', dataPath);
  const d = new DiffGraph(g, (key) => wanted.has(key));
  const computeType = options.dtype === 'float16' ? DType.float16 : DType.float;
  const ids = d.constant(g.input(FEATURE_IO.inputIds, DType.int64, [BATCH, SEQ]), [BATCH, SEQ], DType.int64);
  const mask = g.input(FEATURE_IO.attentionMask, DType.int64, [BATCH, SEQ]);
  const lossWeights = g.input(FEATURE_IO.lossWeights, DType.float, [BATCH, SEQ]);
  const directionLayers = checkDirectionLayers(options.directionLayers ?? [], c.numLayers);
  const { finalHidden, headWeight, residuals } = await emitLlamaForward(d, weights, ids, mask, computeType, options.attention ?? 'stored', directionLayers);
  const toFloat = (x: string) => (computeType === DType.float ? x : g.op('Cast', [x], { to: DType.float }));

  const loss = emitRepresentationAndLoss(d, c, { finalHidden, headWeight }, ids, mask, lossWeights, headParamKey(c, options.probe), computeType);

  const projected = emitGradientFeatures(g, params, d.backward(loss), options.projection, computeType);
  const gradient = options.sketch ? emitSketch(g, projected, projectedDimension(weights, options), options.sketch) : projected;
  g.output(gradient, FEATURE_IO.gradient, DType.float, [BATCH, gradientDimension(weights, options)]);

  // Emitted after everything else, and only when asked: the graph without layers stays byte-identical.
  if (residuals.length > 0) {
    const states = emitLayerStates(g, residuals.map((r) => r.name), lossWeights, computeType);
    g.output(toFloat(states), FEATURE_IO.layerStates, DType.float, [BATCH, 2 * residuals.length, c.hiddenSize]);
  }

  if (options.emitLogits) {
    const all = g.op('MatMul', [finalHidden.name, g.op('Transpose', [headWeight], { perm: [1, 0] })]);
    g.output(toFloat(all), FEATURE_IO.logits, DType.float, [BATCH, SEQ, c.vocabSize]);
  }
  const layerNote = residuals.length > 0 ? `, layer states of layers ${directionLayers.join(',')}` : '';
  return g.finish(`safesift feature graph v${GRAPH_BUILDER_VERSION}: representation, loss, ${options.probe} gradient${layerNote}`);
}

/** The plain forward (logits only) of the same model: the baseline the benchmarks compare against. */
export async function buildForwardGraph(weights: WeightSource, dataPath: string | null): Promise<Uint8Array> {
  const g = new OnnxGraph('safesift_forward', dataPath);
  const d = new DiffGraph(g, () => false);
  const ids = d.constant(g.input(FEATURE_IO.inputIds, DType.int64, [BATCH, SEQ]), [BATCH, SEQ]);
  const mask = g.input(FEATURE_IO.attentionMask, DType.int64, [BATCH, SEQ]);
  const { finalHidden, headWeight } = await emitLlamaForward(d, weights, ids, mask);
  const logits = d.linear(finalHidden, 'lm_head.weight', headWeight, weights.config.vocabSize, weights.config.hiddenSize);
  g.output(logits.name, FEATURE_IO.logits, DType.float, [BATCH, SEQ, weights.config.vocabSize]);
  return g.finish(`safesift forward graph v${GRAPH_BUILDER_VERSION}: logits`);
}

/**
 * The forward the features need and nothing more: the representation and the mean response loss,
 * exactly as the feature graph computes them, without the backward. The benchmarks' lower bound.
 */
export async function buildLossForwardGraph(weights: WeightSource, dataPath: string | null): Promise<Uint8Array> {
  const g = new OnnxGraph('safesift_loss_forward', dataPath);
  const d = new DiffGraph(g, () => false);
  const ids = d.constant(g.input(FEATURE_IO.inputIds, DType.int64, [BATCH, SEQ]), [BATCH, SEQ], DType.int64);
  const mask = g.input(FEATURE_IO.attentionMask, DType.int64, [BATCH, SEQ]);
  const lossWeights = g.input(FEATURE_IO.lossWeights, DType.float, [BATCH, SEQ]);
  const forward = await emitLlamaForward(d, weights, ids, mask);
  emitRepresentationAndLoss(d, weights.config, forward, ids, mask, lossWeights, 'lm_head.weight', DType.float);
  return g.finish(`safesift loss forward graph v${GRAPH_BUILDER_VERSION}: representation, loss`);
}

/**
 * Outputs the representation (final-norm state at the last real token) and returns the per-example
 * loss Σ_t w_t CE(z_{t-1}, y_t) [B], also output. Position t predicts token t+1; the head runs only
 * where a label is (the response): prompt and padding positions have zero weight, so their logits
 * would cost V·D each (a third of a 58M model's FLOPs) and change nothing.
 */
function emitRepresentationAndLoss(
  d: DiffGraph,
  config: LlamaConfig,
  { finalHidden, headWeight }: Pick<ForwardValues, 'finalHidden' | 'headWeight'>,
  ids: Value,
  mask: string,
  lossWeights: string,
  headKey: string,
  computeType: FloatType,
): Value {
  const g = d.g;
  const representation = lastTokenState(g, finalHidden.name, mask, computeType);
  g.output(computeType === DType.float ? representation : g.op('Cast', [representation], { to: DType.float }), FEATURE_IO.representation, DType.float, [BATCH, config.hiddenSize]);
  const shifted = (x: string) => g.op('Slice', [x, g.constInt64([1]), g.constInt64([Number.MAX_SAFE_INTEGER]), g.constInt64([1])]);
  const labelled = labelledPositions(g, shifted(lossWeights));
  const at = (x: string, dtype: DType): Value => d.constant(g.op('GatherElements', [x, labelled], { axis: 1 }), [BATCH, 'labels'], dtype);
  const hidden = d.gatherPositions(d.slice(finalHidden, 1, 0, 1, 'seq-1'), labelled, 'labels');
  // The loss is computed in float32 (as HF upcasts logits), whatever the compute type.
  const logits = d.cast(d.linear(hidden, headKey, headWeight, config.vocabSize, config.hiddenSize), DType.float);
  const loss = d.crossEntropy(logits, at(shifted(ids.name), DType.int64), at(shifted(lossWeights), DType.float));
  g.output(loss.name, FEATURE_IO.loss, DType.float, [BATCH]);
  return loss;
}

/** The direction layers, checked: integers in [0, numLayers), strictly increasing (the output's order). */
export function checkDirectionLayers(layers: readonly number[], numLayers: number): readonly number[] {
  layers.forEach((l, i) => {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers || (i > 0 && l <= layers[i - 1]!)) {
      throw new RangeError(`feature graph: direction layers must be sorted, unique layer indices below ${numLayers}, got [${layers.join(', ')}]`);
    }
  });
  return layers;
}

/**
 * Per residual state x [B,T,D]: x at the last prompt token (the position before the first label,
 * i.e. first t with w_t > 0, minus 1) and the response mean Σ_t w_t x_t (the loss weights sum to
 * 1 over the labels), as one MatMul of a [B,2,T] selection with x; concatenated → [B,2L,D].
 * Plain nodes outside the DiffGraph: forward-only, no gradient flows through them.
 */
function emitLayerStates(g: OnnxGraph, residuals: readonly string[], lossWeights: string, computeType: FloatType): string {
  const labels = g.op('Cast', [g.op('Greater', [lossWeights, g.constFloat([0])])], { to: DType.float }); // [B,T]
  // ArgMax takes the first maximum: the first label. No label → 0 → position −1: a zero row.
  const promptEnd = g.op('Sub', [g.op('ArgMax', [labels], { axis: 1, keepdims: 1 }), g.constInt64([1], [])]); // [B,1]
  const length = g.op('Squeeze', [g.op('Slice', [g.op('Shape', [lossWeights]), g.constInt64([1]), g.constInt64([2])])]);
  const positions = g.op('Range', [g.constInt64([0], []), length, g.constInt64([1], [])]);
  const oneHot = g.op('Cast', [g.op('Equal', [positions, promptEnd])], { to: computeType }); // [B,T]
  const weights = computeType === DType.float ? lossWeights : g.op('Cast', [lossWeights], { to: computeType });
  const axis1 = g.constInt64([1]);
  const selection = g.op('Concat', [g.op('Unsqueeze', [oneHot, axis1]), g.op('Unsqueeze', [weights, axis1])], { axis: 1 }); // [B,2,T]
  const pooled = residuals.map((x) => g.op('MatMul', [selection, x])); // [B,2,D] each
  return pooled.length === 1 ? pooled[0]! : g.op('Concat', pooled, { axis: 1 });
}

/**
 * Per example, the positions of its labels (weights [B,N] > 0), in order, then other positions to
 * fill the row up to the batch's largest label count (at least 1, at most N): [B,K] int64, distinct
 * within a row. Keys N−t for labels and 0 elsewhere make TopK list the labels first.
 */
function labelledPositions(g: OnnxGraph, weights: string): string {
  const isLabel = g.op('Cast', [g.op('Greater', [weights, g.constFloat([0])])], { to: DType.float }); // [B,N]
  const length = g.op('Slice', [g.op('Shape', [weights]), g.constInt64([1]), g.constInt64([2])]); // [1]
  const positions = g.op('Cast', [g.op('Range', [g.constInt64([0], []), g.op('Squeeze', [length]), g.constInt64([1], [])])], { to: DType.float });
  const keys = g.op('Mul', [isLabel, g.op('Sub', [g.op('Cast', [length], { to: DType.float }), positions])]);
  const most = g.op('Cast', [g.op('ReduceMax', [g.op('ReduceSum', [isLabel, g.constInt64([1])], { keepdims: 0 }), g.constInt64([0])], { keepdims: 1 })], { to: DType.int64 });
  const k = g.op('Min', [g.op('Max', [most, g.constInt64([1])]), length]);
  return g.node('TopK', [keys, k], { axis: 1, largest: 1, sorted: 1 }, 2)[1]!;
}

/** h[b, last real position], selected with a one-hot row so it stays a MatMul: [B,D]. */
function lastTokenState(g: OnnxGraph, hidden: string, mask: string, computeType: FloatType): string {
  const last = g.op('Sub', [g.op('ReduceSum', [mask, g.constInt64([1])], { keepdims: 1 }), g.constInt64([1], [])]); // [B,1]
  const length = g.op('Squeeze', [g.op('Slice', [g.op('Shape', [mask]), g.constInt64([1]), g.constInt64([2])])]);
  const positions = g.op('Range', [g.constInt64([0], []), length, g.constInt64([1], [])]);
  const oneHot = g.op('Cast', [g.op('Equal', [positions, last])], { to: computeType }); // [B,T]
  const selected = g.op('MatMul', [g.op('Unsqueeze', [oneHot, g.constInt64([1])]), hidden]); // [B,1,D]
  return g.op('Squeeze', [selected, g.constInt64([1])]);
}
