import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm';
import { openParquetWriter } from '../../../shared/src/output/parquet-table-writer.ts';
import type { ColumnSpec, Row } from '../../../shared/src/output/parquet-table-writer.ts';

const COLUMNS: ColumnSpec[] = [
  { name: 'id', type: 'int64', description: 'row number' },
  { name: 'text', type: 'utf8' },
  { name: 'note', type: 'utf8', nullable: true },
  { name: 'tokens', type: 'int32' },
  { name: 'maybe_int', type: 'int32', nullable: true },
  { name: 'big', type: 'int64', nullable: true },
  { name: 'rep', type: 'float64', description: 'representation score' },
  { name: 'grad', type: 'float32' },
  { name: 'flag', type: 'bool' },
  { name: 'maybe_flag', type: 'bool', nullable: true },
];

/** mulberry32: deterministic so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['', 'a', 'Zebra ', 'ünïcødé', '日本語のテキスト', '🙂👩‍👩‍👧', 'e\u0301', '"quoted"\n\ttab', 'x'.repeat(300), 'مرحبا', '\\'];

function randomRows(n: number, seed: number): Row[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const rows: Row[] = [];
  for (let i = 0; i < n; i++) {
    const words = Math.floor(r() * 4);
    let text = '';
    for (let w = 0; w < words; w++) text += pick(PIECES);
    const special = r();
    rows.push({
      id: BigInt(i),
      text,
      note: r() < 0.3 ? null : pick(PIECES),
      tokens: Math.floor((r() - 0.5) * 2 ** 32) | 0,
      maybe_int: r() < 0.2 ? null : Math.floor(r() * 1000) - 500,
      big: r() < 0.2 ? null : (r() < 0.5 ? BigInt(Math.floor(r() * 2 ** 53)) * 1024n - 2n ** 62n : Math.floor((r() - 0.5) * 1e6)),
      rep: special < 0.05 ? NaN : special < 0.07 ? Infinity : (r() - 0.5) * 1e6,
      grad: special > 0.95 ? NaN : (r() - 0.5) * 10,
      flag: r() < 0.5,
      maybe_flag: r() < 0.3 ? null : r() < 0.5,
    });
  }
  return rows;
}

/** What a faithful reader must return for `row`: NaN floats as null, float32 rounded, ints as bigint where 64-bit. */
function expected(row: Row): Record<string, unknown> {
  const nanToNull = (v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? null : v);
  const grad = nanToNull(row.grad);
  return {
    ...row,
    big: row.big === null ? null : BigInt(row.big as number | bigint),
    rep: nanToNull(row.rep),
    grad: grad === null ? null : Math.fround(grad as number),
  };
}

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-parquet-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function duckdb(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJS();
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Appends in uneven chunks so row groups straddle append calls. */
async function writeAll(path: string, rows: Row[], options: Parameters<typeof openParquetWriter>[2]) {
  const writer = await openParquetWriter(path, COLUMNS, options);
  const r = rng(7);
  for (let i = 0; i < rows.length;) {
    const size = Math.floor(r() * 1700);
    await writer.append(rows.slice(i, i + size));
    i += size;
  }
  return writer.close();
}

test('zstd round trip through DuckDB: values, row groups and column types', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'scores.parquet');
  const rows = randomRows(3500, 1);
  assert.deepEqual(await writeAll(path, rows, { rowGroupRows: 1000 }), { rows: 3500 });

  const back = await duckdb(`select * from read_parquet('${path}') order by id`);
  assert.equal(back.length, rows.length);
  for (let i = 0; i < rows.length; i++) assert.deepEqual(back[i], expected(rows[i]!), `row ${i}`);

  const groups = await duckdb(
    `select row_group_id, any_value(row_group_num_rows) as n, any_value(compression) as c
     from parquet_metadata('${path}') group by row_group_id order by row_group_id`,
  );
  assert.deepEqual(groups.map((g) => Number(g.n)), [1000, 1000, 1000, 500]);
  assert.ok(groups.every((g) => g.c === 'ZSTD'));

  const schema = await duckdb(`select name, type, repetition_type from parquet_schema('${path}') where type is not null`);
  assert.deepEqual(schema.map((s) => [s.name, s.type, s.repetition_type]), [
    ['id', 'INT64', 'REQUIRED'], ['text', 'BYTE_ARRAY', 'REQUIRED'], ['note', 'BYTE_ARRAY', 'OPTIONAL'],
    ['tokens', 'INT32', 'REQUIRED'], ['maybe_int', 'INT32', 'OPTIONAL'], ['big', 'INT64', 'OPTIONAL'],
    // Floats are always nullable: NaN is stored as null.
    ['rep', 'DOUBLE', 'OPTIONAL'], ['grad', 'FLOAT', 'OPTIONAL'],
    ['flag', 'BOOLEAN', 'REQUIRED'], ['maybe_flag', 'BOOLEAN', 'OPTIONAL'],
  ]);
  assert.deepEqual(await readdir(dir), ['scores.parquet']);
});

