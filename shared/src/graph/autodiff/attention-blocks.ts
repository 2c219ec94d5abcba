/**
 * The Loop bodies of DiffGraph.attention (see attention.ts): one query block of the forward and of
 * the backward. Scores are [B,KV,rep*rows,keys] products (a KV head's query group as one matrix);
 * the softmax and its statistics are float32 whatever the compute type.
 */
import { DType, type FloatType, type OnnxGraph, type TypedValue } from '../onnx-graph.ts';
import { blockOf, cut, padAxis, rowsOf, type AttentionPlan } from './attention-plan.ts';

export interface ForwardInputs {
  plan: AttentionPlan;
  /** [q, 1] padded to whole blocks [B,KV,rep,padded,hd+1] and [kᵀ; key bias] [B,KV,hd+1,T]: their product is s + key mask. */
  qOne: string;
  kMasked: string;
  v: string;
  headDim: number;
  valueType: FloatType;
}

/** Block i's context rows [B,KV,rep*rows,hd] and log-sum-exp rows [B,KV,rep*rows,1] (float32). */
export function forwardBlock(b: OnnxGraph, x: ForwardInputs, i: string): TypedValue[] {
  const blk = blockOf(b, x.plan, i);
  const zero = b.constInt64([0]);
  const q = rowsOf(b, cut(b, x.qOne, 3, blk.start, blk.stop), x.headDim + 1);
  const logits = b.op('Add', [toFloat(b, b.op('MatMul', [q, cut(b, x.kMasked, 3, zero, blk.end)]), x.valueType), blk.causal]);
  const probs = b.op('Softmax', [logits], { axis: -1 });
  // The largest p_ij is exp(max_j logit_ij − lse_i): two row reductions instead of a second exp pass.
  const last = b.constInt64([-1]);
  const logSumExp = b.op('Sub', [b.op('ReduceMax', [logits, last], { keepdims: 1 }), b.op('Log', [b.op('ReduceMax', [probs, last], { keepdims: 1 })])]);
  const context = b.op('MatMul', [toValue(b, probs, x.valueType), cut(b, x.v, 2, zero, blk.end)]);
  return [
    { value: context, type: x.valueType },
    { value: logSumExp, type: DType.float },
  ];
}

export interface BackwardInputs {
  plan: AttentionPlan;
  valueType: FloatType;
  headDim: number;
  /**
   * float32: [q, −lse, 1] [B,KV,rep,padded,hd+2] and [kᵀ; 1; key bias] [B,KV,hd+2,T], whose
   * product is s − lse + key mask; float16: the forward's [q, 1] and [kᵀ; key bias] (lse is
   * subtracted in float32).
   */
  qLeft: string;
  kRight: string;
  logSumExp: string;
  /** [dctx, −r] [B,KV,rep,padded,hd+1] and [vᵀ; 1] [B,KV,hd+1,T], whose product is dp − r. */
  dyLeft: string;
  vT1: string;
  /** q and dctx as [B,KV,hd,rep,padded], for the key-side products. */
  qT: string;
  dyT: string;
}

/** Block i's dq rows [B,KV,rep*rows,width of kRight] (stacked; the first hd are dq) and dkᵀ, dvᵀ [B,KV,hd,T] accumulated. */
export function backwardBlock(b: OnnxGraph, x: BackwardInputs, i: string, dkAcc: string, dvAcc: string): { carried: string[]; stacked: TypedValue[] } {
  const blk = blockOf(b, x.plan, i);
  const zero = b.constInt64([0]);
  const keys = (t: string, axis: number) => cut(b, t, axis, zero, blk.end);
  const queries = (t: string, axis: number) => cut(b, t, axis, blk.start, blk.stop);
  const hd = x.headDim;
  const kRight = keys(x.kRight, 3);
  const scores = (width: number) => b.op('MatMul', [rowsOf(b, queries(x.qLeft, 3), width), kRight]);
  const shifted =
    x.valueType === DType.float
      ? scores(hd + 2)
      : b.op('Sub', [toFloat(b, scores(hd + 1), x.valueType), rowsOf(b, queries(x.logSumExp, 3), 1)]);
  // The forward's probabilities again: exp(s + mask − lse); masked keys give exp(−1e9) = 0.
  const probs = toValue(b, b.op('Exp', [b.op('Add', [shifted, blk.causal])]), x.valueType);
  const centred = b.op('MatMul', [rowsOf(b, queries(x.dyLeft, 3), hd + 1), keys(x.vT1, 3)]); // dp_ij − r_i
  const dScores = b.op('Mul', [probs, centred]);
  // dS k against the score operand's own key slice (transposed, fused into the product): one
  // key-sized copy less per block; its extra columns (dS·1, dS·bias) are dropped after the Loop.
  const dq = b.op('MatMul', [dScores, b.op('Transpose', [kRight], { perm: [0, 1, 3, 2] })]);
  // Key-side products come out transposed, [B,KV,hd,keys]: no transposed copy of the scores.
  const columns = (t: string) => b.op('Reshape', [queries(t, 4), b.constInt64([0, 0, hd, -1])]);
  const tail = b.op('Sub', [x.plan.length, blk.end]);
  const accumulate = (acc: string, blockT: string) => b.op('Add', [acc, padAxis(b, blockT, 4, 3, tail)]);
  return {
    carried: [accumulate(dkAcc, b.op('MatMul', [columns(x.qT), dScores])), accumulate(dvAcc, b.op('MatMul', [columns(x.dyT), probs]))],
    stacked: [{ value: dq, type: x.valueType }],
  };
}

function toFloat(b: OnnxGraph, x: string, from: FloatType): string {
  return from === DType.float ? x : b.op('Cast', [x], { to: DType.float });
}

function toValue(b: OnnxGraph, x: string, to: FloatType): string {
  return to === DType.float ? x : b.op('Cast', [x], { to });
}
