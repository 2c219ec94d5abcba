import { emitLlamaForward, transpose, type WeightSource } from './llama-forward.ts';
import { DType, OnnxGraph } from './onnx-graph.ts';
import { rademacherMatrix, type ProjectionSpec } from './projection.ts';

/** Bump when the emitted graphs change, so cached graphs are rebuilt. */
export const GRAPH_BUILDER_VERSION = 1;

export interface FeatureGraphOptions {
  projection: ProjectionSpec;
  /** Also output logits [B,T,V] (parity tests only: large). */
  emitLogits?: boolean;
}

/** Names of the graph's inputs and outputs: the contract with the runtime. */
export const FEATURE_IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  lossWeights: 'loss_weights',
  representation: 'representation',
  loss: 'loss',
  gradient: 'lm_head_gradient',
  logits: 'logits',
} as const;

export function gradientDimension(weights: WeightSource, projection: ProjectionSpec): number {
  const c = weights.config;
  return projection.kind === 'none' ? c.vocabSize * c.hiddenSize : projection.outDim * projection.inDim;
}

/**
 * The feature graph: one forward over a right-padded batch, then per example
 * - representation: final-norm hidden state at the last real token,
 * - loss: Σ_t w_t CE(z_{t-1}, y_t) (weights sum to 1: the mean response loss),
 * - the exact gradient of that loss w.r.t. the LM-head weight, Σ_t w_t (softmax(z_t) - onehot(y_{t+1})) h_tᵀ,
 *   either as [V·D] or projected in-graph as Σ_t (P_out δ_t)(P_in h_t)ᵀ without forming the V×D matrix.
 */
export async function buildFeatureGraph(weights: WeightSource, options: FeatureGraphOptions, dataPath: string | null): Promise<Uint8Array> {
  const c = weights.config;
  const g = new OnnxGraph('safesift_features', dataPath);
  const ids = g.input(FEATURE_IO.inputIds, DType.int64, ['batch', 'seq']);
  const mask = g.input(FEATURE_IO.attentionMask, DType.int64, ['batch', 'seq']);
  const lossWeights = g.input(FEATURE_IO.lossWeights, DType.float, ['batch', 'seq']);
  const { finalHidden, lmHeadT, seqLen } = await emitLlamaForward(g, weights, ids, mask);

  g.output(lastTokenState(g, finalHidden, mask), FEATURE_IO.representation, DType.float, ['batch', c.hiddenSize]);

  // Position t predicts token t+1: drop the last position's hidden state and the first label.
  const zero = g.constInt64([0]);
  const one = g.constInt64([1]);
  const axis1 = g.constInt64([1]);
  const lastDropped = g.op('Sub', [seqLen, one]);
  const hidden = g.op('Slice', [finalHidden, zero, lastDropped, axis1]); // [B,T-1,D]
  const logits = g.op('MatMul', [hidden, lmHeadT]); // [B,T-1,V]
  const targets = g.op('Unsqueeze', [g.op('Slice', [ids, one, seqLen, axis1]), g.constInt64([2])]); // [B,T-1,1]
  const weightsShifted = g.op('Unsqueeze', [g.op('Slice', [lossWeights, one, seqLen, axis1]), g.constInt64([2])]); // [B,T-1,1]

  const maxLogit = g.op('ReduceMax', [logits, g.constInt64([-1])], { keepdims: 1 });
  const exp = g.op('Exp', [g.op('Sub', [logits, maxLogit])]);
  const sumExp = g.op('ReduceSum', [exp, g.constInt64([-1])], { keepdims: 1 });
  const targetLogit = g.op('GatherElements', [logits, targets], { axis: 2 });
  const crossEntropy = g.op('Sub', [g.op('Add', [maxLogit, g.op('Log', [sumExp])]), targetLogit]); // [B,T-1,1]
  const loss = g.op('ReduceSum', [g.op('Mul', [crossEntropy, weightsShifted]), g.constInt64([1, 2])], { keepdims: 0 });
  g.output(loss, FEATURE_IO.loss, DType.float, ['batch']);

  // δ_t = w_t (softmax(z_t) - onehot(y)): scale the softmax, then subtract w_t at the target id.
  const weightedProbs = g.op('Mul', [g.op('Div', [exp, sumExp]), weightsShifted]);
  const delta = g.op('ScatterElements', [weightedProbs, targets, g.op('Neg', [weightsShifted])], { axis: 2, reduction: 'add' });
  const gradient = emitLmHeadGradient(g, weights, options.projection, delta, hidden);
  g.output(gradient, FEATURE_IO.gradient, DType.float, ['batch', gradientDimension(weights, options.projection)]);

  if (options.emitLogits) {
    g.output(g.op('MatMul', [finalHidden, lmHeadT]), FEATURE_IO.logits, DType.float, ['batch', 'seq', c.vocabSize]);
  }
  return g.finish(`safesift feature graph v${GRAPH_BUILDER_VERSION}: representation, loss, lm_head gradient`);
}

