import { featurizeInBatches } from '../audit/featurize-batches.ts';
import type { ExampleFeatures, FeatureModel } from '../features/feature-model.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { CachedFeatures, FeatureCache, NewCacheEntry } from './feature-cache.ts';
import { tokenDigest } from './token-digest.ts';

/** An example to featurize: its content id and its tokens. */
export interface FeatureRequest {
  id: string;
  tokenized: TokenizedExample;
}

/** Projects gradients onto a fixed set of targets (GradientScorer). */
export interface GradientProjector {
  /** Names the targets; projections stored under another name are not reused. */
  readonly target: string;
  project(gradient: Float32Array): Float64Array;
}

/** An example's features with its gradient reduced to the projection a score needs. */
export interface ProjectedFeatures {
  loss: number;
  representation: Float32Array;
  /** `GradientProjector.project` of the gradient. */
  projection: Float64Array;
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
  const resolved = await resolveFeatures(model, requests, batchSize, cache, undefined);
  return resolved.map(({ loss, representation, gradient }) => ({ loss, representation, gradient: gradient! }));
}

/**
 * Like featurizeWithCache, with each gradient projected by `projector`. Cached entries that hold
 * the projection onto the same targets are used without reading their gradients; computed entries
 * are stored with their projection, so the next run against these targets reads no gradient.
 */
export async function featurizeProjected(
  model: FeatureModel,
  requests: readonly FeatureRequest[],
  batchSize: number,
  cache: FeatureCache | undefined,
  projector: GradientProjector,
): Promise<ProjectedFeatures[]> {
  const resolved = await resolveFeatures(model, requests, batchSize, cache, projector);
  return resolved.map(({ loss, representation, gradient, projection }) => ({
    loss,
    representation,
    projection: projection?.target === projector.target ? projection.values : projector.project(gradient!),
  }));
}

/** Cached or computed features per request; gradients are null only where the projector's projection is. */
async function resolveFeatures(
  model: FeatureModel,
  requests: readonly FeatureRequest[],
  batchSize: number,
  cache: FeatureCache | undefined,
  projector: GradientProjector | undefined,
): Promise<CachedFeatures[]> {
  if (cache === undefined) {
    const computed = await featurizeInBatches(model, requests.map((r) => r.tokenized), batchSize);
    return computed.map((f) => ({ ...f, projection: null }));
  }
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
  const lookupOptions = projector === undefined ? {} : { projection: projector.target };
  const found = await cache.lookup(cached.map((i) => requests[i]!.id), cached.map((i) => digests[i]), lookupOptions);
  cache.stats.misses += missing.length;
  // Entries of a segment found missing or damaged on reading are computed after all.
  const late = cached.filter((_, c) => found[c] === undefined);
  const computed = [...(await computing), ...(await featurizeInBatches(model, late.map((i) => requests[i]!.tokenized), batchSize))];
  const recomputed = [...missing, ...late];

  const byPosition = new Map<number, CachedFeatures>();
  cached.forEach((i, c) => {
    const hit = found[c];
    if (hit) byPosition.set(i, hit.features);
  });
  const entries = recomputed.map((i, m): NewCacheEntry => {
    const features = computed[m]!;
    const projection = projector === undefined ? undefined : { target: projector.target, values: projector.project(features.gradient) };
    byPosition.set(i, { ...features, projection: projection ?? null });
    return {
      id: requests[i]!.id,
      digest: digests[i]!,
      tokens: requests[i]!.tokenized.ids.length,
      truncated: requests[i]!.tokenized.truncated,
      features,
      ...(projection ? { projection } : {}),
    };
  });
  await cache.put(entries);
  return requests.map((_, i) => byPosition.get(first.get(keyOf(i))!)!);
}
