import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Vector } from 'apache-arrow';
import { Field, Float64, RecordBatch, Schema, Table, Utf8, tableFromIPC, tableToIPC, vectorFromArray } from 'apache-arrow';
import { scoreColumns } from '../../../shared/src/audit/score-table.ts';
import type { ColumnSpec, Row } from '../../../shared/src/output/parquet-table-writer.ts';
import {
  decodeBatchResult, encodeBatchResult, type BatchOutcome, type BatchResult,
} from '../../../shared/src/distributed/batch-result-codec.ts';
import { CorruptBatchError } from '../../../shared/src/distributed/corrupt-batch-error.ts';
import { sealIpcStream } from '../../../shared/src/distributed/arrow-ipc.ts';
import { encodeRecordBatch } from '../../../shared/src/distributed/record-batch-codec.ts';
import { anchorSpecs, int, pick, rankedEntry, rng, score, text, type Rand } from './random-data.ts';

/** A value for one column: of its type, null where allowed (floats: always, as in scores.parquet). */
function cell(r: Rand, c: ColumnSpec): Row[string] {
  if ((c.nullable || c.type.startsWith('float')) && r() < 0.1) return null;
  switch (c.type) {
    case 'utf8': return text(r);
    case 'bool': return r() < 0.5;
    case 'int32': return pick(r, [0, -1, 2147483647, -2147483648, int(r, -1000, 1000)]);
    case 'int64': return pick(r, [0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, int(r, 0, 2 ** 45)]);
    case 'float32': return Math.fround(score(r));
    case 'float64': return score(r);
  }
}

function randomResult(r: Rand, columns: ColumnSpec[]): BatchResult {
  const n = r() < 0.1 ? 0 : int(r, 1, 40);
  const rows = Array.from({ length: n }, () => Object.fromEntries(columns.map((c) => [c.name, cell(r, c)])));
  return {
    kind: 'result',
    jobId: `job-${int(r, 0, 99)}-20240601120000-0a1b2c`,
    batch: int(r, 0, 1e6),
    worker: pick(r, ['worker-0', 'gpu-node-7/3', 'wörker 🙂', '']),
    rows,
    top: Array.from({ length: int(r, 0, 5) }, () => rankedEntry(r)),
    bottom: Array.from({ length: int(r, 0, 3) }, () => rankedEntry(r)),
    errors: Array.from({ length: int(r, 0, 3) }, () => ({ source: text(r), row: int(r, -1, 1e9), reason: text(r) })),
    records: int(r, 0, 5000),
    scored: n,
    featureMs: score(r),
    // Only jobs with a feature cache report how it served the batch.
    ...(r() < 0.5 ? { cache: { hits: int(r, 0, 5000), misses: int(r, 0, 5000), gradientReads: int(r, 0, 20) } } : {}),
  };
}

test('decode(encode(result)) equals the result for many random score tables', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const columns = scoreColumns(anchorSpecs(r, int(r, 1, 5)));
    const outcome: BatchOutcome = r() < 0.15
      ? { kind: 'dead-letter', jobId: 'job-x', batch: int(r, 0, 1e6), reason: text(r), deliveries: int(r, 1, 20) }
      : randomResult(r, columns);
    const bytes = encodeBatchResult(outcome, columns);
    assert.deepStrictEqual(decodeBatchResult(bytes, outcome.kind === 'result' ? { columns } : {}), outcome, `seed ${seed}`);
  }
});

test('every column type round-trips, nullable or not; NaN, -0 and null stay apart', () => {
  const columns: ColumnSpec[] = (['utf8', 'int32', 'int64', 'float32', 'float64', 'bool'] as const).flatMap((type) => [
    { name: `${type}_req`, type }, { name: `${type}_opt`, type, nullable: true },
  ]);
  const r = rng(42);
  const result = randomResult(r, columns);
  result.rows[0] = { ...result.rows[0], float64_req: Number.NaN, float64_opt: null, float32_req: -0, utf8_opt: null, bool_opt: null, int64_opt: null };
  result.scored = result.rows.length;
  const decoded = decodeBatchResult(encodeBatchResult(result, columns), { columns });
  assert.deepStrictEqual(decoded, result);
  const row = (decoded as BatchResult).rows[0]!;
  assert.ok(Number.isNaN(row.float64_req));
  assert.equal(row.float64_opt, null);
  assert.ok(Object.is(row.float32_req, -0));
});

test('int64 values beyond 2^53 come back as bigints, exactly', () => {
  const columns: ColumnSpec[] = [{ name: 'big', type: 'int64' }];
  const values = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n];
  const result = randomResult(rng(1), columns);
  result.rows = values.map((big) => ({ big }));
  const decoded = decodeBatchResult(encodeBatchResult(result, columns)) as BatchResult;
  assert.deepStrictEqual(decoded.rows.map((row) => row.big), values);
});

test('rows are a plain Arrow table typed from the column specs', () => {
  const columns = scoreColumns(anchorSpecs(rng(3), 2));
  const result = randomResult(rng(3), columns);
  const table = tableFromIPC(encodeBatchResult(result, columns));
  assert.deepStrictEqual(table.schema.fields.map((f) => f.name), columns.map((c) => c.name));
  assert.equal(String(table.schema.fields.find((f) => f.name === 'row')!.type), 'Int64');
  assert.equal(String(table.schema.fields.find((f) => f.name === 'grad_score')!.type), 'Float64');
  assert.equal(table.numRows, result.rows.length);
});

