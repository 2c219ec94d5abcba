import { featurizeInBatches } from '../audit/featurize-batches.ts';
import type { ExampleFeatures, FeatureModel } from '../features/feature-model.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { FeatureCache } from './feature-cache.ts';
import { tokenDigest } from './token-digest.ts';

/** An example to featurize: its content id and its tokens. */
export interface FeatureRequest {
  id: string;
  tokenized: TokenizedExample;
}

/**
 * Features in input order, like featurizeInBatches, but taken from `cache` where it holds them
 * (same id, same tokens) and computed only for the rest, which are then added to the cache.
 * The misses are featurized (on the model's threads) while the hits are read back. An id
 * repeated within one call is computed once; its repeats count as hits.
 */
export async function featurizeWithCache(
  model: FeatureModel,
  requests: readonly FeatureRequest[],
  batchSize: number,
  cache: FeatureCache | undefined,
): Promise<ExampleFeatures[]> {
  if (cache === undefined) return featurizeInBatches(model, requests.map((r) => r.tokenized), batchSize);
  const digests = requests.map((r) => tokenDigest(r.tokenized));
  const keyOf = (i: number) => `${requests[i]!.id}\u0000${digests[i]}`;
  // First position of each distinct (id, digest); the others reuse its result.
  const first = new Map<string, number>();
  for (let i = 0; i < requests.length; i++) if (!first.has(keyOf(i))) first.set(keyOf(i), i);
  const unique = [...first.values()];
  cache.stats.hits += requests.length - unique.length;

  const cached = unique.filter((i) => cache.has(requests[i]!.id, digests[i]));
  const missing = unique.filter((i) => !cache.has(requests[i]!.id, digests[i]));
  const computing = featurizeInBatches(model, missing.map((i) => requests[i]!.tokenized), batchSize);
  computing.catch(() => undefined); // awaited below; not "unhandled" while the hits are read
  const found = await cache.lookup(cached.map((i) => requests[i]!.id), cached.map((i) => digests[i]));
  cache.stats.misses += missing.length;
  // Entries of a segment found missing or damaged on reading are computed after all.
  const late = cached.filter((_, c) => found[c] === undefined);
  const computed = [...(await computing), ...(await featurizeInBatches(model, late.map((i) => requests[i]!.tokenized), batchSize))];
  const recomputed = [...missing, ...late];

  const byPosition = new Map<number, ExampleFeatures>();
  cached.forEach((i, c) => {
    const hit = found[c];
    if (hit) byPosition.set(i, hit.features);
  });
  recomputed.forEach((i, m) => byPosition.set(i, computed[m]!));
  await cache.put(recomputed.map((i, m) => ({
    id: requests[i]!.id,
    digest: digests[i]!,
    tokens: requests[i]!.tokenized.ids.length,
    truncated: requests[i]!.tokenized.truncated,
    features: computed[m]!,
  })));
  return requests.map((_, i) => byPosition.get(first.get(keyOf(i))!)!);
}
