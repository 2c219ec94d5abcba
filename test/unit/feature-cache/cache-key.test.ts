import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileAuditOptions, resolveAuditOptions, type RawAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import { cacheNamespace, featureCacheKey, type FeatureCacheKey } from '../../../shared/src/feature-cache/cache-key.ts';
import { GRAPH_BUILDER_VERSION } from '../../../shared/src/graph/feature-graph.ts';

const MODEL = { fingerprint: 'a'.repeat(64), probe: 'all' };

/** The namespace an audit with these options would use for corpus features. */
function namespaceOf(raw: RawAuditOptions, model = MODEL, responseTokenLimit: number | null = null): string {
  const options = resolveAuditOptions(compileAuditOptions({ out: 'out', ...raw }), { hiddenSize: 64 });
  return cacheNamespace(featureCacheKey({ ...model, probe: raw.probes ?? model.probe }, options, responseTokenLimit));
}

test('every option that changes a feature changes the namespace', () => {
  const base = namespaceOf({});
  const variants: Record<string, string> = {
    'model fingerprint': namespaceOf({}, { ...MODEL, fingerprint: 'b'.repeat(64) }),
    probe: namespaceOf({ probes: 'lm_head' }),
    projection: namespaceOf({ proj: 'kron:32x64' }),
    'no projection': namespaceOf({ proj: 'none' }),
    'projection seed': namespaceOf({ projSeed: 7 }),
    sketch: namespaceOf({ projDim: 512 }),
    'prompt format': namespaceOf({ format: 'chat-template' }),
    'max tokens': namespaceOf({ maxTokens: 256 }),
    'anchor response tokens': namespaceOf({}, MODEL, 10),
    dtype: namespaceOf({ dtype: 'float16' }),
  };
  for (const [what, namespace] of Object.entries(variants)) assert.notEqual(namespace, base, what);
  assert.equal(new Set(Object.values(variants)).size, Object.keys(variants).length, 'variants collide');
  // Sketch seed is the projection seed: it matters with a sketch even without a projection.
  assert.notEqual(namespaceOf({ proj: 'none', projDim: 512, projSeed: 1 }), namespaceOf({ proj: 'none', projDim: 512, projSeed: 2 }));
  assert.notEqual(namespaceOf({}, MODEL, 10), namespaceOf({}, MODEL, 12));
});

test('options that do not change features keep the namespace', () => {
  const base = namespaceOf({});
  for (const raw of [{ k: 5 }, { method: 'rep' as const }, { batchSize: 8 }, { threads: 1 }, { limit: 3 }, { topN: 3 }, { out: 'elsewhere' }, { name: 'nightly' }]) {
    assert.equal(namespaceOf(raw), base, JSON.stringify(raw));
  }
  // `auto` on this model is kron:64x128: the same features, so the same namespace.
  assert.equal(namespaceOf({ proj: 'kron:64x128' }), base);
  // Without a projection, its seed is unused.
  assert.equal(namespaceOf({ proj: 'none', projSeed: 1 }), namespaceOf({ proj: 'none', projSeed: 2 }));
});

test('the graph builder version is part of the key, and field order does not matter', () => {
  const key = featureCacheKey(MODEL, resolveAuditOptions(compileAuditOptions({ out: 'o' }), { hiddenSize: 64 }));
  assert.equal(key.graphBuilder, GRAPH_BUILDER_VERSION);
  assert.notEqual(cacheNamespace({ ...key, graphBuilder: GRAPH_BUILDER_VERSION + 1 }), cacheNamespace(key));
  const reversed = Object.fromEntries(Object.entries(key).reverse()) as unknown as FeatureCacheKey;
  assert.equal(cacheNamespace(reversed), cacheNamespace(key));
  assert.match(cacheNamespace(key), /^[0-9a-f]{32}$/);
});

test('the direction layers the features carry change the namespace; none keeps the namespace of keys without the field', () => {
  const options = resolveAuditOptions(compileAuditOptions({ out: 'o' }), { hiddenSize: 64 });
  const of = (directionLayers: number[] | undefined, responseTokenLimit: number | null = null) =>
    cacheNamespace(featureCacheKey({ ...MODEL, ...(directionLayers ? { directionLayers } : {}) }, options, responseTokenLimit));
  const layered = [[2], [3], [2, 3], [0, 2, 4]].map((layers) => of(layers));
  assert.equal(new Set([of(undefined), ...layered]).size, 5, 'each layer set has its own namespace');
  assert.equal(of([]), of(undefined), 'no layers: the namespace written before layer states existed');
  assert.equal('directionLayers' in featureCacheKey({ ...MODEL, directionLayers: [] }, options), false);
  assert.deepEqual(featureCacheKey({ ...MODEL, directionLayers: [2, 3] }, options).directionLayers, [2, 3]);
  assert.notEqual(of([2], 10), of(undefined, 10), 'anchor namespaces too');
});