test('encode refuses rows that do not fit the columns', () => {
  const columns: ColumnSpec[] = [{ name: 'id', type: 'utf8' }, { name: 'tokens', type: 'int32' }, { name: 'row', type: 'int64' }];
  const base = randomResult(rng(2), columns);
  const bad: Array<[Row, RegExp]> = [
    [{ id: 'a', tokens: 1, row: 0, extra: 1 }, /"extra" is not a column/],
    [{ id: 'a', tokens: 1.5, row: 0 }, /"tokens" \(int32\) row 0: invalid value 1.5/],
    [{ id: null, tokens: 1, row: 0 }, /"id" \(utf8\) row 0: invalid value null/],
    [{ id: 'a', tokens: 1, row: 2 ** 60 }, /"row" \(int64\)/],
    [{ id: 'a', tokens: 1, row: 2n ** 64n }, /"row" \(int64\)/],
  ];
  for (const [row, message] of bad) assert.throws(() => encodeBatchResult({ ...base, rows: [row], scored: 1 }, columns), message);
  assert.throws(() => encodeBatchResult(base, [...columns, columns[0]!]), /duplicate column "id"/);
});

test('truncated, random and foreign bytes throw CorruptBatchError', () => {
  const columns = scoreColumns(anchorSpecs(rng(8), 2));
  const bytes = encodeBatchResult(randomResult(rng(8), columns), columns);
  for (let cut = 0; cut < bytes.length; cut += 3) assert.throws(() => decodeBatchResult(bytes.subarray(0, cut)), CorruptBatchError, `cut ${cut}`);
  const r = rng(9);
  for (let i = 0; i < 200; i++) {
    let junk: Uint8Array = Uint8Array.from({ length: int(r, 0, 1500) }, () => int(r, 0, 255));
    if (i % 2 === 0 && junk.length >= 8) {
      junk.set([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], junk.length - 8);
      junk = sealIpcStream(junk);
    }
    assert.throws(() => decodeBatchResult(junk), CorruptBatchError);
  }
  const batch = encodeRecordBatch({ jobId: 'j', batch: 0, items: [] });
  assert.throws(() => decodeBatchResult(batch), /holds a record-batch\/v1 payload/);
});

test('damaged bytes decode to some outcome or throw CorruptBatchError, never anything else', () => {
  const columns = scoreColumns(anchorSpecs(rng(4), 3));
  const original = encodeBatchResult(randomResult(rng(4), columns), columns);
  const r = rng(6);
  for (let i = 0; i < 800; i++) {
    const bytes = original.slice();
    for (let k = int(r, 1, 4); k > 0; k--) bytes[int(r, 0, bytes.length - 1)] = int(r, 0, 255);
    try {
      decodeBatchResult(bytes);
    } catch (err) {
      assert.ok(err instanceof CorruptBatchError, `damage ${i}: ${(err as Error).name}: ${(err as Error).message}`);
    }
  }
});

/** A batch-result stream with hand-chosen columns and outcome metadata. */
function handMade(fields: Field[], vectors: Vector[], outcome: unknown): Uint8Array {
  const schema = new Schema(fields, new Map([['safesift.payload', 'batch-result/v1'], ['outcome', JSON.stringify(outcome)]]));
  const loose = new Table(Object.fromEntries(fields.map((f, i) => [f.name, vectors[i]!])));
  return sealIpcStream(tableToIPC(new Table(schema, loose.batches.map((b) => new RecordBatch(schema, b.data))), 'stream'));
}

test('wrong columns and bad outcome fields throw CorruptBatchError naming the problem', () => {
  const good = { kind: 'result', jobId: 'j', batch: 0, worker: 'w', rows: 1, top: [], bottom: [], errors: [], records: 1, scored: 1, featureMs: 3 };
  const score = [new Field('score', new Float64(), true)];
  const scoreValues = [vectorFromArray([1.5], new Float64())];
  assert.deepStrictEqual(decodeBatchResult(handMade(score, scoreValues, good)), { ...good, rows: [{ score: 1.5 }] });
  const expected: ColumnSpec[] = [{ name: 'score', type: 'float64' }];
  const cases: Array<[string, Uint8Array, RegExp, ColumnSpec[]?]> = [
    ['text where a float is expected', handMade([new Field('score', new Utf8())], [vectorFromArray(['1.5'], new Utf8())], good), /columns \[score: utf8\], expected \[score: float64\]/, expected],
    ['a missing column', handMade([], [], { ...good, rows: 0 }), /columns \[\], expected \[score: float64\]/, expected],
    ['null in a non-nullable column', handMade([new Field('id', new Utf8(), false)], [vectorFromArray([null], new Utf8())], good), /non-nullable column "id" holds nulls/],
    ['row count mismatch', handMade(score, scoreValues, { ...good, rows: 2 }), /1 score rows, the header says 2/],
    ['negative batch', handMade(score, scoreValues, { ...good, batch: -1 }), /batch:/],
    ['unknown outcome kind', handMade(score, scoreValues, { ...good, kind: 'partial' }), /bad outcome/],
    ['extra field', handMade(score, scoreValues, { ...good, extra: 1 }), /bad outcome/],
    ['bad ranked entry', handMade(score, scoreValues, { ...good, top: [{ score: 'high' }] }), /top\.0/],
    ['dead letter with rows', handMade(score, scoreValues, { kind: 'dead-letter', jobId: 'j', batch: 0, reason: 'r', deliveries: 5 }), /dead letter with score rows/],
  ];
  for (const [what, bytes, message, columns] of cases) {
    assert.throws(() => decodeBatchResult(bytes, columns ? { columns } : {}), (err: unknown) => {
      assert.ok(err instanceof CorruptBatchError, what);
      assert.match(err.message, message, what);
      return true;
    });
  }
});
