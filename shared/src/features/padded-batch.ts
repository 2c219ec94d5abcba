import type { TokenizedExample } from '../prompt/tokenized.ts';

/** Right-padded model inputs for a batch, flattened row-major [batch, seq]. */
export interface PaddedBatch {
  batch: number;
  seq: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  lossWeights: Float32Array;
}

/** Pads with id 0 and mask 0; padded positions carry zero loss weight, so they change nothing. */
export function padBatch(examples: readonly TokenizedExample[]): PaddedBatch {
  const batch = examples.length;
  const seq = Math.max(...examples.map((e) => e.ids.length));
  const inputIds = new BigInt64Array(batch * seq);
  const attentionMask = new BigInt64Array(batch * seq);
  const lossWeights = new Float32Array(batch * seq);
  examples.forEach((example, b) => {
    const base = b * seq;
    for (let t = 0; t < example.ids.length; t++) {
      inputIds[base + t] = BigInt(example.ids[t]!);
      attentionMask[base + t] = 1n;
    }
    lossWeights.set(example.lossWeights, base);
  });
  return { batch, seq, inputIds, attentionMask, lossWeights };
}