test('snappy round trip through hyparquet, with column descriptions in the Arrow schema', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'scores.parquet');
  const rows = randomRows(2100, 2);
  await writeAll(path, rows, { rowGroupRows: 700, compression: 'snappy' });

  // hyparquet without hyparquet-compressors reads snappy only (Node 20's zlib has no zstd).
  const back = await parquetReadObjects({ file: await asyncBufferFromFile(path) });
  assert.equal(back.length, rows.length);
  for (let i = 0; i < rows.length; i++) assert.deepEqual(back[i], expected(rows[i]!), `row ${i}`);
  const groups = await duckdb(`select distinct row_group_id, compression from parquet_metadata('${path}')`);
  assert.equal(groups.length, 3);
  assert.ok(groups.every((g) => g.compression === 'SNAPPY'));

  const arrow = tableFromIPC(readParquet(await readFile(path)).intoIPCStream());
  const descriptions = arrow.schema.fields.map((f) => f.metadata.get('description') ?? null);
  assert.deepEqual(descriptions, COLUMNS.map((c) => c.description ?? null));
});

test('an empty writer still produces a valid file with the schema', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'empty.parquet');
  const writer = await openParquetWriter(path, COLUMNS);
  await writer.append([]);
  assert.deepEqual(await writer.close(), { rows: 0 });
  const described = await duckdb(`describe select * from read_parquet('${path}')`);
  assert.deepEqual(described.map((d) => d.column_name), COLUMNS.map((c) => c.name));
  assert.deepEqual(await duckdb(`select count(*)::int as n from read_parquet('${path}')`), [{ n: 0 }]);
});

test('nothing exists under the final name until close; data reaches the disk before close', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'out.parquet');
  const writer = await openParquetWriter(path, COLUMNS, { rowGroupRows: 500 });
  await writer.append(randomRows(5000, 3));
  await assert.rejects(stat(path), { code: 'ENOENT' });
  // Row groups are flushed as they fill, so the partial file grows while the writer is open.
  const deadline = Date.now() + 5000;
  while ((await stat(`${path}.partial`)).size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok((await stat(`${path}.partial`)).size > 0, 'row groups should be written before close');
  await writer.close();
  assert.deepEqual(await readdir(dir), ['out.parquet']);
  assert.deepEqual(await duckdb(`select count(*)::int as n from read_parquet('${path}')`), [{ n: 5000 }]);
});

test('abort removes the partial file, before or after data was written', async (t) => {
  const dir = await tempDir(t);
  const early = await openParquetWriter(join(dir, 'a.parquet'), COLUMNS);
  assert.deepEqual(await readdir(dir), ['a.parquet.partial']);
  await early.abort();
  const late = await openParquetWriter(join(dir, 'b.parquet'), COLUMNS, { rowGroupRows: 100 });
  await late.append(randomRows(1050, 4));
  await late.abort();
  await late.abort();
  assert.deepEqual(await readdir(dir), []);
  await assert.rejects(late.append(randomRows(1, 5)), /closed/);
});

test('bad values reject with the column and row, and the file is abandoned', async (t) => {
  const dir = await tempDir(t);
  const good = randomRows(10, 6);
  const cases: [Partial<Row>, RegExp][] = [
    [{ text: null }, /column "text" \(utf8\) row 7/],
    [{ tokens: 1.5 }, /column "tokens" \(int32\) row 7/],
    [{ tokens: 2 ** 31 }, /column "tokens"/],
    [{ flag: 1 }, /column "flag" \(bool\)/],
    [{ rep: '0.5' }, /column "rep" \(float64\)/],
    [{ big: 2 ** 60 }, /column "big" \(int64\)/],
    [{ id: undefined }, /column "id"/],
  ];
  for (const [patch, message] of cases) {
    const path = join(dir, 'bad.parquet');
    const writer = await openParquetWriter(path, COLUMNS, { rowGroupRows: 4 });
    const rows = good.map((row, i) => (i === 7 ? { ...row, ...patch } as Row : row));
    // Row 7 sits in the second row group, which is encoded during this append.
    await assert.rejects(writer.append(rows), (err: Error) => err instanceof TypeError && message.test(err.message));
    assert.deepEqual(await readdir(dir), [], JSON.stringify(patch, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
    await assert.rejects(writer.close(), /closed/);
  }
  // A bad row in the last, partial row group is found by close.
  const writer = await openParquetWriter(join(dir, 'late.parquet'), COLUMNS);
  await writer.append([{ ...good[0]!, flag: null }]);
  await assert.rejects(writer.close(), /column "flag" \(bool\) row 0/);
  assert.deepEqual(await readdir(dir), []);
});

test('rejects bad schemas and options up front', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'x.parquet');
  await assert.rejects(openParquetWriter(path, []), TypeError);
  await assert.rejects(openParquetWriter(path, [{ name: 'a', type: 'utf8' }, { name: 'a', type: 'int32' }]), /duplicate/);
  await assert.rejects(openParquetWriter(path, COLUMNS, { rowGroupRows: 0 }), /rowGroupRows/);
  assert.deepEqual(await readdir(dir), []);
});

test('appends that are not awaited one by one still land in order', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'c.parquet');
  const rows = randomRows(900, 8);
  const writer = await openParquetWriter(path, COLUMNS, { rowGroupRows: 100 });
  await Promise.all([0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => writer.append(rows.slice(k * 100, k * 100 + 100))));
  await writer.close();
  const back = await duckdb(`select id from read_parquet('${path}')`);
  assert.deepEqual(back.map((r) => r.id), rows.map((r) => r.id));
});
