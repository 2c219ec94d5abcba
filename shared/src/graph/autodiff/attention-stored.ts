/**
 * Attention with stored probabilities (DiffGraph.attention's 'stored' mode): causal grouped-query
 * attention, softmax(q kᵀ + bias) v, and its vector-Jacobian product, keeping every query block's
 * softmax probabilities for the backward. Memory grows with T² per layer, but it is the fastest
 * for the short examples most corpora hold (BENCHMARKS.md, long-context); attention.ts recomputes
 * instead, for long contexts. For speed on the [T,T] tensors:
 * - queries are cut into ATTENTION_BLOCKS causal blocks, each scored against only the keys it can
 *   see, so most of the masked upper triangle is never computed (masked keys get exactly zero
 *   weight either way: the result is the same);
 * - a KV head's query group is one [rep*Tq, ·] matrix, so each product is one plain MatMul and
 *   sums over the group fall out of the contraction;
 * - the backward takes the softmax row term Σ_j p_ij dp_ij as dctx_i · ctx_i and folds it into
 *   the dP product as [dctx_i, -r_i] · [v_j, 1].
 */
import { DType, type FloatType, type OnnxGraph } from '../onnx-graph.ts';

/** Causal query blocks (measured on stories260k: 4 beat 2 and 8). */
export const ATTENTION_BLOCKS = 4;

/** How the positions of one attention bias are cut into blocks; shared by every layer. */
export interface StoredAttentionPlan {
  /** T, the padding to at least ATTENTION_BLOCKS positions, and T plus that padding ([1] each). */
  length: string;
  pad: string;
  padded: string;
  blocks: Array<{ start: string; end: string; bias: string }>;
}

/** The forward's tensors that the backward reuses. */
export interface StoredAttentionForward {
  /** softmax(q kᵀ + bias) v, [B,KV,rep,T,hd]. */
  context: string;
  headDim: number;
  blocks: Array<{
    start: string;
    end: string;
    qb: string;
    kb: string;
    vb: string;
    scoreShape: string;
    flatShape: string;
    probs: string;
    probRows: string;
    context: string;
  }>;
}

const SWAP_LAST = [0, 1, 3, 2];

/**
 * Query blocks of the attention over `mask` [B,T] (int64, 1 for real tokens): T is padded to at
 * least ATTENTION_BLOCKS so no block is empty (padded keys are masked, padded queries cut off),
 * and each block's slice of the additive bias is taken once.
 */
export function planStoredAttention(g: OnnxGraph, mask: string, valueType: FloatType): StoredAttentionPlan {
  const n = ATTENTION_BLOCKS;
  const bias = attentionBias(g, mask, valueType);
  const length = g.op('Slice', [g.op('Shape', [bias]), g.constInt64([3]), g.constInt64([4])]); // [1]
  const pad = g.op('Max', [g.op('Sub', [g.constInt64([n]), length]), g.constInt64([0])]);
  const padded = g.op('Add', [length, pad]);
  const masked = g.op('Pad', [bias, g.op('Concat', [g.constInt64([0, 0, 0, 0, 0, 0, 0, 0]), pad, pad], { axis: 0 }), g.op('CastLike', [g.constFloat([-1e9], []), bias])]);
  const ends = Array.from({ length: n }, (_, b) =>
    b === n - 1 ? padded : g.op('Div', [g.op('Add', [g.op('Mul', [padded, g.constInt64([b + 1])]), g.constInt64([n - 1])]), g.constInt64([n])]),
  );
  const zero = g.constInt64([0]);
  const blocks = ends.map((end, b) => {
    const start = b === 0 ? zero : ends[b - 1]!;
    return { start, end, bias: g.op('Slice', [masked, g.op('Concat', [start, zero], { axis: 0 }), g.op('Concat', [end, end], { axis: 0 }), g.constInt64([3, 4])]) };
  });
  return { length, pad, padded, blocks };
}

