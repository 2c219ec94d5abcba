import type { ExampleFeatures, FeatureModel } from '../features/feature-model.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';

/**
 * Features for many examples, in their input order. Examples are batched by length (longest
 * first) so padding wastes little compute; the order of results does not depend on batching.
 */
export async function featurizeInBatches(
  model: FeatureModel,
  examples: readonly TokenizedExample[],
  batchSize: number,
  onBatch?: (done: number) => void,
): Promise<ExampleFeatures[]> {
  const order = examples.map((_, i) => i).sort((a, b) => examples[b]!.ids.length - examples[a]!.ids.length || a - b);
  const results = new Array<ExampleFeatures>(examples.length);
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    const features = await model.featurize(indices.map((i) => examples[i]!));
    indices.forEach((index, j) => (results[index] = features[j]!));
    onBatch?.(indices.length);
  }
  return results;
}
