import type { LlamaConfig } from '../model/llama-config.ts';

/**
 * RoPE inverse frequencies as Hugging Face computes them (float32), including Llama-3's
 * frequency-dependent scaling (`rope_scaling.rope_type == "llama3"`).
 */
export function ropeInverseFrequencies(config: LlamaConfig): Float32Array {
  const dim = config.headDim;
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = 1 / Math.pow(config.ropeTheta, Math.fround((2 * i) / dim));
  const scaling = config.ropeScaling;
  if (!scaling) return inv;

  const lowFreqWavelen = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
  const highFreqWavelen = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const freq = inv[i]!;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen > lowFreqWavelen) {
      inv[i] = freq / scaling.factor;
    } else if (wavelen >= highFreqWavelen) {
      // Medium band: interpolate between scaled and unscaled.
      const smooth =
        (scaling.originalMaxPositionEmbeddings / wavelen - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
      inv[i] = (1 - smooth) * (freq / scaling.factor) + smooth * freq;
    }
  }
  return inv;
}
