import type { ExampleFeatures, FeatureModel } from './feature-model.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';

/** How big one model call may be: examples, and padded tokens (examples × the longest one). */
export interface BatchLimits {
  examples: number;
  tokens: number;
}

/** At most `examples` per batch, with no token limit beyond what that implies. */
export function examplesPerBatch(examples: number): BatchLimits {
  return { examples, tokens: Infinity };
}

/**
 * Batches of examples sorted by length, longest first, so padding wastes little compute: each
 * batch takes the next examples while it has fewer than `limits.examples` and its padded size
 * (count × its first, longest, example) stays within `limits.tokens`. A single example longer
 * than the token limit still gets a batch of its own.
 */
export function lengthBuckets(lengths: readonly number[], limits: BatchLimits): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const index of order) {
    const longest = current.length > 0 ? lengths[current[0]!]! : lengths[index]!;
    if (current.length > 0 && (current.length >= limits.examples || (current.length + 1) * longest > limits.tokens)) {
      batches.push(current);
      current = [];
    }
    current.push(index);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Progress and cancellation of a featurize call. */
export interface FeaturizeControl {
  /** Called after each model batch (and for cache hits) with the examples it finished. */
  onBatch?: (done: number) => void;
  /** Checked before each model batch: an aborted signal stops the call with its reason. */
  signal?: AbortSignal;
}

/**
 * Features for many examples, in their input order, computed in length buckets; the order of
 * results does not depend on batching. Up to `model.concurrency` batches are in flight at once (a
 * pool of sessions runs them side by side).
 */
export async function featurizeInBatches(
  model: FeatureModel,
  examples: readonly TokenizedExample[],
  limits: BatchLimits,
  control: FeaturizeControl = {},
): Promise<ExampleFeatures[]> {
  const { onBatch, signal } = control;
  const batches = lengthBuckets(examples.map((e) => e.ids.length), limits);
  const results = new Array<ExampleFeatures>(examples.length);
  let next = 0;
  // Each lane takes the next batch when its previous one is done; results go to their input slots.
  const lane = async () => {
    while (next < batches.length) {
      signal?.throwIfAborted();
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
