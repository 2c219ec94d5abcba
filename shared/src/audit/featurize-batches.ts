import type { ExampleFeatures, FeatureModel } from '../features/feature-model.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';

/**
 * Features for many examples, in their input order. Examples are batched by length (longest
 * first) so padding wastes little compute; the order of results does not depend on batching.
 * Up to `model.concurrency` batches are in flight at once (a worker pool runs them side by side).
 */
export async function featurizeInBatches(
  model: FeatureModel,
  examples: readonly TokenizedExample[],
  batchSize: number,
  onBatch?: (done: number) => void,
): Promise<ExampleFeatures[]> {
  const order = examples.map((_, i) => i).sort((a, b) => examples[b]!.ids.length - examples[a]!.ids.length || a - b);
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += batchSize) batches.push(order.slice(start, start + batchSize));
  const results = new Array<ExampleFeatures>(examples.length);
  let next = 0;
  // Each lane takes the next batch when its previous one is done; results go to their input slots.
  const lane = async () => {
    while (next < batches.length) {
      const indices = batches[next++]!;
      const features = await model.featurize(indices.map((i) => examples[i]!));
      indices.forEach((index, j) => (results[index] = features[j]!));
      onBatch?.(indices.length);
    }
  };
  const lanes = Math.max(1, Math.min(model.concurrency ?? 1, batches.length));
  await Promise.all(Array.from({ length: lanes }, lane));
  return results;
}
