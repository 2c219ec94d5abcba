import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../../shared/src/errors.ts';
import { readJsonArray } from '../../../shared/src/corpus/json-array-reader.ts';
import type { RawRecord } from '../../../shared/src/corpus/raw-record.ts';
import { chunked, collectAll } from './helpers.ts';

const options = { source: 'mem.json', maxRecordBytes: 1024 };
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const values = (records: RawRecord[]): unknown[] => records.map((r) => (r.ok ? r.value : { error: r.reason }));

const tricky = [
  { instruction: 'brackets ] } [ { and commas , in a string', output: 'x' },
  { instruction: 'escaped \\" quote, then ] and \\\\', output: 'back\\slash\\' },
  { question: 'unicode ✓ é 🚀 \u2028', answer: '\n\t' },
  [1, [2, [3, { a: ']' }]]],
  'top-level string, with comma ]',
  42.5,
  null,
  true,
  {},
  [],
];

test('elements match JSON.parse of the whole file, whatever the chunking and spacing', async () => {
  for (const text of [JSON.stringify(tricky), JSON.stringify(tricky, null, 4), `\n  ${JSON.stringify(tricky, null, '\t')}  \n`]) {
    const bytes = encode(text);
    const expected = JSON.parse(text) as unknown[];
    for (const size of [1, 2, 5, 13, 4096]) {
      const read = await collectAll(readJsonArray(chunked(bytes, size), options));
      assert.deepEqual(values(read), expected, `chunk size ${size}`);
      assert.deepEqual(read.map((r) => r.row), expected.map((_, i) => i));
    }
  }
});

test('empty arrays, a BOM and a trailing comma are accepted', async () => {
  assert.deepEqual(await collectAll(readJsonArray(chunked(encode(' [ ] \n'), 1), options)), []);
  const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...encode('[{"a":1},{"a":2},]')]);
  assert.deepEqual(values(await collectAll(readJsonArray(chunked(withBom, 1), options))), [{ a: 1 }, { a: 2 }]);
});

test('a malformed or empty element is one bad record and the scan resyncs at the next comma', async () => {
  const read = await collectAll(readJsonArray(chunked(encode('[{"a":1}, {"a": nope}, , {"a":3}]'), 3), options));
  assert.deepEqual(read.map((r) => r.row), [0, 1, 2, 3]);
  assert.equal(read[0]?.ok, true);
  assert.ok(read[1]?.ok === false && read[1].reason.startsWith('malformed JSON: '));
  assert.ok(read[2]?.ok === false && read[2].reason === 'empty array element');
  assert.deepEqual(read[3]?.ok && read[3].value, { a: 3 });
});

test('invalid UTF-8 inside an element is reported for that element only', async () => {
  const bytes = new Uint8Array([...encode('[{"a":"'), 0xc0, 0xaf, ...encode('"},{"a":2}]')]);
  const read = await collectAll(readJsonArray(chunked(bytes, 4), options));
  assert.equal(read[0]?.ok === false && read[0].reason, 'invalid UTF-8');
  assert.deepEqual(read[1]?.ok && read[1].value, { a: 2 });
});

test('files that are not a closed JSON array throw InputError for the file', async () => {
  const cases: [string, RegExp][] = [
    ['{"a":1}', /not a JSON array/],
    ['', /not a JSON array: the file is empty/],
    ['[{"a":1},', /file ends before the JSON array is closed/],
    ['[{"a":1}] x', /unexpected data after the end of the JSON array/],
  ];
  for (const [text, message] of cases) {
    await assert.rejects(collectAll(readJsonArray(chunked(encode(text), 2), options)), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.source, 'mem.json');
      assert.equal(err.row, -1);
      assert.match(err.reason, message);
      return true;
    });
  }
  // A file cut inside an element keeps the records before it and reports the cut one.
  const read = await collectAll(readJsonArray(chunked(encode('[{"a":1}, {"a":2'), 2), options));
  assert.equal(read[0]?.ok, true);
  assert.ok(read[1]?.ok === false && /file ends inside the record/.test(read[1].reason));
});

test('an element over the limit is reported by size and the next one is read', async () => {
  const big = { a: 'x'.repeat(2000) };
  const read = await collectAll(readJsonArray(chunked(encode(JSON.stringify([big, { a: 2 }], null, 2)), 100), options));
  const size = JSON.stringify(big, null, 2).replace(/\n/g, '\n  ').length; // as indented inside the array
  assert.equal(read[0]?.ok === false && read[0].reason, `record is ${size} bytes, over the 1024-byte limit (--max-record-bytes)`);
  assert.deepEqual(read[1]?.ok && read[1].value, { a: 2 });
});

test('a huge element is scanned past without being held in memory', async () => {
  const piece = new Uint8Array(1 << 20).fill(0x62);
  const pieces = 256;
  let peak = 0;
  const baseline = process.memoryUsage().arrayBuffers;
  async function* source(): AsyncGenerator<Uint8Array> {
    yield encode('[{"instruction":"i","output":"');
    for (let i = 0; i < pieces; i++) {
      yield piece;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    }
    yield encode('"},\n{"a":1}]');
  }
  const read = await collectAll(readJsonArray(source(), { source: 'mem', maxRecordBytes: 4 << 20 }));
  assert.ok(read[0]?.ok === false && read[0].reason.includes('over the 4194304-byte limit'), JSON.stringify(read[0]));
  assert.equal(read[0]?.bytes, pieces * piece.length + 31);
  assert.deepEqual(read[1]?.ok && read[1].value, { a: 1 });
  assert.ok(peak < 64 << 20, `external memory grew by ${peak} bytes`);
});
