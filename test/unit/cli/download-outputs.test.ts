import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { downloadOutputs, refusedKeysError } from '../../../services/cli/src/cluster/download-outputs.ts';
import { InputError } from '../../../shared/src/errors.ts';
import { ObjectNotFoundError, type ObjectInfo, type ObjectStore } from '../../../shared/src/storage/object-store.ts';
import { EXIT, exitCodeFor } from '../../../services/cli/src/exit-codes.ts';

/** A bucket as S3 allows it: any key at all, listed as stored (real stores refuse such keys on put). */
function rawStore(objects: Record<string, string>): ObjectStore {
  const keys = Object.keys(objects).sort();
  const get = async (key: string) => {
    const body = objects[key];
    if (body === undefined) throw new ObjectNotFoundError('s3://bucket', key);
    return new TextEncoder().encode(body);
  };
  const unused = () => Promise.reject(new Error('not used by download'));
  return {
    description: 's3://bucket',
    head: unused,
    get,
    getRange: unused,
    getStream: unused,
    put: unused,
    putFile: unused,
    delete: unused,
    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      for (const key of keys) if (key.startsWith(prefix)) yield { key, size: objects[key]!.length, etag: key };
    },
  };
}

async function inTemp(run: (parent: string, to: string) => Promise<void>): Promise<void> {
  const parent = await mkdtemp(join(tmpdir(), 'safesift-download-'));
  try {
    await run(parent, join(parent, 'to'));
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

test('download copies the outputs under their relative paths and skips _work/', async () => {
  await inTemp(async (_parent, to) => {
    const store = rawStore({
      'out/job/topk.parquet': 'top',
      'out/job/scores/part-000000.parquet': 'p0',
      'out/job/_work/j1/results/batch-000000.arrow': 'work',
      'out/job/': '', // folder placeholder
      'out/other/topk.parquet': 'other job',
    });
    const result = await downloadOutputs(store, 'out/job', to);
    assert.deepEqual(result.files, ['scores/part-000000.parquet', 'topk.parquet']);
    assert.deepEqual(result.refused, []);
    assert.equal(await readFile(join(to, 'scores', 'part-000000.parquet'), 'utf8'), 'p0');
    assert.deepEqual((await readdir(to)).sort(), ['scores', 'topk.parquet']);
  });
});

test('hostile keys in the output prefix are refused; nothing lands outside --to; the other files are downloaded', async () => {
  await inTemp(async (parent, to) => {
    const hostile = [
      'out/job/../../escape.txt',
      'out/job/a/../../../escape.txt',
      'out/job//etc/escape.txt',
      'out/job/a\\..\\..\\escape.txt',
      'out/job/a/./b.txt',
      'out/job/nul\0.txt',
    ];
    const store = rawStore({
      'out/job/summary.json': '{}',
      'out/job/scores/part-000000.parquet': 'p0',
      ...Object.fromEntries(hostile.map((key) => [key, 'pwned'])),
    });
    const result = await downloadOutputs(store, 'out/job', to);
    assert.deepEqual(result.files, ['scores/part-000000.parquet', 'summary.json']);
    assert.deepEqual(result.refused.map((r) => r.key).sort(), [...hostile].sort());
    for (const { error } of result.refused) assert.ok(error instanceof InputError);
    // Only --to itself was made beside it, and it holds only the good files.
    assert.deepEqual(await readdir(parent), ['to']);
    assert.deepEqual((await readdir(to)).sort(), ['scores', 'summary.json']);

    const error = refusedKeysError(to, result);
    assert.equal(exitCodeFor(error), EXIT.input);
    assert.ok(!error.message.includes('\n') && !error.message.includes('\0'), error.message);
    const first = result.refused[0]!.key;
    assert.ok(error.message.includes(`object key ${JSON.stringify(first)} in s3://bucket: refused: `), error.message);
    assert.match(error.message, /\(also refused: .* and 2 more\); downloaded the other 2 files to /);
  });
});

test('one hostile key: the message names it and why', async () => {
  await inTemp(async (_parent, to) => {
    const result = await downloadOutputs(rawStore({ 'out/job/../x': 'pwned', 'out/job/topk.parquet': 'top' }), 'out/job', to);
    assert.equal(refusedKeysError(to, result).message, `object key "out/job/../x" in s3://bucket: refused: it has a '.' or '..' segment; keys must be relative '/'-separated names that stay inside ${to}; downloaded the other 1 file to ${to}; delete or rename the refused objects to download them`);
  });
});

test('an output prefix at the bucket root lists the whole bucket', async () => {
  await inTemp(async (_parent, to) => {
    const result = await downloadOutputs(rawStore({ 'topk.parquet': 'top', 'scores/p.parquet': 'p' }), '', to);
    assert.deepEqual(result.files, ['scores/p.parquet', 'topk.parquet']);
  });
});
