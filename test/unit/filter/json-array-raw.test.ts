import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readJsonArray } from '../../../shared/src/corpus/json-array-reader.ts';
import { chunked, collectAll } from './helpers.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

test('keepRaw hands each element\'s own bytes along (what the filter copies), whatever the chunking', async () => {
  const elements = ['{"a": 1.0, "s": "] , ["}', '[1, [2]]', '"str\\"ing"', '{ }', 'nope'];
  const text = `\uFEFF[\n  ${elements.join(' ,\n  ')} ,, \n]`;
  for (const size of [1, 3, 7, 4096]) {
    const records = await collectAll(readJsonArray(chunked(encode(text), size), { source: 'x.json', maxRecordBytes: 1024, keepRaw: true }));
    assert.deepEqual(records.map((r) => decode(r.raw)), [...elements, ''], `chunk size ${size}`);
    assert.deepEqual(records.map((r) => r.ok), [true, true, true, true, false, false]);
  }
  // Without keepRaw nothing is kept; an element over the limit has no bytes to keep.
  const plain = await collectAll(readJsonArray(chunked(encode(text), 5), { source: 'x.json', maxRecordBytes: 1024 }));
  assert.ok(plain.every((r) => r.raw === undefined));
  const big = await collectAll(readJsonArray(chunked(encode('[{"a":"xxxxxxxxxxxxxxxx"}]'), 4), { source: 'x.json', maxRecordBytes: 8, keepRaw: true }));
  assert.deepEqual([big[0]?.ok, big[0]?.raw], [false, undefined]);
});
