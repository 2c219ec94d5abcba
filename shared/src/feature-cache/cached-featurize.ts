import { featurizeInBatches, type BatchLimits, type FeaturizeControl } from '../features/featurize-batches.ts';
import type { ExampleFeatures, FeatureModel } from '../features/feature-model.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { CachedFeatures, FeatureCache, NewCacheEntry } from './feature-cache.ts';

/** An example to featurize. */
export interface FeatureRequest {
  /** Content id. */
  id: string;
  /** renderDigest of the example: a cached entry serves it only when this matches. */
  digest: string;
  /** Its tokens; null for an expected cache hit that the caller did not tokenize (see LateTokenizer). */
  tokenized: TokenizedExample | null;
}

/**
 * Tokenizes the requests at `positions` that came without tokens but must be featurized after all
 * (their cached segment turned out missing or damaged); results in the same order.
 */
export type LateTokenizer = (positions: readonly number[]) => Promise<TokenizedExample[]>;

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
  /** Direction layers' states (ExampleFeatures.layerStates); empty without direction layers. */
  layerStates: Float32Array;
  /** `GradientProjector.project` of the gradient. */
  projection: Float64Array;
  /** Tokens the model saw and whether the example was truncated (from the cache for hits). */
  tokens: number;
  truncated: boolean;
  /** Response tokens the loss is on; null for a hit cached before they were kept. */
  labels: number | null;
}

/**
 * Features in input order, like featurizeInBatches, but taken from `cache` where it holds them
 * (same id, same digest) and computed only for the rest, which are then added to the cache.
 * The misses are featurized (on the model's threads) while the hits are read back. An id
 * repeated within one call is computed once; its repeats count as hits.
 */
export async function featurizeWithCache(
  model: FeatureModel,
  requests: readonly FeatureRequest[],
  batch: BatchLimits,
  cache: FeatureCache | undefined,
  control: FeaturizeControl = {},
): Promise<ExampleFeatures[]> {
  const resolved = await resolveFeatures(model, requests, batch, cache, undefined, noLateTokens, control);
  return resolved.map(({ features: { loss, representation, gradient, layerStates } }) => ({ loss, representation, gradient: gradient!, layerStates }));
}

/**
 * Like featurizeWithCache, with each gradient projected by `projector`. Cached entries that hold
 * the projection onto the same targets are used without reading their gradients; computed entries
 * are stored with their projection, so the next run against these targets reads no gradient.
 * Requests may come untokenized when the cache has them (`tokenizeLate` covers a cache that fails).
 */
export async function featurizeProjected(
  model: FeatureModel,
  requests: readonly FeatureRequest[],
  batch: BatchLimits,
  cache: FeatureCache | undefined,
  projector: GradientProjector,
  tokenizeLate: LateTokenizer = noLateTokens,
  control: FeaturizeControl = {},
): Promise<ProjectedFeatures[]> {
  const resolved = await resolveFeatures(model, requests, batch, cache, projector, tokenizeLate, control);
  return resolved.map(({ features: { loss, representation, gradient, projection, layerStates }, tokens, truncated, labels }) => ({
    loss,
    representation,
    layerStates,
    projection: projection?.target === projector.target ? projection.values : projector.project(gradient!),
    tokens,
    truncated,
    labels,
  }));
}

interface Resolved {
  /** The gradient is null only where the projector's projection is given. */
  features: CachedFeatures;
  tokens: number;
  truncated: boolean;
  labels: number | null;
}

const noLateTokens: LateTokenizer = (positions) =>
  Promise.reject(new Error(`featurize: ${positions.length} request(s) came without tokens and are not in the cache`));

/** Cached or computed features per request. */
async function resolveFeatures(
  model: FeatureModel,
  requests: readonly FeatureRequest[],
  batch: BatchLimits,
  cache: FeatureCache | undefined,
  projector: GradientProjector | undefined,
  tokenizeLate: LateTokenizer,
  control: FeaturizeControl,
): Promise<Resolved[]> {
  if (cache === undefined) {
    const tokenized = await tokensOf(requests, requests.map((_, i) => i), tokenizeLate);
    const computed = await featurizeInBatches(model, tokenized, batch, control);
    return computed.map((f, i) => ({ features: { ...f, projection: null }, tokens: tokenized[i]!.ids.length, truncated: tokenized[i]!.truncated, labels: tokenized[i]!.labelCount }));
  }
  const keyOf = (i: number) => `${requests[i]!.id}\u0000${requests[i]!.digest}`;
  // First position of each distinct (id, digest); the others reuse its result.
  const first = new Map<string, number>();
  for (let i = 0; i < requests.length; i++) if (!first.has(keyOf(i))) first.set(keyOf(i), i);
  const unique = [...first.values()];
  cache.stats.hits += requests.length - unique.length;

  const cached: number[] = [];
  const missing: number[] = [];
  for (const i of unique) (cache.has(requests[i]!.id, requests[i]!.digest) ? cached : missing).push(i);
  const computing = tokensOf(requests, missing, tokenizeLate).then((tokenized) => featurizeInBatches(model, tokenized, batch, control).then((features) => ({ tokenized, features })));
  computing.catch(() => undefined); // awaited below; not "unhandled" while the hits are read
  const lookupOptions = projector === undefined ? {} : { projection: projector.target };
  const found = await cache.lookup(cached.map((i) => requests[i]!.id), cached.map((i) => requests[i]!.digest), lookupOptions);
  cache.stats.misses += missing.length;
  control.onBatch?.(requests.length - missing.length - cached.filter((_, c) => found[c] === undefined).length);
  // Entries of a segment found missing or damaged on reading are computed after all.
  const late = cached.filter((_, c) => found[c] === undefined);
  const lateTokens = await tokensOf(requests, late, tokenizeLate);
  const fresh = await computing;
  const tokenized = [...fresh.tokenized, ...lateTokens];
  const computed = [...fresh.features, ...(await featurizeInBatches(model, lateTokens, batch, control))];
  const recomputed = [...missing, ...late];

  const byPosition = new Map<number, Resolved>();
  cached.forEach((i, c) => {
    const hit = found[c];
    if (hit) byPosition.set(i, { features: hit.features, tokens: hit.tokens, truncated: hit.truncated, labels: hit.labels });
  });
  const entries = recomputed.map((i, m): NewCacheEntry => {
    const features = computed[m]!;
    const tokens = tokenized[m]!;
    const projection = projector === undefined ? undefined : { target: projector.target, values: projector.project(features.gradient) };
    byPosition.set(i, { features: { ...features, projection: projection ?? null }, tokens: tokens.ids.length, truncated: tokens.truncated, labels: tokens.labelCount });
    return {
      id: requests[i]!.id,
      digest: requests[i]!.digest,
      tokens: tokens.ids.length,
      truncated: tokens.truncated,
      labels: tokens.labelCount,
      features,
      ...(projection ? { projection } : {}),
    };
  });
  await cache.put(entries);
  return requests.map((_, i) => byPosition.get(first.get(keyOf(i))!)!);
}

/** The tokens of the requests at `positions`, tokenizing (in one call) those that came without. */
async function tokensOf(requests: readonly FeatureRequest[], positions: readonly number[], tokenizeLate: LateTokenizer): Promise<TokenizedExample[]> {
  const without = positions.filter((i) => requests[i]!.tokenized === null);
  const late = without.length === 0 ? [] : await tokenizeLate(without);
  const byPosition = new Map(without.map((i, n) => [i, late[n]!]));
  return positions.map((i) => requests[i]!.tokenized ?? byPosition.get(i)!);
}