/** The attention of q [B,KV,rep,T,hd] (pre-scaled) over k, v [B,KV,T,hd], block by block. */
export function storedAttentionForward(g: OnnxGraph, plan: StoredAttentionPlan, q: string, k: string, v: string, headDim: number): StoredAttentionForward {
  const zero = g.constInt64([0]);
  const [qP, kP, vP] = [padAxis(g, q, 5, 3, plan.pad), padAxis(g, k, 4, 2, plan.pad), padAxis(g, v, 4, 2, plan.pad)];
  const blocks = plan.blocks.map(({ start, end, bias: blockBias }) => {
    const qb = cut(g, qP, 3, start, end); // [B,KV,rep,Tq,hd]
    const kb = cut(g, kP, 2, zero, end); // [B,KV,Tk,hd]
    const vb = cut(g, vP, 2, zero, end);
    const scoreShape = g.op('Concat', [g.op('Slice', [g.op('Shape', [qb]), zero, g.constInt64([4])]), end], { axis: 0 }); // [B,KV,rep,Tq,Tk]
    const flatShape = g.op('Concat', [g.constInt64([0, 0, -1]), end], { axis: 0 }); // [B,KV,rep*Tq,Tk]
    const scores = g.op('Add', [g.op('Reshape', [g.op('MatMul', [rows(g, qb, headDim), g.op('Transpose', [kb], { perm: SWAP_LAST })]), scoreShape]), blockBias]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const probRows = g.op('Reshape', [probs, flatShape]);
    const context = g.op('Reshape', [g.op('MatMul', [probRows, vb]), g.op('Shape', [qb])]);
    return { start, end, qb, kb, vb, scoreShape, flatShape, probs, probRows, context };
  });
  const context = cut(g, g.op('Concat', blocks.map((b) => b.context), { axis: 3 }), 3, zero, plan.length);
  return { context, headDim, blocks };
}

/** Gradients of q, k and v from the context's cotangent `dy`. */
export function storedAttentionBackward(
  g: OnnxGraph,
  plan: StoredAttentionPlan,
  forward: StoredAttentionForward,
  dy: string,
  valueType: FloatType,
): { dq: string; dk: string; dv: string } {
  const zero = g.constInt64([0]);
  const headDim = (x: string) => rows(g, x, forward.headDim);
  const dyP = padAxis(g, dy, 5, 3, plan.pad);
  const ones = g.constFloat([1], [], valueType);
  const [dq, dk, dv] = [[], [], []] as [string[], string[], string[]];
  for (const p of forward.blocks) {
    const dyb = cut(g, dyP, 3, p.start, p.end);
    const rowTerm = g.op('ReduceSum', [g.op('Mul', [dyb, p.context]), g.constInt64([-1])], { keepdims: 1 });
    const vT = g.op('Transpose', [p.vb], { perm: SWAP_LAST }); // [B,KV,hd,Tk]
    const onesRow = g.op('Expand', [ones, g.op('Concat', [g.op('Slice', [g.op('Shape', [vT]), zero, g.constInt64([2])]), g.constInt64([1]), p.end], { axis: 0 })]);
    const left = g.op('Concat', [headDim(dyb), g.op('Neg', [g.op('Reshape', [rowTerm, g.constInt64([0, 0, -1, 1])])])], { axis: 3 });
    const centred = g.op('Reshape', [g.op('MatMul', [left, g.op('Concat', [vT, onesRow], { axis: 2 })]), p.scoreShape]); // dp_ij - r_i
    const dScores = g.op('Reshape', [g.op('Mul', [p.probs, centred]), p.flatShape]);
    dq.push(g.op('Reshape', [g.op('MatMul', [dScores, p.kb]), g.op('Shape', [p.qb])]));
    dk.push(transposedProduct(g, dScores, headDim(p.qb)));
    dv.push(transposedProduct(g, p.probRows, headDim(dyb)));
  }
  const unpad = (x: string, axis: number) => cut(g, x, axis, zero, plan.length);
  // Key block b covers positions [0, end_b): pad each to the full length and add.
  const sumKeys = (xs: string[]) =>
    unpad(
      xs.map((x, i) => (i === xs.length - 1 ? x : padAxis(g, x, 4, 2, g.op('Sub', [plan.padded, plan.blocks[i]!.end])))).reduce((a, b) => g.op('Add', [a, b])),
      2,
    );
  return { dq: unpad(g.op('Concat', dq, { axis: 3 }), 3), dk: sumKeys(dk), dv: sumKeys(dv) };
}

/** Additive attention bias [B,1,1,T,T]: 0 where key j <= query i and j is a real token, else -1e9. */
function attentionBias(g: OnnxGraph, mask: string, valueType: FloatType): string {
  const length = g.op('Squeeze', [g.op('Slice', [g.op('Shape', [mask]), g.constInt64([1]), g.constInt64([2])])]);
  const positions = g.op('Range', [g.constInt64([0], []), length, g.constInt64([1], [])]);
  const queries = g.op('Unsqueeze', [positions, g.constInt64([1])]);
  const causal = g.op('LessOrEqual', [positions, queries]); // [T,T]: key <= query
  const keep = g.op('Cast', [g.op('Unsqueeze', [mask, g.constInt64([1, 2, 3])])], { to: DType.bool });
  const allowed = g.op('And', [causal, keep]); // [B,1,1,1,T] & [T,T] -> [B,1,1,T,T]
  // -1e9 becomes -inf in float16: softmax still gives those keys exactly zero weight.
  return g.op('Where', [allowed, g.constFloat([0], [], valueType), g.constFloat([-1e9], [], valueType)]);
}

/** [B,KV,rep,T,hd] as [B,KV,rep*T,hd]. */
function rows(g: OnnxGraph, x: string, headDim: number): string {
  return g.op('Reshape', [x, g.constInt64([0, 0, -1, headDim])]);
}

function cut(g: OnnxGraph, x: string, axis: number, from: string, to: string): string {
  return g.op('Slice', [x, from, to, g.constInt64([axis])]);
}

/** aᵀ b for a [.., M, N] and a thin b [.., M, hd], as (bᵀ a)ᵀ: no transposed copy of the big a. */
function transposedProduct(g: OnnxGraph, a: string, b: string): string {
  return g.op('Transpose', [g.op('MatMul', [g.op('Transpose', [b], { perm: SWAP_LAST }), a])], { perm: SWAP_LAST });
}

/** x padded with `amount` ([1] int64) zeros at the end of `axis`. */
function padAxis(g: OnnxGraph, x: string, rank: number, axis: number, amount: string): string {
  const pads = Array.from({ length: 2 * rank }, (_, i) => (i === rank + axis ? amount : g.constInt64([0])));
  return g.op('Pad', [x, g.op('Concat', pads, { axis: 0 })]);
}
