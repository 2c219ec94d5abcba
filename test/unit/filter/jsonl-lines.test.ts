import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readJsonLines } from '../../../shared/src/corpus/json-lines-reader.ts';
import { InputError } from '../../../shared/src/errors.ts';
import { splitJsonLines } from '../../../shared/src/filter/jsonl-lines.ts';
import { chunked, collectAll } from './helpers.ts';

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const options = { source: 'mem.jsonl', maxRecordBytes: 1024 };

test('the lines put back together are the input, byte for byte, whatever the chunking', async () => {
  const texts = [
    '{"a":1}\n{"a":2}\n',
    '{"a":1}\r\n\r\n  \n{"a":"é ✓ 🚀"}\r\n{"a":3}', // CRLF, blank lines, no final newline
    '\n\n{"a":1}\n\n',
    '\uFEFF{"a":1}\nnot json\n{"a":2}\n',
    '',
  ];
  for (const text of texts) {
    const bytes = encode(text);
    for (const size of [1, 2, 3, 7, 4096]) {
      const lines = await collectAll(splitJsonLines(chunked(bytes, size), options));
      assert.equal(Buffer.concat(lines.map((l) => l.raw)).toString('utf8'), text, `chunk size ${size}`);
      // Records are numbered and parsed exactly as the corpus reader does it.
      const reference = await collectAll(readJsonLines(chunked(bytes, size), options));
      const records = lines.flatMap((l) => (l.record ? [l.record] : []));
      assert.deepEqual(records, reference);
    }
  }
});

test('blank lines are lines without a record; each line keeps its own terminator', async () => {
  const lines = await collectAll(splitJsonLines(chunked(encode('{"a":1}\r\n \n{"a":2}'), 3), options));
  assert.deepEqual(lines.map((l) => decode(l.raw)), ['{"a":1}\r\n', ' \n', '{"a":2}']);
  assert.deepEqual(lines.map((l) => l.record?.row ?? null), [0, null, 1]);
});

test('a line over the record limit stops with an InputError naming the row and the flag', async () => {
  const text = `{"a":1}\n{"a":"${'x'.repeat(100)}"}\n`;
  await assert.rejects(collectAll(splitJsonLines(chunked(encode(text), 16), { source: 'big.jsonl', maxRecordBytes: 50 })), (err: unknown) => {
    assert.ok(err instanceof InputError);
    assert.equal(err.source, 'big.jsonl');
    assert.equal(err.row, 1);
    assert.match(err.message, /--max-record-bytes/);
    return true;
  });
  // Exactly at the limit (CRLF not counted) is fine.
  const exact = '{"a":"' + 'x'.repeat(42) + '"}\r\n';
  const lines = await collectAll(splitJsonLines(chunked(encode(exact), 5), { source: 'ok.jsonl', maxRecordBytes: 50 }));
  assert.equal(lines[0]?.record?.ok, true);
});
