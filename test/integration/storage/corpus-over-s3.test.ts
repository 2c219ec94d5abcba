import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { CorpusItem } from '../../../shared/src/corpus/example.ts';
import { readCorpus, readCorpusWith } from '../../../shared/src/corpus/read-corpus.ts';
import { InputError } from '../../../shared/src/errors.ts';
import { storageByteSources } from '../../../shared/src/storage/byte-sources.ts';
import { S3ObjectStore } from '../../../shared/src/storage/s3-object-store.ts';
import { DEMO_INPUTS } from '../../../shared/src/audit/demo-inputs.ts';
import { GSM8K_SAMPLE, GSM8K_SAMPLE_RECORDS } from '../../helpers/test-data.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from '../../helpers/s3-server.ts';
import { utf8Column, writeParquetFile } from '../../unit/corpus/helpers.ts';
import { collectAll } from './object-store-contract.ts';

let server: S3TestServer;
let dir: string;
let bucket: string;
let store: S3ObjectStore;
const ranges: (string | undefined)[] = [];

before(async () => {
  bucket = uniqueBucketName('corpus');
  [server, dir] = await Promise.all([startS3Server({ buckets: [bucket] }), mkdtemp(join(tmpdir(), 'safesift-corpus-s3-'))]);
  // Record every GetObject's Range, to see how Parquet is fetched.
  server.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand') ranges.push((args.input as { Range?: string }).Range);
      return next(args);
    },
    { step: 'initialize', name: 'recordRanges' },
  );
  store = new S3ObjectStore(server.client, bucket);
});
after(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Items with `source` blanked: it is the location as given, which differs by design. */
function items(source: CorpusItem[]): unknown[] {
  return source.map((item) =>
    item.kind === 'example' ? { ...item, example: { ...item.example, source: '' } } : { ...item, error: { ...item.error, source: '' } },
  );
}

async function assertSameOverS3(localPath: string, key: string): Promise<number> {
  await store.putFile(key, localPath);
  const uri = `s3://${bucket}/${key}`;
  const overS3 = await collectAll(readCorpusWith(storageByteSources(() => server.client), uri));
  const local = await collectAll(readCorpus(localPath));
  assert.ok(local.length > 0);
  for (const item of overS3) assert.equal(item.kind === 'example' ? item.example.source : item.error.source, uri);
  assert.deepEqual(items(overS3), items(local));
  return local.length;
}

test('JSON lines over S3 give the same examples and record errors as the local file', async () => {
  const path = join(dir, 'gsm8k-plus-bad.jsonl');
  // GSM8K-shaped records, then a broken line and a record of no known shape, so errors are compared too.
  await writeFile(path, `${await readFile(GSM8K_SAMPLE, 'utf8')}{not json\n{"foo": 1}\n`);
  assert.equal(await assertSameOverS3(path, 'corpora/gsm8k.jsonl'), GSM8K_SAMPLE_RECORDS + 2);
});

test('a JSON array over S3 gives the same examples as the local file', async () => {
  // The demo's Alpaca records as one JSON array, pretty-printed as such files usually are.
  const records = (await readFile(DEMO_INPUTS.corpus, 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
  const path = join(dir, 'alpaca.json');
  await writeFile(path, `${JSON.stringify(records, null, 4)}\n`);
  assert.equal(await assertSameOverS3(path, 'corpora/alpaca.json'), records.length);
  assert.equal(records.length, 60);
});

test('Parquet over S3 gives the same examples, read through explicit byte ranges', async () => {
  const path = join(dir, 'alpaca.parquet');
  const n = 300;
  await writeParquetFile(
    path,
    {
      instruction: utf8Column(Array.from({ length: n }, (_, i) => `instruction ${i} ${'x'.repeat(i % 50)}`)),
      input: utf8Column(Array.from({ length: n }, (_, i) => (i % 4 === 0 ? null : `input ${i}`))),
      output: utf8Column(Array.from({ length: n }, (_, i) => `output ${i}`)),
    },
    { rowGroupSize: 64 },
  );
  ranges.length = 0;
  assert.equal(await assertSameOverS3(path, 'corpora/alpaca.parquet'), n);
  assert.ok(ranges.length >= 2, `GETs: ${ranges.join(', ')}`);
  for (const range of ranges) assert.match(String(range), /^bytes=\d+-\d+$/, 'every Parquet read is an explicit range, never a suffix range');
});

test('a missing object is a file-level InputError naming the URI, for streams and Parquet alike', async () => {
  for (const name of ['absent.jsonl', 'absent.json', 'absent.parquet']) {
    const uri = `s3://${bucket}/corpora/${name}`;
    await assert.rejects(
      () => collectAll(readCorpusWith(storageByteSources(() => server.client), uri)),
      (err: unknown) => err instanceof InputError && err.source === uri && err.row === -1 && err.message.includes(`no such object: ${uri}`),
    );
  }
});

test('local paths go through the same opener without touching S3', async () => {
  const path = GSM8K_SAMPLE;
  const opener = storageByteSources(() => assert.fail('no S3 client is needed for a local path'));
  assert.deepEqual(await collectAll(readCorpusWith(opener, path)), await collectAll(readCorpus(path)));
});
