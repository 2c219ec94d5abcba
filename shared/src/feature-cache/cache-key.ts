import { createHash } from 'node:crypto';
import type { FeatureModelInfo } from '../features/feature-model.ts';
import { GRAPH_BUILDER_VERSION } from '../graph/feature-graph.ts';
import { TOKENIZATION_VERSION, TOKENIZER_LIBRARY } from '../prompt/prompt-tokenizer.ts';
import type { ProjectionSpec, SketchSpec } from '../graph/projection.ts';

/** Bumped whenever the segment or index format changes: old namespaces are then simply not found. */
export const FEATURE_CACHE_FORMAT = 3;

/**
 * Everything that changes an example's features besides its content. Two runs share cached
 * features only when every field is equal; the content itself is the entry's id (and the digest of
 * its rendered texts, checked per entry, catches prompt-rendering changes no field names).
 */
export interface FeatureCacheKey {
  format: number;
  /** Checkpoint fingerprint: weights, config, tokenizer and its config (chat template). */
  model: string;
  probe: string;
  /** e.g. "kron:64x128" or "none" (the sketch is its own field). */
  projection: string;
  /** Seed of the projection matrices; null without a projection. */
  projectionSeed: number | null;
  sketch: SketchSpec | null;
  /** Prompt preset. */
  prompt: string;
  maxTokens: number;
  /** How rendered texts become tokens: our tokenization version and the tokenizer library's. */
  tokenization: string;
  /** Anchors: only the first N response tokens count (--anchor-tokens); null for corpus examples. */
  responseTokenLimit: number | null;
  graphBuilder: number;
  dtype: string;
  /**
   * Decoder layers whose states the entries carry; absent (not []) without any, so namespaces
   * written before the field existed keep their hash: their entries have no layer states either.
   */
  directionLayers?: number[];
}

export interface FeatureKeyOptions {
  format: string;
  maxTokens: number;
  projection: ProjectionSpec;
  sketch: SketchSpec | null;
  dtype: string;
}

/** The key of features computed by `info`'s model with these options (anchors: pass --anchor-tokens). */
export function featureCacheKey(
  info: Pick<FeatureModelInfo, 'fingerprint' | 'probe'> & Partial<Pick<FeatureModelInfo, 'directionLayers'>>,
  options: FeatureKeyOptions,
  responseTokenLimit: number | null = null,
): FeatureCacheKey {
  const projection = options.projection;
  const layers = info.directionLayers ?? [];
  return {
    format: FEATURE_CACHE_FORMAT,
    model: info.fingerprint,
    probe: info.probe,
    projection: projection.kind === 'none' ? 'none' : `kron:${projection.outDim}x${projection.inDim}`,
    projectionSeed: projection.kind === 'none' ? null : projection.seed,
    sketch: options.sketch === null ? null : { dim: options.sketch.dim, seed: options.sketch.seed },
    prompt: options.format,
    maxTokens: options.maxTokens,
    tokenization: `${TOKENIZATION_VERSION}/${TOKENIZER_LIBRARY}`,
    responseTokenLimit,
    graphBuilder: GRAPH_BUILDER_VERSION,
    dtype: options.dtype,
    ...(layers.length > 0 ? { directionLayers: [...layers] } : {}),
  };
}

/** Folder name of a key: sha256 of its canonical JSON (fields sorted), 32 hex digits. */
export function cacheNamespace(key: FeatureCacheKey): string {
  return createHash('sha256').update(canonicalJson(key)).digest('hex').slice(0, 32);
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
