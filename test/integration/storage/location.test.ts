import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../../../shared/src/errors.ts';
import { LocalObjectStore } from '../../../shared/src/storage/local-object-store.ts';
import { joinKey, openLocation, parseLocation } from '../../../shared/src/storage/location.ts';
import { S3ObjectStore } from '../../../shared/src/storage/s3-object-store.ts';
import { uploadDirectory } from '../../../shared/src/storage/upload-directory.ts';
import { collectAll } from './object-store-contract.ts';

test('parseLocation: s3 URIs, local paths and file URLs', () => {
  assert.deepEqual(parseLocation('s3://bucket/a/b.jsonl'), { kind: 's3', bucket: 'bucket', key: 'a/b.jsonl' });
  assert.deepEqual(parseLocation('S3://bucket'), { kind: 's3', bucket: 'bucket', key: '' });
  assert.deepEqual(parseLocation('s3://bucket/'), { kind: 's3', bucket: 'bucket', key: '' });
  assert.deepEqual(parseLocation('s3://bucket/out/'), { kind: 's3', bucket: 'bucket', key: 'out/' });
  assert.deepEqual(parseLocation('data/x.jsonl'), { kind: 'local', path: resolve('data/x.jsonl') });
  assert.deepEqual(parseLocation('/abs/../abs/x'), { kind: 'local', path: '/abs/x' });
  assert.deepEqual(parseLocation(pathToFileURL('/tmp/a b.json').href), { kind: 'local', path: '/tmp/a b.json' });
});

test('parseLocation rejects s3:// without a bucket, other schemes and empty strings with ConfigError', () => {
  for (const uri of ['s3://', 's3:///key', 'gs://bucket/key', 'https://example.com/x.jsonl', '']) {
    assert.throws(() => parseLocation(uri), (err: unknown) => err instanceof ConfigError && err.message.includes(uri), uri);
  }
});

test('joinKey joins with single slashes and drops empty parts', () => {
  assert.equal(joinKey('out', 'shard-1', 'scores.parquet'), 'out/shard-1/scores.parquet');
  assert.equal(joinKey('out/', '/x/', 'y'), 'out/x/y');
  assert.equal(joinKey('', 'a'), 'a');
  assert.equal(joinKey('a', ''), 'a');
});

test('openLocation: an S3 store on the bucket, built only when needed', () => {
  let built = 0;
  const client = new S3Client({ region: 'us-east-1' });
  const s3 = (): S3Client => (built++, client);
  const remote = openLocation('s3://bucket/out/run-1', s3);
  assert.ok(remote.store instanceof S3ObjectStore);
  assert.equal(remote.store.description, 's3://bucket');
  assert.equal(remote.key, 'out/run-1');
  assert.equal(built, 1);
  const local = openLocation('/tmp/whatever/run-1', s3);
  assert.ok(local.store instanceof LocalObjectStore);
  assert.equal(built, 1);
  client.destroy();
});

test('openLocation: a local folder output takes `${key}/child` keys, and uploadDirectory copies a tree', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-location-'));
  try {
    const { store, key } = openLocation(join(dir, 'out'), () => assert.fail('no S3 for a local path'));
    await store.put(joinKey(key, 'scores', 'part-0.json'), '{"ok":true}');
    assert.equal(await readFile(join(dir, 'out', 'scores', 'part-0.json'), 'utf8'), '{"ok":true}');

    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(tree, 'top.txt'), 'top');
    await writeFile(join(tree, 'sub', 'deeper', 'leaf.bin'), new Uint8Array([0, 255]));
    const target = new LocalObjectStore(join(dir, 'copy'));
    assert.deepEqual(await uploadDirectory(tree, target, 'prefix/'), ['prefix/sub/deeper/leaf.bin', 'prefix/top.txt']);
    assert.deepEqual((await collectAll(target.list(''))).map((o) => [o.key, o.size]), [['prefix/sub/deeper/leaf.bin', 2], ['prefix/top.txt', 3]]);
    assert.deepEqual([...(await target.get('prefix/sub/deeper/leaf.bin'))], [0, 255]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
