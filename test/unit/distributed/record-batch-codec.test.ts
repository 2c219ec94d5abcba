import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Int64, Schema, Table, Utf8, RecordBatch, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import {
  decodeRecordBatch, encodeRecordBatch, estimateItemBytes, recordBatchOverheadBytes, type RecordBatchMessage,
} from '../../../shared/src/distributed/record-batch-codec.ts';
import { CorruptBatchError } from '../../../shared/src/distributed/corrupt-batch-error.ts';
import { sealIpcStream } from '../../../shared/src/distributed/arrow-ipc.ts';
import { encodeBatchResult } from '../../../shared/src/distributed/batch-result-codec.ts';
import { corpusItems, int, rng } from './random-data.ts';

function randomMessage(seed: number): RecordBatchMessage {
  const r = rng(seed);
  const n = r() < 0.1 ? 0 : int(r, 1, 60);
  return { jobId: `job-${seed}-20240601120000-abcdef`, batch: int(r, 0, 1e6), items: corpusItems(r, n) };
}

test('decode(encode(batch)) equals the batch for many random batches', () => {
  const shapes = new Set<string>();
  let errors = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const msg = randomMessage(seed);
    for (const item of msg.items) {
      if (item.kind === 'example') shapes.add(item.example.content.shape);
      else errors++;
    }
    assert.deepStrictEqual(decodeRecordBatch(encodeRecordBatch(msg)), msg, `seed ${seed}`);
  }
  assert.deepStrictEqual([...shapes].sort(), ['alpaca', 'chat', 'dolly', 'gsm8k']);
  assert.ok(errors > 0);
});

test('a decoded batch is independent of the bytes it came from', () => {
  const msg = randomMessage(7);
  const bytes = encodeRecordBatch(msg);
  const decoded = decodeRecordBatch(bytes);
  bytes.fill(0);
  assert.deepStrictEqual(decoded, msg);
});

test('estimates bound the encoded size, and are not far above it', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const msg = randomMessage(seed);
    const encoded = encodeRecordBatch(msg).length;
    const estimate = msg.items.reduce((n, item) => n + estimateItemBytes(item), 0);
    assert.ok(encoded <= recordBatchOverheadBytes(msg.jobId) + estimate, `seed ${seed}: ${encoded} > ${estimate} + overhead`);
    if (estimate > 20_000) assert.ok(estimate < 1.2 * encoded, `seed ${seed}: estimate ${estimate} far above ${encoded}`);
  }
});

test('truncated bytes throw CorruptBatchError at every cut', () => {
  const bytes = encodeRecordBatch(randomMessage(3));
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(() => decodeRecordBatch(bytes.subarray(0, cut)), CorruptBatchError, `cut at ${cut}`);
  }
});

test('random bytes throw CorruptBatchError', () => {
  const r = rng(99);
  for (let i = 0; i < 300; i++) {
    let bytes: Uint8Array = Uint8Array.from({ length: int(r, 0, 2000) }, () => int(r, 0, 255));
    // Half of them end like a real stream and carry a valid checksum, so Arrow parsing has to reject them.
    if (i % 2 === 0 && bytes.length >= 8) {
      bytes.set([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], bytes.length - 8);
      bytes = sealIpcStream(bytes);
    }
    assert.throws(() => decodeRecordBatch(bytes), CorruptBatchError);
  }
});

