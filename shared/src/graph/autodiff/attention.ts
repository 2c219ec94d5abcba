/**
 * The ONNX nodes of DiffGraph.attention: causal grouped-query attention, softmax(q kᵀ + mask) v,
 * and its vector-Jacobian product, in the manner of FlashAttention, so that memory stays linear in
 * the sequence length T however long it is:
 * - queries are cut into blocks of at most MAX_BLOCK_ROWS rows, one ONNX Loop iteration each (the
 *   number of blocks grows with T, known only at run time); block i scores only the keys it can
 *   see, [0, end_i), so most of the masked upper triangle is never computed;
 * - the forward keeps the context and each row's log-sum-exp (float32), never the probabilities;
 * - the backward is one Loop too: it recomputes each block's probabilities from q, k and the
 *   log-sum-exp, and accumulates dk and dv over the blocks. The Loop node takes the layer's
 *   incoming gradient, so onnxruntime cannot run the recomputation early, and at most one block's
 *   [rows, T] tensors of one layer exist at a time.
 * Masked keys (padding, or after the query) get exactly zero weight. Softmax statistics are
 * float32 whatever the compute type. The block layout is in attention-plan.ts, the Loop bodies
 * in attention-blocks.ts.
 */
import { DType, type FloatType, type OnnxGraph } from '../onnx-graph.ts';
import { backwardBlock, forwardBlock, type BackwardInputs, type ForwardInputs } from './attention-blocks.ts';
import { cut, padAxis, type AttentionPlan } from './attention-plan.ts';

export { planAttention, type AttentionPlan } from './attention-plan.ts';

/** The forward's tensors that the backward reuses (all linear in T). */
export interface AttentionForward {
  /** softmax(q kᵀ + mask) v, [B,KV,rep,T,hd]. */
  context: string;
  /** Per query row, log Σ_j exp(s_ij + mask_ij), [B,KV,rep,padded,1] float32. */
  logSumExp: string;
  /** q padded to whole blocks [B,KV,rep,padded,hd]; k, v [B,KV,T,hd]; kᵀ [B,KV,hd,T]. */
  qPadded: string;
  k: string;
  v: string;
  kT: string;
  /** The forward's score operands [q, 1] and [kᵀ; key bias] (see ForwardInputs). */
  qOne: string;
  kMasked: string;
  rep: number;
  headDim: number;
}

/** The attention of q [B,KV,rep,T,hd] (pre-scaled) over k, v [B,KV,T,hd]. */
export function attentionForward(g: OnnxGraph, plan: AttentionPlan, q: string, k: string, v: string, rep: number, headDim: number, valueType: FloatType): AttentionForward {
  const qPadded = padAxis(g, q, 5, 3, plan.pad);
  const kT = g.op('Transpose', [k], { perm: [0, 1, 3, 2] });
  const qOne = g.op('Concat', [qPadded, ones(g, qPadded, 5, valueType)], { axis: 4 });
  const kMasked = g.op('Concat', [kT, keyRow(g, kT, plan.keyBias)], { axis: 2 });
  const inputs: ForwardInputs = { plan, qOne, kMasked, v, headDim, valueType };
  const [contexts, logSumExps] = g.loop(plan.blocks, [], (body, i) => ({ carried: [], stacked: forwardBlock(body, inputs, i) }));
  const context = cut(g, unstackRows(g, contexts!, rep, headDim), 3, g.constInt64([0]), plan.length);
  return { context, logSumExp: unstackRows(g, logSumExps!, rep, 1), qPadded, k, v, kT, qOne, kMasked, rep, headDim };
}

