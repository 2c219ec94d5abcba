import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../shared/src/errors.ts';
import { expandInputs, type InputLister } from '../../../shared/src/distributed/expand-inputs.ts';

const FILES = [
  'data/a.jsonl', 'data/b.parquet', 'data/c.csv', 'data/README.md', 'data/x.json',
  'data/sub/d.jsonl', 'data/sub/deeper/e.ndjson', 'data/a+b (1).jsonl',
  'top.jsonl', 'other/f.jsonl',
  's3://bucket/corpus/part-0.parquet', 's3://bucket/corpus/part-1.parquet', 's3://bucket/corpus/_SUCCESS',
  's3://bucket/corpus/2024/06/part-2.jsonl', 's3://bucket/corpusx/part-9.parquet', 's3://other/corpus/z.jsonl',
];

/** Lists the fake tree as the contract says: every file whose name starts with the prefix; calls are recorded. */
function fakeLister(calls: string[] = []): InputLister {
  return async function* list(prefix: string) {
    calls.push(prefix);
    for (const f of FILES) if (f.startsWith(prefix)) yield f;
  };
}

test('* and ? stay within one folder', async () => {
  assert.deepStrictEqual(await expandInputs(['data/*.jsonl'], fakeLister()), ['data/a+b (1).jsonl', 'data/a.jsonl']);
  assert.deepStrictEqual(await expandInputs(['data/?.json*'], fakeLister()), ['data/a.jsonl', 'data/x.json']);
  assert.deepStrictEqual(await expandInputs(['*.jsonl'], fakeLister()), ['top.jsonl']);
});

test('** matches any number of folders, none included', async () => {
  assert.deepStrictEqual(await expandInputs(['data/**/*.jsonl'], fakeLister()), ['data/a+b (1).jsonl', 'data/a.jsonl', 'data/sub/d.jsonl']);
  assert.deepStrictEqual(await expandInputs(['data/**'], fakeLister()), [
    'data/a+b (1).jsonl', 'data/a.jsonl', 'data/b.parquet', 'data/sub/d.jsonl', 'data/sub/deeper/e.ndjson', 'data/x.json',
  ]);
  assert.deepStrictEqual(await expandInputs(['s3://bucket/corpus/**/part-?.*'], fakeLister()), [
    's3://bucket/corpus/2024/06/part-2.jsonl', 's3://bucket/corpus/part-0.parquet', 's3://bucket/corpus/part-1.parquet',
  ]);
});

test('a prefix ending in / means every corpus file under it', async () => {
  assert.deepStrictEqual(await expandInputs(['s3://bucket/corpus/'], fakeLister()), [
    's3://bucket/corpus/2024/06/part-2.jsonl', 's3://bucket/corpus/part-0.parquet', 's3://bucket/corpus/part-1.parquet',
  ]);
});

test('the lister is asked for the folder before the first glob, and never for literal entries', async () => {
  const calls: string[] = [];
  const out = await expandInputs(['lit/one.jsonl', 'data/sub/*.jsonl', 's3://bucket/corpus/**/x*.parquet', '*.jsonl', 's3://bucket/corpus/'], fakeLister(calls)).catch((e: Error) => e);
  assert.ok(out instanceof ConfigError); // x*.parquet matches nothing
  assert.deepStrictEqual(calls, ['data/sub/', 's3://bucket/corpus/']);
  calls.length = 0;
  await expandInputs(['lit/one.jsonl', '*.jsonl', 's3://bucket/corpus/'], fakeLister(calls));
  assert.deepStrictEqual(calls, ['', 's3://bucket/corpus/']);
});

test('literal entries pass through unchecked; the result is sorted and deduplicated', async () => {
  const result = await expandInputs(['z/literal.parquet', 'data/*.jsonl', 'data/a.jsonl', 's3://b/k.json', 'data/a*.jsonl'], fakeLister());
  assert.deepStrictEqual(result, ['data/a+b (1).jsonl', 'data/a.jsonl', 's3://b/k.json', 'z/literal.parquet']);
  assert.deepStrictEqual(await expandInputs([], fakeLister()), []);
});

test('regex characters in names are literal', async () => {
  assert.deepStrictEqual(await expandInputs(['data/a+b (?).jsonl'], fakeLister()), ['data/a+b (1).jsonl']);
  await assert.rejects(expandInputs(['data/a.b*'], fakeLister()), ConfigError);
});

test('a pattern that matches no corpus file is a ConfigError naming it', async () => {
  for (const pattern of ['data/*.csv', 'nothing/**/*.jsonl', 'data/README*', 's3://empty/prefix/']) {
    await assert.rejects(expandInputs([pattern], fakeLister()), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.includes(`'${pattern}'`), err.message);
      return true;
    });
  }
});

test('globs may not name the bucket', async () => {
  await assert.rejects(expandInputs(['s3://buck*/x.jsonl'], fakeLister()), /globs cannot name the bucket/);
  await assert.rejects(expandInputs(['s3://*'], fakeLister()), /globs cannot name the bucket/);
});
