import type { LlamaConfig } from '../model/llama-config.ts';
import { OnnxGraph } from './onnx-graph.ts';
import { ropeInverseFrequencies } from './rope.ts';

/** What the forward needs from a checkpoint: weights by Hugging Face name, as stored ([out, in]). */
export interface WeightSource {
  readonly config: LlamaConfig;
  tensorNames(): string[];
  readTensor(name: string): Promise<Float32Array>;
}

/** Values the forward leaves in the graph for the feature heads. */
export interface ForwardValues {
  /** Final-norm hidden states, [B, T, D]. */
  finalHidden: string;
  /** LM-head weight transposed, [D, V] (for tied models: the embedding, classifier use only). */
  lmHeadT: string;
  /** Sequence length as a 1-element int64 tensor. */
  seqLen: string;
}

/**
 * Emits the Hugging Face Llama forward (RMSNorm, rotate-half RoPE, grouped-query attention,
 * SwiGLU, optional q/k/v biases) over right-padded inputs `input_ids` and `attention_mask`.
 */
export async function emitLlamaForward(g: OnnxGraph, weights: WeightSource, inputIds: string, attentionMask: string): Promise<ForwardValues> {
  const c = weights.config;
  const D = c.hiddenSize;
  const hd = c.headDim;
  const nRep = c.numHeads / c.numKvHeads;

  const shape = g.op('Shape', [inputIds]);
  const seqLen = g.op('Slice', [shape, g.constInt64([1]), g.constInt64([2])]);

  const embed = g.weight('embed_tokens', await weights.readTensor('model.embed_tokens.weight'), [c.vocabSize, D]);
  let x = g.op('Gather', [embed, inputIds]);

  const attnBias = emitAttentionBias(g, attentionMask, seqLen);
  const { cos, sin, rotate } = emitRopeTables(g, c, seqLen);
  const scale = g.constFloat([1 / Math.sqrt(hd)]);

  for (let layer = 0; layer < c.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const h = await rmsNorm(g, weights, x, `${p}.input_layernorm.weight`, c.rmsNormEps);
    const q = await linear(g, weights, h, `${p}.self_attn.q_proj`, D, c.numHeads * hd);
    const k = await linear(g, weights, h, `${p}.self_attn.k_proj`, D, c.numKvHeads * hd);
    const v = await linear(g, weights, h, `${p}.self_attn.v_proj`, D, c.numKvHeads * hd);

    // [B,T,H*hd] -> [B,H,T,hd], rotate, then group query heads by their KV head: [B,KV,rep,T,hd].
    const qHeads = applyRope(g, splitHeads(g, q, c.numHeads, hd), cos, sin, rotate);
    const kHeads = applyRope(g, splitHeads(g, k, c.numKvHeads, hd), cos, sin, rotate);
    const vHeads = splitHeads(g, v, c.numKvHeads, hd);
    const qGrouped = g.op('Reshape', [g.op('Mul', [qHeads, scale]), g.constInt64([0, c.numKvHeads, nRep, -1, hd])]);
    const kGrouped = g.op('Unsqueeze', [kHeads, g.constInt64([2])]);
    const vGrouped = g.op('Unsqueeze', [vHeads, g.constInt64([2])]);

    const scores = g.op('Add', [g.op('MatMul', [qGrouped, g.op('Transpose', [kGrouped], { perm: [0, 1, 2, 4, 3] })]), attnBias]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const context = g.op('MatMul', [probs, vGrouped]);
    const merged = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [context, g.constInt64([0, c.numHeads, -1, hd])])], { perm: [0, 2, 1, 3] }),
      g.constInt64([0, 0, c.numHeads * hd]),
    ]);
    x = g.op('Add', [x, await linear(g, weights, merged, `${p}.self_attn.o_proj`, c.numHeads * hd, D)]);

    const h2 = await rmsNorm(g, weights, x, `${p}.post_attention_layernorm.weight`, c.rmsNormEps);
    const gate = await linear(g, weights, h2, `${p}.mlp.gate_proj`, D, c.intermediateSize);
    const up = await linear(g, weights, h2, `${p}.mlp.up_proj`, D, c.intermediateSize);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, await linear(g, weights, act, `${p}.mlp.down_proj`, c.intermediateSize, D)]);
  }

  const finalHidden = await rmsNorm(g, weights, x, 'model.norm.weight', c.rmsNormEps);
  // Tied checkpoints serve lm_head.weight from the embedding: the classifier's own copy here.
  const lmHeadT = g.weight('lm_head_t', transpose(await weights.readTensor('lm_head.weight'), c.vocabSize, D), [D, c.vocabSize]);
  return { finalHidden, lmHeadT, seqLen };
}