/** Gradients of q, k and v from the context's cotangent `dy` [B,KV,rep,T,hd]. */
export function attentionBackward(g: OnnxGraph, plan: AttentionPlan, f: AttentionForward, dy: string, valueType: FloatType): { dq: string; dk: string; dv: string } {
  const { rep, headDim } = f;
  const lastAxisPerm = [0, 1, 4, 2, 3]; // [B,KV,rep,T,hd] -> [B,KV,hd,rep,T]
  const dyPadded = padAxis(g, dy, 5, 3, plan.pad);
  // Σ_j p_ij dp_ij = dctx_i · ctx_i: folded into the dP product as [dctx_i, -r_i] · [v_j; 1].
  const rowTerm = g.op('ReduceSum', [g.op('Mul', [dy, f.context]), g.constInt64([-1])], { keepdims: 1 });
  const vT = g.op('Transpose', [f.v], { perm: [0, 1, 3, 2] });
  const float32 = valueType === DType.float;
  const inputs: BackwardInputs = {
    plan,
    valueType,
    headDim,
    dyLeft: padAxis(g, g.op('Concat', [dy, g.op('Neg', [rowTerm])], { axis: 4 }), 5, 3, plan.pad),
    vT1: g.op('Concat', [vT, keyRow(g, vT, null, valueType)], { axis: 2 }),
    // float32: s_ij − lse_i as one product; float16 subtracts lse in float32 instead.
    qLeft: float32 ? g.op('Concat', [f.qPadded, g.op('Neg', [f.logSumExp]), ones(g, f.qPadded, 5, valueType)], { axis: 4 }) : f.qOne,
    kRight: float32 ? g.op('Concat', [f.kT, keyRow(g, f.kT, null, valueType), keyRow(g, f.kT, plan.keyBias)], { axis: 2 }) : f.kMasked,
    logSumExp: f.logSumExp,
    qT: g.op('Transpose', [f.qPadded], { perm: lastAxisPerm }),
    dyT: g.op('Transpose', [dyPadded], { perm: lastAxisPerm }),
  };
  const zeros = g.op('Expand', [g.constFloat([0], [], valueType), g.op('Shape', [f.kT])]); // dkᵀ, dvᵀ [B,KV,hd,T]
  const [dkT, dvT, dqs] = g.loop(
    plan.blocks,
    [
      { value: zeros, type: valueType },
      { value: zeros, type: valueType },
    ],
    (body, i, [dkAcc, dvAcc]) => backwardBlock(body, inputs, i, dkAcc!, dvAcc!),
  );
  const swap = (x: string) => g.op('Transpose', [x], { perm: [0, 1, 3, 2] });
  const dqWide = unstackRows(g, dqs!, rep, headDim + (float32 ? 2 : 1));
  const dq = g.op('Slice', [dqWide, g.constInt64([0, 0]), g.op('Concat', [plan.length, g.constInt64([headDim])], { axis: 0 }), g.constInt64([3, 4])]);
  return { dq, dk: swap(dkT!), dv: swap(dvT!) };
}

/** A Loop's stacked per-block rows [n,B,KV,rep*rows,w] as [B,KV,rep,n*rows,w]. */
function unstackRows(g: OnnxGraph, stacked: string, rep: number, width: number): string {
  const split = g.op('Reshape', [stacked, g.constInt64([0, 0, 0, rep, -1, width])]);
  return g.op('Reshape', [g.op('Transpose', [split], { perm: [1, 2, 3, 0, 4, 5] }), g.constInt64([0, 0, 0, -1, width])]);
}

/** Ones shaped like x [..., w] but with last axis 1. */
function ones(g: OnnxGraph, x: string, rank: number, valueType: FloatType): string {
  const shape = g.op('Concat', [g.op('Slice', [g.op('Shape', [x]), g.constInt64([0]), g.constInt64([rank - 1])]), g.constInt64([1])], { axis: 0 });
  return g.op('Expand', [g.constFloat([1], [], valueType), shape]);
}

/** A row [B,KV,1,T] to stack under xᵀ [B,KV,hd,T]: the key bias [B,1,1,T] broadcast, or ones. */
function keyRow(g: OnnxGraph, xT: string, keyBias: string | null, valueType?: FloatType): string {
  const shape = g.op('Concat', [g.op('Slice', [g.op('Shape', [xT]), g.constInt64([0]), g.constInt64([2])]), g.constInt64([1]), g.op('Slice', [g.op('Shape', [xT]), g.constInt64([3]), g.constInt64([4])])], { axis: 0 });
  return g.op('Expand', [keyBias ?? g.constFloat([1], [], valueType), shape]);
}
