import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compileAuditOptions, resolveAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import { cacheNamespace, featureCacheKey } from '../../../shared/src/feature-cache/cache-key.ts';
import { FeatureCache } from '../../../shared/src/feature-cache/feature-cache.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from '../../helpers/s3-server.ts';
import { assertSameEntry, randomEntry, randomProjection } from './random-entries.ts';

const KEY = featureCacheKey({ fingerprint: 'f'.repeat(64), probe: 'all' }, resolveAuditOptions(compileAuditOptions({ out: 'o' }), { hiddenSize: 64 }));
const noS3 = () => {
  throw new Error('no S3 here');
};
const ENTRY_BYTES = (8 + 37) * 4; // random-entries' default dims

function featuresDir(root: string): string {
  return join(root, 'features', cacheNamespace(KEY));
}

describe('FeatureCache on a local folder', () => {
  test('entries put in one session come back bit-exact in the next; hits and misses are counted', async () => {
    const dir = tempDir('fc-roundtrip');
    const entries = Array.from({ length: 10 }, (_, i) => randomEntry(`id${i}`));
    const first = await FeatureCache.open(dir, KEY, noS3);
    assert.deepEqual(await first.lookup(['id0', 'id1']), [undefined, undefined]);
    await first.put(entries);
    await first.flush();
    assert.deepEqual({ hits: first.stats.hits, misses: first.stats.misses, written: first.stats.segmentsWritten }, { hits: 0, misses: 2, written: 1 });

    const second = await FeatureCache.open(dir, KEY, noS3);
    assert.equal(second.size, 10);
    const found = await second.lookup(['id3', 'nope', 'id0', 'id9']);
    assertSameEntry(found[0], entries[3]!);
    assert.equal(found[1], undefined);
    assertSameEntry(found[2], entries[0]!);
    assertSameEntry(found[3], entries[9]!);
    assert.deepEqual({ hits: second.stats.hits, misses: second.stats.misses }, { hits: 3, misses: 1 });
    // The key is stored beside the segments, for people reading the cache.
    assert.deepEqual(JSON.parse(readFileSync(join(featuresDir(dir), 'key.json'), 'utf8')), KEY);
  });

  test('an entry counts only when its token digest matches', async () => {
    const dir = tempDir('fc-digest');
    const entry = randomEntry('same-content');
    const cache = await FeatureCache.open(dir, KEY, noS3);
    await cache.put([entry]);
    await cache.flush();
    const reopened = await FeatureCache.open(dir, KEY, noS3);
    const [stale, fresh] = await reopened.lookup(['same-content', 'same-content'], ['0'.repeat(32), entry.digest]);
    assert.equal(stale, undefined);
    assertSameEntry(fresh, entry);
    assert.deepEqual({ hits: reopened.stats.hits, misses: reopened.stats.misses }, { hits: 1, misses: 1 });
  });

  test('pending entries are served before they are written; the later segment wins for a repeated id', async () => {
    const dir = tempDir('fc-pending');
    const cache = await FeatureCache.open(dir, KEY, noS3);
    const old = randomEntry('x');
    await cache.put([old]);
    assertSameEntry((await cache.lookup(['x']))[0], old);
    assert.equal(cache.stats.segmentsWritten, 0);
    await cache.flush();
    const newer = { ...randomEntry('x'), digest: old.digest };
    await new Promise((resolve) => setTimeout(resolve, 2)); // segment names carry the time in ms
    await cache.put([newer]);
    await cache.flush();
    assertSameEntry((await (await FeatureCache.open(dir, KEY, noS3)).lookup(['x']))[0], newer);
  });

  test('segments stay near segmentBytes, and a lookup reads only the segments that hold its hits', async () => {
    const dir = tempDir('fc-segments');
    const entries = Array.from({ length: 12 }, (_, i) => randomEntry(`e${i}`));
    const cache = await FeatureCache.open(dir, KEY, noS3, { segmentBytes: 3 * ENTRY_BYTES });
    await cache.put(entries); // one put: written as 3-entry segments as it goes
    await cache.flush();
    assert.equal(readdirSync(join(featuresDir(dir), 'segments')).length, 4);
    assert.equal(readdirSync(join(featuresDir(dir), 'index')).length, 4);

    const reader = await FeatureCache.open(dir, KEY, noS3, { lruBytes: 1 });
    const found = await reader.lookup(['e0', 'e1', 'e4']);
    [0, 1, 4].forEach((e, i) => assertSameEntry(found[i], entries[e]!));
    assert.equal(reader.stats.segmentsRead, 2);
    // lruBytes 1 keeps only the newest segment: e4's is still decoded, e0's is read again.
    await reader.lookup(['e5']);
    assert.equal(reader.stats.segmentsRead, 2);
    await reader.lookup(['e2']);
    assert.equal(reader.stats.segmentsRead, 3);
  });

  test('a missing or damaged segment only costs misses; an unfinished one (no index) is invisible', async () => {
    const dir = tempDir('fc-damage');
    const cache = await FeatureCache.open(dir, KEY, noS3, { segmentBytes: 2 * ENTRY_BYTES });
    await cache.put(['a', 'b', 'c', 'd', 'e'].map((id) => randomEntry(id)));
    await cache.flush();
    const segments = readdirSync(join(featuresDir(dir), 'segments')).sort();
    assert.equal(segments.length, 3);
    rmSync(join(featuresDir(dir), 'segments', segments[0]!)); // a, b
    const second = join(featuresDir(dir), 'segments', segments[1]!); // c, d
    const bytes = readFileSync(second);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(second, bytes);
    rmSync(join(featuresDir(dir), 'index', segments[2]!.replace(/\.bin$/, '.json'))); // e: segment without its index

    const reopened = await FeatureCache.open(dir, KEY, noS3);
    assert.equal(reopened.size, 4);
    const found = await reopened.lookup(['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(found, [undefined, undefined, undefined, undefined, undefined]);
    assert.equal(reopened.stats.misses, 5);
    assert.equal(reopened.size, 0); // dropped, so they are recomputed and put again
  });

  test('a lookup naming the stored projection reads no gradient; any other lookup reads them', async () => {
    const dir = tempDir('fc-projection');
    const entries = Array.from({ length: 6 }, (_, i) => randomEntry(`q${i}`, 8, 37, randomProjection('targets-1')));
    const cache = await FeatureCache.open(dir, KEY, noS3, { segmentBytes: 3 * ENTRY_BYTES });
    await cache.put(entries);
    await cache.flush();

    const segments = readdirSync(join(featuresDir(dir), 'segments')).length;
    assert.ok(segments >= 2);
    const projected = await FeatureCache.open(dir, KEY, noS3);
    const found = await projected.lookup(entries.map((e) => e.id), undefined, { projection: 'targets-1' });
    found.forEach((entry, i) => assertSameEntry(entry, entries[i]!, 'absent'));
    assert.deepEqual({ heads: projected.stats.segmentsRead, gradients: projected.stats.gradientsRead, hits: projected.stats.hits }, { heads: segments, gradients: 0, hits: 6 });

    for (const options of [{ projection: 'targets-2' }, {}]) {
      const other = await FeatureCache.open(dir, KEY, noS3);
      const full = await other.lookup(['q0', 'q5'], undefined, options);
      assertSameEntry(full[0], entries[0]!);
      assertSameEntry(full[1], entries[5]!);
      assert.deepEqual({ heads: other.stats.segmentsRead, gradients: other.stats.gradientsRead }, { heads: 2, gradients: 2 });
    }
  });

  test('layer states come back from the head alone, and count toward segmentBytes', async () => {
    const dir = tempDir('fc-layer-states');
    const layerKey = { ...KEY, directionLayers: [1, 3] };
    // 45 layer-state floats double each entry's bytes: segments of 2 entries where plain ones hold 3.
    const entries = Array.from({ length: 12 }, (_, i) => randomEntry(`s${i}`, 8, 37, randomProjection('targets-1'), 45));
    const cache = await FeatureCache.open(dir, layerKey, noS3, { segmentBytes: 3 * ENTRY_BYTES });
    await cache.put(entries);
    assertSameEntry((await cache.lookup(['s11']))[0], entries[11]!); // pending
    await cache.flush();
    assert.equal(readdirSync(join(dir, 'features', cacheNamespace(layerKey), 'segments')).length, 6);
    const reader = await FeatureCache.open(dir, layerKey, noS3);
    const found = await reader.lookup(entries.map((e) => e.id), undefined, { projection: 'targets-1' });
    found.forEach((entry, i) => assertSameEntry(entry, entries[i]!, 'absent'));
    assert.equal(reader.stats.gradientsRead, 0);
  });

  test('caches with different keys do not see each other', async () => {
    const dir = tempDir('fc-keys');
    const a = await FeatureCache.open(dir, KEY, noS3);
    await a.put([randomEntry('shared-id')]);
    await a.flush();
    const other = await FeatureCache.open(dir, { ...KEY, maxTokens: KEY.maxTokens + 1 }, noS3);
    assert.deepEqual(await other.lookup(['shared-id']), [undefined]);
    assert.notEqual(other.namespace, a.namespace);
  });
});

describe('FeatureCache on S3 (s3rver)', () => {
  let server: S3TestServer;
  before(async () => {
    server = await startS3Server();
  });
  after(() => server.stop());

  test('an s3:// prefix works like a folder, bit-exact', async () => {
    const bucket = uniqueBucketName('fcache');
    const { CreateBucketCommand } = await import('@aws-sdk/client-s3');
    await server.client.send(new CreateBucketCommand({ Bucket: bucket }));
    const uri = `s3://${bucket}/caches/nightly`;
    const entries = Array.from({ length: 5 }, (_, i) => randomEntry(`s${i}`));
    const writer = await FeatureCache.open(uri, KEY, () => server.client, { segmentBytes: 2 * ENTRY_BYTES });
    await writer.put(entries);
    await writer.flush();
    const reader = await FeatureCache.open(uri, KEY, () => server.client);
    assert.equal(reader.size, 5);
    const found = await reader.lookup(entries.map((e) => e.id).reverse());
    found.forEach((entry, i) => assertSameEntry(entry, entries[4 - i]!));
    assert.equal(reader.stats.segmentsRead, 3);
  });
});