/** Additive attention bias [B,1,1,T,T]: 0 where key j <= query i and j is a real token, else -1e9. */
function emitAttentionBias(g: OnnxGraph, attentionMask: string, seqLen: string): string {
  const positions = g.op('Range', [g.constInt64([0], []), g.op('Squeeze', [seqLen]), g.constInt64([1], [])]);
  const queries = g.op('Unsqueeze', [positions, g.constInt64([1])]);
  const causal = g.op('LessOrEqual', [positions, queries]); // [T,T]: key <= query
  const keep = g.op('Cast', [g.op('Unsqueeze', [attentionMask, g.constInt64([1, 2, 3])])], { to: 9 });
  const allowed = g.op('And', [causal, keep]); // [B,1,1,1,T] & [T,T] -> [B,1,1,T,T]
  return g.op('Where', [allowed, g.constFloat([0]), g.constFloat([-1e9])]);
}

function emitRopeTables(g: OnnxGraph, c: LlamaConfig, seqLen: string): { cos: string; sin: string; rotate: string } {
  const hd = c.headDim;
  const invFreq = ropeInverseFrequencies(c);
  const maxPos = c.maxPositionEmbeddings;
  const cos = new Float32Array(maxPos * hd);
  const sin = new Float32Array(maxPos * hd);
  for (let t = 0; t < maxPos; t++) {
    for (let j = 0; j < hd; j++) {
      // HF computes the angle in float32 (positions x inv_freq), then cos/sin.
      const angle = Math.fround(t * Math.fround(invFreq[j % (hd / 2)]!));
      cos[t * hd + j] = Math.cos(angle);
      sin[t * hd + j] = Math.sin(angle);
    }
  }
  // rotate_half(x) = cat(-x[h/2:], x[:h/2]) written as x @ R, so it stays one MatMul.
  const rotation = new Float32Array(hd * hd);
  for (let j = 0; j < hd / 2; j++) {
    rotation[(j + hd / 2) * hd + j] = -1;
    rotation[j * hd + j + hd / 2] = 1;
  }
  const zero = g.constInt64([0]);
  return {
    cos: g.op('Slice', [g.weight('rope_cos', cos, [maxPos, hd]), zero, seqLen, zero]),
    sin: g.op('Slice', [g.weight('rope_sin', sin, [maxPos, hd]), zero, seqLen, zero]),
    rotate: g.weight('rope_rotate_half', rotation, [hd, hd]),
  };
}

function applyRope(g: OnnxGraph, x: string, cos: string, sin: string, rotate: string): string {
  return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [g.op('MatMul', [x, rotate]), sin])]);
}

function splitHeads(g: OnnxGraph, x: string, heads: number, hd: number): string {
  return g.op('Transpose', [g.op('Reshape', [x, g.constInt64([0, 0, heads, hd])])], { perm: [0, 2, 1, 3] });
}

async function rmsNorm(g: OnnxGraph, weights: WeightSource, x: string, name: string, eps: number): Promise<string> {
  const w = g.weight(name, await weights.readTensor(name), [weights.config.hiddenSize]);
  const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x]), g.constInt64([-1])], { keepdims: 1 });
  const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.constFloat([eps])])])]);
  return g.op('Mul', [g.op('Mul', [x, inv]), w]);
}

/** y = x W^T (+ b), with W stored pre-transposed as [in, out] so no Transpose runs at inference. */
async function linear(g: OnnxGraph, weights: WeightSource, x: string, prefix: string, inDim: number, outDim: number): Promise<string> {
  const wT = g.weight(`${prefix}.weight_t`, transpose(await weights.readTensor(`${prefix}.weight`), outDim, inDim), [inDim, outDim]);
  let y = g.op('MatMul', [x, wT]);
  if (weights.tensorNames().includes(`${prefix}.bias`)) {
    y = g.op('Add', [y, g.weight(`${prefix}.bias`, await weights.readTensor(`${prefix}.bias`), [outDim])]);
  }
  return y;
}

/** Row-major [rows, cols] -> [cols, rows]. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  if (data.length !== rows * cols) throw new Error(`transpose: expected ${rows}x${cols}, got ${data.length} values`);
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let col = 0; col < cols; col++) out[col * rows + r] = data[base + col]!;
  }
  return out;
}
