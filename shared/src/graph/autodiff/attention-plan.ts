/**
 * The block layout of DiffGraph.attention (see attention.ts): how the T query positions are cut
 * into blocks, and the per-block geometry that the forward and backward Loop bodies share.
 */
import { DType, type FloatType, type OnnxGraph } from '../onnx-graph.ts';

/** Most query rows per block: bounds the [rows, T] tensors alive at once (see BENCHMARKS.md, long-context). */
export const MAX_BLOCK_ROWS = 256;
/** Fewest blocks: short sequences are still cut in 4 for the causal saving (4 beat 2 and 8 on stories260k). */
export const MIN_BLOCKS = 4;

/** Query rows per block for a sequence of `length` tokens: the same arithmetic as planAttention's graph. */
export function attentionBlockRows(length: number): number {
  const blocks = Math.max(MIN_BLOCKS, Math.ceil(length / MAX_BLOCK_ROWS));
  return Math.ceil(length / blocks);
}
/** The bias of a masked key (float32 throughout, so it stays finite). */
export const MASKED = -1e9;

/** Computed once per attention mask, shared by every layer. */
export interface AttentionPlan {
  /** T ([1] int64). */
  length: string;
  /** Rows per block, ceil(T / blocks) ([1]). */
  blockRows: string;
  /** Number of blocks, max(MIN_BLOCKS, ceil(T / MAX_BLOCK_ROWS)) (int64 scalar: the Loops' trip count). */
  blocks: string;
  /** Queries are padded to whole blocks: `padded` = blocks × blockRows, and `pad` = padded − T ([1]). */
  padded: string;
  pad: string;
  /** [B,1,1,T] in the compute type: 0 for real keys, MASKED for padding (folded into the score product). */
  keyBias: string;
  /**
   * [rep*rows, padded+rows] float32, the causal mask of every block in one: row r (of any query
   * head of the group) has MASKED in the columns past padded + r. Block i's mask over keys [0, end)
   * is the slice from column padded − start: 0 before the block, the triangle within it.
   */
  causal: string;
}

/** The layout for `mask` [B,T] (int64, 1 for real tokens) and query groups of `rep` heads. */
export function planAttention(g: OnnxGraph, mask: string, rep: number, valueType: FloatType): AttentionPlan {
  const length = g.op('Slice', [g.op('Shape', [mask]), g.constInt64([1]), g.constInt64([2])]);
  const ceilDiv = (a: string, b: string) => g.op('Div', [g.op('Sub', [g.op('Add', [a, b]), g.constInt64([1])]), b]);
  const blocks = g.op('Max', [ceilDiv(length, g.constInt64([MAX_BLOCK_ROWS])), g.constInt64([MIN_BLOCKS])]);
  const blockRows = ceilDiv(length, blocks);
  const padded = g.op('Mul', [blocks, blockRows]);
  const real = g.op('Cast', [g.op('Unsqueeze', [mask, g.constInt64([1, 2])])], { to: DType.bool });
  const keyBias = g.op('Where', [real, g.constFloat([0], [], valueType), g.constFloat([MASKED], [], valueType)]);
  const range = (n: string) => g.op('Range', [g.constInt64([0], []), g.op('Squeeze', [n]), g.constInt64([1], [])]);
  const columns = range(g.op('Add', [padded, blockRows]));
  const rowLimits = g.op('Unsqueeze', [g.op('Add', [range(blockRows), padded]), g.constInt64([1])]);
  const band = g.op('Where', [g.op('Greater', [columns, rowLimits]), g.constFloat([MASKED]), g.constFloat([0])]);
  return {
    length,
    blockRows,
    blocks: g.op('Squeeze', [blocks]),
    padded,
    pad: g.op('Sub', [padded, length]),
    keyBias,
    causal: g.op('Tile', [band, g.constInt64([rep, 1])]),
  };
}

/** Block i of a Loop body: query rows [start, stop), keys [0, end), and their causal mask [rep*rows, end]. */
export interface Block {
  start: string;
  stop: string;
  end: string;
  causal: string;
}

export function blockOf(b: OnnxGraph, plan: AttentionPlan, iteration: string): Block {
  const start = b.op('Mul', [iteration, plan.blockRows]);
  const stop = b.op('Add', [start, plan.blockRows]);
  const end = b.op('Min', [stop, plan.length]);
  const from = b.op('Sub', [plan.padded, start]);
  return { start, stop, end, causal: cut(b, plan.causal, 1, from, b.op('Add', [from, end])) };
}

export function cut(g: OnnxGraph, x: string, axis: number, from: string, to: string): string {
  return g.op('Slice', [x, from, to, g.constInt64([axis])]);
}

/** x padded with `amount` ([1] int64) zeros at the end of `axis`. */
export function padAxis(g: OnnxGraph, x: string, rank: number, axis: number, amount: string): string {
  const pads = Array.from({ length: 2 * rank }, (_, i) => (i === rank + axis ? amount : g.constInt64([0])));
  return g.op('Pad', [x, g.op('Concat', pads, { axis: 0 })]);
}

/** [B,KV,rep,rows,w] as [B,KV,rep*rows,w]. */
export function rowsOf(g: OnnxGraph, x: string, width: number): string {
  return g.op('Reshape', [x, g.constInt64([0, 0, -1, width])]);
}
