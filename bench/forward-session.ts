import * as ort from 'onnxruntime-node';
import { buildForwardGraph, FEATURE_IO, GRAPH_BUILDER_VERSION } from '../shared/src/graph/feature-graph.ts';
import { cachedGraph } from '../shared/src/graph/graph-cache.ts';
import { padBatch } from '../shared/src/features/padded-batch.ts';
import type { Checkpoint } from '../shared/src/model/checkpoint.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';

/** The plain forward (logits only) of a checkpoint: the baseline features are measured against. */
export async function openForwardSession(checkpoint: Checkpoint): Promise<{ run(batch: TokenizedExample[]): Promise<void>; close(): Promise<void> }> {
  const graph = await cachedGraph({ kind: 'forward', builder: GRAPH_BUILDER_VERSION, model: checkpoint.fingerprint }, (dataPath) =>
    buildForwardGraph(checkpoint, dataPath),
  );
  const session = await ort.InferenceSession.create(graph.modelPath, { graphOptimizationLevel: 'all' });
  return {
    async run(batch) {
      const padded = padBatch(batch);
      const dims = [padded.batch, padded.seq];
      await session.run({
        [FEATURE_IO.inputIds]: new ort.Tensor('int64', padded.inputIds, dims),
        [FEATURE_IO.attentionMask]: new ort.Tensor('int64', padded.attentionMask, dims),
      });
    },
    close: () => session.release(),
  };
}
