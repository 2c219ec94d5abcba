import { test } from 'node:test';
import assert from 'node:assert/strict';
import { examplesPerBatch } from '../../../shared/src/features/featurize-batches.ts';
import type { FeatureModel } from '../../../shared/src/features/feature-model.ts';
import type { TokenizedExample } from '../../../shared/src/prompt/tokenized.ts';
import { nameAnchorSets } from '../../../shared/src/scoring/anchor-sets.ts';
import { GradientScorer } from '../../../shared/src/scoring/gradient-score.ts';
import { streamedScores } from '../../../bench/streaming-gradient-score.ts';
import { assertClose, randomVector, rng } from './random.ts';

const DIM = 97;
/** A gradient determined by the example's first id, so batching and order cannot matter. */
const gradientOf = (e: TokenizedExample) => randomVector(rng(e.ids[0]!), DIM);
const example = (seed: number, length: number): TokenizedExample => ({
  ids: Int32Array.from({ length }, (_, i) => (i === 0 ? seed : 1)),
  lossWeights: new Float32Array(length),
  labelCount: 1,
  truncated: false,
});
const fakeModel: FeatureModel = {
  info: { fingerprint: 'fake', probe: 'all', projection: 'none', representationDim: 1, gradientDim: DIM, directionLayers: [] },
  featurize: async (batch) => batch.map((e) => ({ representation: new Float32Array(1), loss: 0, gradient: gradientOf(e), layerStates: new Float32Array(0) })),
  close: async () => {},
};

test('streamed targets score as GradientScorer does, whatever the batching', async () => {
  const specs = nameAnchorSets(['h'], ['s1', 's2'], [1, -1, -0.5]);
  const anchors = specs.map((spec, s) => ({ spec, examples: Array.from({ length: 3 + s }, (_, i) => example(100 * (s + 1) + i, 2 + ((i * 7) % 5))) }));
  const examples = Array.from({ length: 20 }, (_, i) => example(1000 + i, 1 + ((i * 5) % 9)));
  const scorer = new GradientScorer(anchors.map(({ spec, examples: a }) => ({ spec, vectors: a.map(gradientOf) })));
  for (const batch of [1, 3, 8]) {
    const { scores } = await streamedScores(fakeModel, anchors, examples, examplesPerBatch(batch));
    assert.equal(scores.length, examples.length);
    examples.forEach((e, i) => assertClose(scores[i]!, scorer.score(gradientOf(e)).score, 1e-12, `batch ${batch}, example ${i}:`));
  }
});
