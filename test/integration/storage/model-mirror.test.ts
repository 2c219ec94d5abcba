import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ConfigError } from '../../../shared/src/errors.ts';
import { COMPLETION_MARKER, materializeModel } from '../../../shared/src/storage/model-mirror.ts';
import { S3ObjectStore } from '../../../shared/src/storage/s3-object-store.ts';
import { uploadDirectory } from '../../../shared/src/storage/upload-directory.ts';
import { testModel } from '../../helpers/test-model.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from '../../helpers/s3-server.ts';

let server: S3TestServer;
let scratch: string;
let bucket: string;
let store: S3ObjectStore;
let modelDir: string;
let modelFiles: string[];

before(async () => {
  bucket = uniqueBucketName('models');
  [server, scratch] = await Promise.all([startS3Server({ buckets: [bucket] }), mkdtemp(join(tmpdir(), 'safesift-model-mirror-'))]);
  store = new S3ObjectStore(server.client, bucket);
  modelDir = await testModel();
  modelFiles = (await readdir(modelDir)).sort();
  const keys = await uploadDirectory(modelDir, store, 'models/test-llama');
  assert.deepEqual(keys, modelFiles.map((f) => `models/test-llama/${f}`));
});
after(async () => {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
});

const s3 = () => server.client;
const newCacheDir = () => mkdtemp(join(scratch, 'cache-'));

async function assertSameFiles(dir: string): Promise<void> {
  assert.deepEqual((await readdir(dir)).filter((f) => f !== COMPLETION_MARKER).sort(), modelFiles);
  for (const file of modelFiles) {
    assert.ok((await readFile(join(dir, file))).equals(await readFile(join(modelDir, file))), `${file} differs`);
  }
}

test('an s3:// model is downloaded once into the cache, byte for byte; the second call is a cache hit', async () => {
  const cacheDir = await newCacheDir();
  const uri = `s3://${bucket}/models/test-llama`;
  const first = await materializeModel(uri, { cacheDir, s3 });
  assert.equal(first.downloaded, true);
  assert.match(first.dir, /\/models\/s3-[0-9a-f]{16}$/);
  assert.ok(first.dir.startsWith(cacheDir));
  await assertSameFiles(first.dir);

  const second = await materializeModel(`${uri}/`, { cacheDir, s3 });
  assert.deepEqual(second, { dir: first.dir, downloaded: false });
  assert.deepEqual(await readdir(join(cacheDir, 'models')), [first.dir.split('/').pop()], 'no temp folders left behind');
});

test('racing processes both get the complete model and leave one copy', async () => {
  const cacheDir = await newCacheDir();
  const uri = `s3://${bucket}/models/test-llama`;
  const results = await Promise.all([1, 2, 3].map(() => materializeModel(uri, { cacheDir, s3 })));
  assert.equal(new Set(results.map((r) => r.dir)).size, 1);
  assert.ok(results.some((r) => r.downloaded));
  await assertSameFiles(results[0]!.dir);
  assert.equal((await readdir(join(cacheDir, 'models'))).length, 1);
});

test('a changed object gives a new fingerprint and a fresh copy', async () => {
  const cacheDir = await newCacheDir();
  await uploadDirectory(modelDir, store, 'models/changing');
  const uri = `s3://${bucket}/models/changing`;
  const before = await materializeModel(uri, { cacheDir, s3 });
  await store.put('models/changing/config.json', '{"changed": true}\n');
  const afterChange = await materializeModel(uri, { cacheDir, s3 });
  assert.equal(afterChange.downloaded, true);
  assert.notEqual(afterChange.dir, before.dir);
  assert.equal(await readFile(join(afterChange.dir, 'config.json'), 'utf8'), '{"changed": true}\n');
  await assertSameFiles(before.dir); // the old copy is untouched
});

test('nested keys become subfolders', async () => {
  const cacheDir = await newCacheDir();
  await store.put('models/nested/config.json', '{}');
  await store.put('models/nested/shards/part-1.bin', new Uint8Array([1, 2, 3]));
  const { dir } = await materializeModel(`s3://${bucket}/models/nested`, { cacheDir, s3 });
  assert.deepEqual([...(await readFile(join(dir, 'shards', 'part-1.bin')))], [1, 2, 3]);
});

test('an empty prefix is a ConfigError naming the URI; a name prefix does not match a longer folder name', async () => {
  const cacheDir = await newCacheDir();
  for (const uri of [`s3://${bucket}/models/test`, `s3://${bucket}/nothing/here`]) {
    await assert.rejects(
      () => materializeModel(uri, { cacheDir, s3 }),
      (err: unknown) => err instanceof ConfigError && err.message.includes(uri),
    );
  }
});

test('a local path is returned as is, without S3', async () => {
  const result = await materializeModel(modelDir, { cacheDir: scratch, s3: () => assert.fail('S3 is not needed') });
  assert.deepEqual(result, { dir: modelDir, downloaded: false });
});
