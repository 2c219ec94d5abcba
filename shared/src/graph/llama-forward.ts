import type { LlamaConfig } from '../model/llama-config.ts';
import type { AttentionMode } from './autodiff/attention-mode.ts';
import type { DiffGraph, Value } from './autodiff/diff-graph.ts';
import { DType, type FloatType } from './onnx-graph.ts';
import { BATCH } from './autodiff/shapes.ts';
import { ropeInverseFrequencies } from './rope.ts';

/** What the forward needs from a checkpoint: weights by Hugging Face name, as stored ([out, in]). */
export interface WeightSource {
  readonly config: LlamaConfig;
  tensorNames(): string[];
  readTensor(name: string): Promise<Float32Array>;
}

export const SEQ = 'seq';

/** Values the forward leaves for the feature heads. */
export interface ForwardValues {
  /** Final-norm hidden states, [B, T, D]. */
  finalHidden: Value;
  /** The LM-head weight initializer [V, D] (the embedding table when tied). */
  headWeight: string;
  /** Residual stream after each layer of `residualLayers` (HF `hidden_states[l+1]`), [B, T, D] each, in layer order. */
  residuals: Value[];
}

/**
 * Emits the Hugging Face Llama forward (RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU,
 * optional q/k/v/o and MLP biases) over right-padded `input_ids` and `attention_mask`, through the
 * differentiable builder so any parameter's per-example gradient can be asked for.
 */
export async function emitLlamaForward(
  d: DiffGraph,
  weights: WeightSource,
  inputIds: Value,
  attentionMask: string,
  dtype: FloatType = DType.float,
  attention: AttentionMode = 'stored',
  residualLayers: readonly number[] = [],
): Promise<ForwardValues> {
  const c = weights.config;
  const g = d.g;
  const D = c.hiddenSize;
  const hd = c.headDim;
  const nRep = c.numHeads / c.numKvHeads;
  const stored = new Set(weights.tensorNames());
  const param = async (name: string, dims: number[]) => g.weight(name, await weights.readTensor(name), dims, dtype);

  const seqLen = g.op('Slice', [g.op('Shape', [inputIds.name]), g.constInt64([1]), g.constInt64([2])]);
  const embedName = 'model.embed_tokens.weight';
  const embedTable = await param(embedName, [c.vocabSize, D]);
  let x = d.embedding(embedName, embedTable, D, inputIds, dtype);
  const residuals: Value[] = [];

  const keyMask = d.constant(attentionMask, [BATCH, SEQ], DType.int64);
  const rope = emitRopeTables(d, c, seqLen, dtype);
  const scale = d.constant(g.constFloat([1 / Math.sqrt(hd)], [], dtype), [], dtype);

  // Normalised in float32 whatever the compute type (as HF does): squares overflow float16.
  const rmsNorm = async (input: Value, name: string) => {
    const x32 = d.cast(input, DType.float);
    const meanSquare = d.reduceMean(d.mul(x32, x32), [-1]);
    const inv = d.reciprocal(d.sqrt(d.add(meanSquare, d.constant(g.constFloat([c.rmsNormEps]), []))));
    return d.scaleByParam(d.cast(d.mul(x32, inv), dtype), name, await param(name, [D]));
  };
  const linear = async (input: Value, prefix: string, inDim: number, outDim: number) => {
    let y = d.linear(input, `${prefix}.weight`, await param(`${prefix}.weight`, [outDim, inDim]), outDim, inDim);
    if (stored.has(`${prefix}.bias`)) y = d.addParam(y, `${prefix}.bias`, await param(`${prefix}.bias`, [outDim]));
    return y;
  };
  const heads = (input: Value, count: number) => d.transpose(d.reshape(input, [BATCH, SEQ, count, hd]), [0, 2, 1, 3]);
  const applyRope = (input: Value) => d.add(d.mul(input, rope.cos), d.mul(d.matmul(input, rope.rotate), rope.sin));

  for (let layer = 0; layer < c.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const h = await rmsNorm(x, `${p}.input_layernorm.weight`);
    const q = applyRope(heads(await linear(h, `${p}.self_attn.q_proj`, D, c.numHeads * hd), c.numHeads));
    const k = applyRope(heads(await linear(h, `${p}.self_attn.k_proj`, D, c.numKvHeads * hd), c.numKvHeads));
    const v = heads(await linear(h, `${p}.self_attn.v_proj`, D, c.numKvHeads * hd), c.numKvHeads);

    // Query heads grouped by their KV head, [B,KV,rep,T,hd]; K and V broadcast over the group.
    const qGrouped = d.reshape(d.mul(q, scale), [BATCH, c.numKvHeads, nRep, SEQ, hd]);
    const context = d.reshape(d.attention(qGrouped, k, v, keyMask, attention), [BATCH, c.numHeads, SEQ, hd]);
    const merged = d.reshape(d.transpose(context, [0, 2, 1, 3]), [BATCH, SEQ, c.numHeads * hd]);
    x = d.add(x, await linear(merged, `${p}.self_attn.o_proj`, c.numHeads * hd, D));

    const h2 = await rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = await linear(h2, `${p}.mlp.gate_proj`, D, c.intermediateSize);
    const up = await linear(h2, `${p}.mlp.up_proj`, D, c.intermediateSize);
    const act = d.mul(d.mul(gate, d.sigmoid(gate)), up);
    x = d.add(x, await linear(act, `${p}.mlp.down_proj`, c.intermediateSize, D));
    // Only read by name (forward-only heads): no node is added here, so the graph is unchanged.
    if (residualLayers.includes(layer)) residuals.push(x);
  }

  const finalHidden = await rmsNorm(x, 'model.norm.weight');
  // Tied checkpoints share one table between the lookup and the head: one copy in memory.
  const headWeight = c.tieWordEmbeddings ? embedTable : await param('lm_head.weight', [c.vocabSize, D]);
  return { finalHidden, headWeight, residuals };
}

function emitRopeTables(d: DiffGraph, c: LlamaConfig, seqLen: string, dtype: FloatType): { cos: Value; sin: Value; rotate: Value } {
  const g = d.g;
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
    cos: d.constant(g.op('Slice', [g.weight('rope_cos', cos, [maxPos, hd], dtype), zero, seqLen, zero]), [SEQ, hd], dtype),
    sin: d.constant(g.op('Slice', [g.weight('rope_sin', sin, [maxPos, hd], dtype), zero, seqLen, zero]), [SEQ, hd], dtype),
    rotate: d.constant(g.weight('rope_rotate_half', rotation, [hd, hd], dtype), [hd, hd], dtype),
  };
}
