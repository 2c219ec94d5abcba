import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readJsonLines } from '../../../shared/src/corpus/json-lines-reader.ts';
import type { RawRecord } from '../../../shared/src/corpus/raw-record.ts';
import { chunked, collectAll } from './helpers.ts';

const options = { source: 'mem.jsonl', maxRecordBytes: 1024 };

const values = (records: RawRecord[]): unknown[] => records.map((r) => (r.ok ? r.value : { error: r.reason }));

test('lines split across any chunk boundary parse like JSON.parse of each line', async () => {
  const records = [
    { instruction: 'a\nb', output: 'x' },
    { question: 'héllo wörld ✓ 🚀', answer: '42' },
    [1, 2, 3],
    'a string',
    { nested: { deep: ['\\', '"', '}'] } },
  ];
  const text = records.map((r) => JSON.stringify(r)).join('\r\n') + '\n';
  const bytes = new TextEncoder().encode(text);
  for (const size of [1, 2, 3, 7, 64, bytes.length]) {
    const read = await collectAll(readJsonLines(chunked(bytes, size), options));
    assert.deepEqual(values(read), records, `chunk size ${size}`);
    assert.deepEqual(read.map((r) => r.row), [0, 1, 2, 3, 4]);
  }
});

test('blank lines are skipped and do not count as rows; a last line without newline is read', async () => {
  const text = '\n{"a":1}\n\n  \t \r\n{"a":2}\r\n\r\n{"a":3}';
  const read = await collectAll(readJsonLines(chunked(new TextEncoder().encode(text), 4), options));
  assert.deepEqual(values(read), [{ a: 1 }, { a: 2 }, { a: 3 }]);
  assert.deepEqual(read.map((r) => r.row), [0, 1, 2]);
});

test('a UTF-8 byte-order mark at the start is ignored', async () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"a":1}\n{"a":2}\n')]);
  assert.deepEqual(values(await collectAll(readJsonLines(chunked(bytes, 2), options))), [{ a: 1 }, { a: 2 }]);
});

test('invalid UTF-8 and malformed JSON are per-line errors; the next lines still parse', async () => {
  const bytes = new Uint8Array([
    ...new TextEncoder().encode('{"a":"'),
    0xe2, 0x28, 0xa1, // broken 3-byte sequence
    ...new TextEncoder().encode('"}\n{"a": tru}\n{"a":3}\n'),
  ]);
  const read = await collectAll(readJsonLines(chunked(bytes, 3), options));
  assert.equal(read.length, 3);
  assert.equal(read[0]?.ok, false);
  assert.equal(read[0]?.ok === false && read[0].reason, 'invalid UTF-8');
  assert.ok(read[1]?.ok === false && read[1].reason.startsWith('malformed JSON: '), JSON.stringify(read[1]));
  assert.deepEqual(read[2]?.ok && read[2].value, { a: 3 });
});

test('a line over the limit is reported by size; one at the limit is read', async () => {
  const at = `{"a":"${'x'.repeat(1024 - 8)}"}`; // exactly 1024 bytes
  const over = `{"a":"${'x'.repeat(1024 - 7)}"}`; // 1025 bytes
  assert.equal(at.length, 1024);
  const read = await collectAll(readJsonLines(chunked(new TextEncoder().encode(`${at}\r\n${over}\r\n${at}`), 100), options));
  assert.equal(read[0]?.ok, true);
  assert.deepEqual(read[1], {
    row: 1,
    bytes: 1025,
    ok: false,
    reason: 'record is 1025 bytes, over the 1024-byte limit (--max-record-bytes)',
  });
  assert.equal(read[2]?.ok, true);
});

test('a huge line is skipped without being held in memory', async () => {
  // 256 MiB in one line, streamed from one reused 1 MiB buffer: if the reader kept the
  // line, external memory would grow by about that much.
  const piece = new Uint8Array(1 << 20).fill(0x61);
  const pieces = 256;
  let peak = 0;
  const baseline = process.memoryUsage().arrayBuffers;
  async function* source(): AsyncGenerator<Uint8Array> {
    yield new TextEncoder().encode('{"output":"');
    for (let i = 0; i < pieces; i++) {
      yield piece;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
    }
    yield new TextEncoder().encode('"}\n{"a":1}\n');
  }
  const read = await collectAll(readJsonLines(source(), { source: 'mem', maxRecordBytes: 4 << 20 }));
  const size = pieces * piece.length + 13;
  assert.equal(read[0]?.ok === false && read[0].reason, `record is ${size} bytes, over the 4194304-byte limit (--max-record-bytes)`);
  assert.deepEqual(read[1]?.ok && read[1].value, { a: 1 });
  assert.ok(peak < 64 << 20, `external memory grew by ${peak} bytes`);
});
