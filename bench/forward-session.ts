import * as ort from 'onnxruntime-node';
import { buildForwardGraph, buildLossForwardGraph, FEATURE_IO, GRAPH_BUILDER_VERSION } from '../shared/src/graph/feature-graph.ts';
import { cachedGraph } from '../shared/src/graph/graph-cache.ts';
import { openGraphSession } from '../shared/src/features/optimized-session.ts';
import { padBatch } from '../shared/src/features/padded-batch.ts';
import type { Checkpoint } from '../shared/src/model/checkpoint.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';

/**
 * A forward-only baseline (run returns the per-example losses of the 'loss' kind) the features are measured against:
 * - 'logits': logits at every position (what a plain `model(input_ids)` returns);
 * - 'loss': only what the features need from a forward, the representation and the mean response
 *   loss (the head at label positions only): the feature graph minus its backward.
 */
export type ForwardKind = 'logits' | 'loss';

export async function openForwardSession(
  checkpoint: Checkpoint,
  kind: ForwardKind = 'logits',
  threads?: number,
): Promise<{ run(batch: TokenizedExample[]): Promise<Float32Array | null>; close(): Promise<void> }> {
  const graph = await cachedGraph({ kind: kind === 'logits' ? 'forward' : 'loss-forward', builder: GRAPH_BUILDER_VERSION, model: checkpoint.fingerprint }, (dataPath) =>
    kind === 'logits' ? buildForwardGraph(checkpoint, dataPath) : buildLossForwardGraph(checkpoint, dataPath),
  );
  // Opened as the feature model opens its graph (optimised once, weights pre-packed), so only the graphs differ.
  const session = await openGraphSession(graph.modelPath, { optimization: 'all', providers: ['cpu'], ...(threads ? { threads } : {}) });
  return {
    async run(batch) {
      const padded = padBatch(batch);
      const dims = [padded.batch, padded.seq];
      const out = await session.run({
        [FEATURE_IO.inputIds]: new ort.Tensor('int64', padded.inputIds, dims),
        [FEATURE_IO.attentionMask]: new ort.Tensor('int64', padded.attentionMask, dims),
        ...(kind === 'loss' ? { [FEATURE_IO.lossWeights]: new ort.Tensor('float32', padded.lossWeights, dims) } : {}),
      });
      return kind === 'loss' ? (out[FEATURE_IO.loss]!.data as Float32Array) : null;
    },
    close: () => session.release(),
  };
}
