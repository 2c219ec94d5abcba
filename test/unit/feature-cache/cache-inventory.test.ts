import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileAuditOptions, resolveAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import { inventoryCache, pruneCache } from '../../../shared/src/feature-cache/cache-inventory.ts';
import { featureCacheKey } from '../../../shared/src/feature-cache/cache-key.ts';
import { openCacheRoot } from '../../../shared/src/feature-cache/cache-root.ts';
import { FeatureCache } from '../../../shared/src/feature-cache/feature-cache.ts';
import { RunTracker } from '../../../shared/src/feature-cache/run-history.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { randomEntry } from './random-entries.ts';

const noS3 = () => {
  throw new Error('no S3 here');
};
const options = resolveAuditOptions(compileAuditOptions({ out: 'o' }), { hiddenSize: 64 });
const model = (fingerprint: string) => ({ fingerprint: fingerprint.repeat(64), probe: 'all' });

/** A cache holding the corpus and anchor features of two models; only the new model's have a run. */
async function twoModels(dir: string) {
  const root = openCacheRoot(dir, noS3);
  const caches = {
    oldCorpus: await FeatureCache.openAt(root, featureCacheKey(model('a'), options)),
    oldAnchors: await FeatureCache.openAt(root, featureCacheKey(model('a'), options, 10)),
    newCorpus: await FeatureCache.openAt(root, featureCacheKey(model('b'), options)),
    newAnchors: await FeatureCache.openAt(root, featureCacheKey(model('b'), options, 10)),
  };
  for (const [name, cache] of Object.entries(caches)) {
    await cache.put([randomEntry(`${name}-1`), randomEntry(`${name}-2`)]);
    await cache.flush();
  }
  const run = await RunTracker.open(root, 'nightly', 'run-1');
  await run.finish({ namespace: caches.newCorpus.namespace, method: 'grad', k: 1, counts: { records: 2, scored: 2, errors: 0 }, top: [] });
  return { root, caches };
}

test('the inventory lists each namespace with its key, size, last write and the runs that use it (anchors go with their corpus)', async () => {
  const { root, caches } = await twoModels(tempDir('inventory'));
  const inventory = await inventoryCache(root);
  const byNamespace = new Map(inventory.namespaces.map((ns) => [ns.namespace, ns]));
  assert.equal(byNamespace.size, 4);
  assert.deepEqual(byNamespace.get(caches.newCorpus.namespace)?.used_by, ['nightly']);
  assert.deepEqual(byNamespace.get(caches.newAnchors.namespace)?.used_by, ['nightly']);
  assert.deepEqual(byNamespace.get(caches.oldCorpus.namespace)?.used_by, []);
  assert.deepEqual(byNamespace.get(caches.oldAnchors.namespace)?.used_by, []);
  assert.equal(byNamespace.get(caches.oldAnchors.namespace)?.kind, 'anchors');
  assert.equal(byNamespace.get(caches.oldCorpus.namespace)?.kind, 'corpus');
  for (const ns of inventory.namespaces) {
    assert.equal(ns.segments, 1);
    assert.ok(ns.bytes > 0 && ns.newest_write !== null && Date.now() - Date.parse(ns.newest_write) < 60_000, JSON.stringify(ns));
  }
  assert.equal(inventory.bytes, inventory.namespaces.reduce((n, ns) => n + ns.bytes, 0));
  assert.deepEqual(inventory.runs.map((r) => [r.name, r.namespace]), [['nightly', caches.newCorpus.namespace]]);
});

test('prune removes only unused namespaces older than the minimum age; a dry run removes nothing', async () => {
  const dir = tempDir('prune');
  const { root, caches } = await twoModels(dir);
  const features = join(dir, 'features');
  // Just written: too young to remove by default.
  assert.deepEqual((await pruneCache(root, { minAgeMs: 24 * 3600_000, dryRun: false })).removed, []);
  const dry = await pruneCache(root, { minAgeMs: 0, dryRun: true });
  assert.deepEqual(dry.removed.map((ns) => ns.namespace).sort(), [caches.oldCorpus.namespace, caches.oldAnchors.namespace].sort());
  assert.equal(readdirSync(features).length, 4);

  const report = await pruneCache(root, { minAgeMs: 0, dryRun: false });
  assert.equal(report.bytes_freed, dry.bytes_freed);
  // A local folder may keep the emptied folders; no file of a removed namespace is left.
  const files = (namespace: string) => (existsSync(join(features, namespace)) ? readdirSync(join(features, namespace), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length : 0);
  assert.deepEqual([caches.oldCorpus.namespace, caches.oldAnchors.namespace].map(files), [0, 0]);
  assert.ok(files(caches.newCorpus.namespace) > 0 && files(caches.newAnchors.namespace) > 0);
  assert.deepEqual((await inventoryCache(root)).namespaces.map((ns) => ns.namespace).sort(), [caches.newCorpus.namespace, caches.newAnchors.namespace].sort());
  // What is kept still serves its entries.
  const reopened = await FeatureCache.openAt(root, featureCacheKey(model('b'), options));
  assert.equal(reopened.size, 2);
});
