import type { LlamaConfig } from './llama-config.ts';

export type TensorRole = 'embedding' | 'norm' | 'matrix' | 'bias';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  role: TensorRole;
}

export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const LM_HEAD = 'lm_head.weight';
export const FINAL_NORM = 'model.norm.weight';

/**
 * The tensors a Hugging Face *ForCausalLM checkpoint of this config holds, in the usual file order.
 * Matrices are (out_features, in_features). `lm_head.weight` is left out when embeddings are tied.
 */
export function expectedLlamaTensors(config: LlamaConfig): ExpectedTensor[] {
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const ff = config.intermediateSize;
  const out: ExpectedTensor[] = [{ name: EMBED_TOKENS, shape: [config.vocabSize, h], role: 'embedding' }];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    const add = (name: string, shape: number[], role: TensorRole): void => {
      out.push({ name: `${p}.${name}`, shape, role });
    };
    add('input_layernorm.weight', [h], 'norm');
    add('self_attn.q_proj.weight', [q, h], 'matrix');
    if (config.attentionBias) add('self_attn.q_proj.bias', [q], 'bias');
    add('self_attn.k_proj.weight', [kv, h], 'matrix');
    if (config.attentionBias) add('self_attn.k_proj.bias', [kv], 'bias');
    add('self_attn.v_proj.weight', [kv, h], 'matrix');
    if (config.attentionBias) add('self_attn.v_proj.bias', [kv], 'bias');
    add('self_attn.o_proj.weight', [h, q], 'matrix');
    if (config.attentionOutputBias) add('self_attn.o_proj.bias', [h], 'bias');
    add('post_attention_layernorm.weight', [h], 'norm');
    add('mlp.gate_proj.weight', [ff, h], 'matrix');
    if (config.mlpBias) add('mlp.gate_proj.bias', [ff], 'bias');
    add('mlp.up_proj.weight', [ff, h], 'matrix');
    if (config.mlpBias) add('mlp.up_proj.bias', [ff], 'bias');
    add('mlp.down_proj.weight', [h, ff], 'matrix');
    if (config.mlpBias) add('mlp.down_proj.bias', [h], 'bias');
  }
  out.push({ name: FINAL_NORM, shape: [h], role: 'norm' });
  if (!config.tieWordEmbeddings) out.push({ name: LM_HEAD, shape: [config.vocabSize, h], role: 'matrix' });
  return out;
}

/** Parameter count, embedding counted once when tied. */
export function countParameters(config: LlamaConfig): number {
  return expectedLlamaTensors(config).reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
}