/** The plain forward (logits only) of the same model: the baseline the benchmarks compare against. */
export async function buildForwardGraph(weights: WeightSource, dataPath: string | null): Promise<Uint8Array> {
  const g = new OnnxGraph('safesift_forward', dataPath);
  const ids = g.input(FEATURE_IO.inputIds, DType.int64, ['batch', 'seq']);
  const mask = g.input(FEATURE_IO.attentionMask, DType.int64, ['batch', 'seq']);
  const { finalHidden, lmHeadT } = await emitLlamaForward(g, weights, ids, mask);
  g.output(g.op('MatMul', [finalHidden, lmHeadT]), FEATURE_IO.logits, DType.float, ['batch', 'seq', weights.config.vocabSize]);
  return g.finish(`safesift forward graph v${GRAPH_BUILDER_VERSION}: logits`);
}

/** h[b, last real position], selected with a one-hot row so it stays a MatMul: [B,D]. */
function lastTokenState(g: OnnxGraph, hidden: string, mask: string): string {
  const last = g.op('Sub', [g.op('ReduceSum', [mask, g.constInt64([1])], { keepdims: 1 }), g.constInt64([1], [])]); // [B,1]
  const positions = g.op('Range', [g.constInt64([0], []), g.op('Squeeze', [g.op('Slice', [g.op('Shape', [mask]), g.constInt64([1]), g.constInt64([2])])]), g.constInt64([1], [])]);
  const oneHot = g.op('Cast', [g.op('Equal', [positions, last])], { to: DType.float }); // [B,T]
  const selected = g.op('MatMul', [g.op('Unsqueeze', [oneHot, g.constInt64([1])]), hidden]); // [B,1,D]
  return g.op('Squeeze', [selected, g.constInt64([1])]);
}

function emitLmHeadGradient(g: OnnxGraph, weights: WeightSource, projection: ProjectionSpec, delta: string, hidden: string): string {
  const c = weights.config;
  const flat = (x: string) => g.op('Reshape', [x, g.constInt64([0, -1])]);
  if (projection.kind === 'none') {
    // [B,V,T-1] @ [B,T-1,D] -> [B,V,D]: row-major like lm_head.weight.grad.
    return flat(g.op('MatMul', [g.op('Transpose', [delta], { perm: [0, 2, 1] }), hidden]));
  }
  const pOut = rademacherMatrix(projection.outDim, c.vocabSize, projection.seed, 0); // [k_out, V]
  const pIn = rademacherMatrix(projection.inDim, c.hiddenSize, projection.seed, 1); // [k_in, D]
  const pOutT = g.weight('proj_out_t', transpose(pOut, projection.outDim, c.vocabSize), [c.vocabSize, projection.outDim]);
  const pInT = g.weight('proj_in_t', transpose(pIn, projection.inDim, c.hiddenSize), [c.hiddenSize, projection.inDim]);
  const deltaProjected = g.op('MatMul', [delta, pOutT]); // [B,T-1,k_out]
  const hiddenProjected = g.op('MatMul', [hidden, pInT]); // [B,T-1,k_in]
  return flat(g.op('MatMul', [g.op('Transpose', [deltaProjected], { perm: [0, 2, 1] }), hiddenProjected]));
}