test('damaged bytes decode to a valid batch or throw CorruptBatchError, never anything else', () => {
  const r = rng(5);
  const original = encodeRecordBatch(randomMessage(11));
  for (let i = 0; i < 1000; i++) {
    const bytes = original.slice();
    for (let k = int(r, 1, 4); k > 0; k--) bytes[int(r, 0, bytes.length - 1)] = int(r, 0, 255);
    try {
      const msg = decodeRecordBatch(bytes);
      assert.ok(Array.isArray(msg.items));
    } catch (err) {
      assert.ok(err instanceof CorruptBatchError, `damage ${i}: ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
});

/** An Arrow stream shaped like a record batch, with the given columns and metadata. */
function handMade(columns: Record<string, Vector>, meta: Record<string, string>): Uint8Array {
  const loose = new Table(columns);
  const schema = new Schema(loose.schema.fields, new Map([['safesift.payload', 'record-batch/v1'], ...Object.entries(meta)]));
  return sealIpcStream(tableToIPC(new Table(schema, loose.batches.map((b) => new RecordBatch(schema, b.data))), 'stream'));
}

const goodColumns = () => ({
  source: vectorFromArray(['a.jsonl'], new Utf8()),
  row: vectorFromArray([0n], new Int64()),
  id: vectorFromArray(['abc'], new Utf8()),
  content: vectorFromArray([JSON.stringify({ shape: 'gsm8k', question: 'q', answer: 'a' })], new Utf8()),
  error: vectorFromArray([null], new Utf8()),
});
const meta = { jobId: 'j', batch: '0', items: '1' };

test('a hand-made stream like ours decodes (so the cases below fail for their own reason)', () => {
  const msg = decodeRecordBatch(handMade(goodColumns(), meta));
  assert.deepStrictEqual(msg.items, [{ kind: 'example', example: { id: 'abc', source: 'a.jsonl', row: 0, content: { shape: 'gsm8k', question: 'q', answer: 'a' } } }]);
});

test('wrong columns, bad content and inconsistent rows throw CorruptBatchError naming the problem', () => {
  const cases: Array<[string, Record<string, Vector>, Record<string, string>, RegExp]> = [
    ['row as text', { ...goodColumns(), row: vectorFromArray(['0'], new Utf8()) }, meta, /columns \[.*row: Utf8/],
    ['missing column', (({ error: _e, ...c }) => c)(goodColumns()), meta, /expected \[/],
    ['content not JSON', { ...goodColumns(), content: vectorFromArray(['{nope'], new Utf8()) }, meta, /row 0: content is not JSON/],
    ['content of no shape', { ...goodColumns(), content: vectorFromArray(['{"shape":"alpaca","instruction":1}'], new Utf8()) }, meta, /row 0: content is not an example/],
    ['extra content key', { ...goodColumns(), content: vectorFromArray(['{"shape":"gsm8k","question":"q","answer":"a","x":1}'], new Utf8()) }, meta, /not an example/],
    ['example without id', { ...goodColumns(), id: vectorFromArray([null], new Utf8()) }, meta, /without id/],
    ['error with content', { ...goodColumns(), error: vectorFromArray(['bad'], new Utf8()) }, meta, /error row with an id or content/],
    ['negative example row', { ...goodColumns(), row: vectorFromArray([-1n], new Int64()) }, meta, /record index -1/],
    ['count mismatch', goodColumns(), { ...meta, items: '2' }, /1 rows, the header says 2/],
    ['no jobId', goodColumns(), { batch: '0', items: '1' }, /no 'jobId'/],
    ['bad batch number', goodColumns(), { ...meta, batch: '-3' }, /'batch' is not a whole number/],
  ];
  for (const [what, columns, m, message] of cases) {
    assert.throws(() => decodeRecordBatch(handMade(columns, m)), (err: unknown) => {
      assert.ok(err instanceof CorruptBatchError, what);
      assert.equal(err.name, 'CorruptBatchError');
      assert.match(err.message, message, what);
      return true;
    });
  }
});

test('another payload is not taken for a record batch', () => {
  const result = encodeBatchResult({ kind: 'dead-letter', jobId: 'j', batch: 0, reason: 'x', deliveries: 3 });
  assert.throws(() => decodeRecordBatch(result), /record-batch\/v1: the stream holds a batch-result\/v1 payload/);
  const plain = tableToIPC(new Table({ source: vectorFromArray(['a'], new Utf8()) }), 'stream');
  assert.throws(() => decodeRecordBatch(plain), /no checksum trailer/);
  assert.throws(() => decodeRecordBatch(sealIpcStream(plain)), /no safesift payload/);
});

test('encode refuses bad headers and rows', () => {
  assert.throws(() => encodeRecordBatch({ jobId: '', batch: 0, items: [] }), TypeError);
  assert.throws(() => encodeRecordBatch({ jobId: 'j', batch: 1.5, items: [] }), TypeError);
  const item = { kind: 'error' as const, error: { source: 's', row: 0.5, reason: 'r' } };
  assert.throws(() => encodeRecordBatch({ jobId: 'j', batch: 0, items: [item] }), /row 0.5 is not an integer/);
});

test('the payload is a plain Arrow stream (plus a trailer Arrow readers ignore) with the documented columns', () => {
  const table = tableFromIPC(encodeRecordBatch({ jobId: 'j-1', batch: 4, items: [] }));
  assert.deepStrictEqual(
    table.schema.fields.map((f) => [f.name, String(f.type), f.nullable]),
    [['source', 'Utf8', false], ['row', 'Int64', false], ['id', 'Utf8', true], ['content', 'Utf8', true], ['error', 'Utf8', true]],
  );
  assert.equal(table.schema.metadata.get('jobId'), 'j-1');
  assert.equal(table.schema.metadata.get('batch'), '4');
  assert.deepStrictEqual(decodeRecordBatch(sealIpcStream(tableToIPC(table, 'stream'))), { jobId: 'j-1', batch: 4, items: [] });
});
