/**
 * Streaming Parquet writer with memory bounded by one row group.
 *
 * Rows are buffered up to `rowGroupRows`, turned into one Arrow record batch (typed arrays, no
 * per-value builders), handed to parquet-wasm's `transformParquetStream` (Rust ArrowWriter behind a
 * pull-based ReadableStream) and the bytes it emits are written to `<path>.partial` as they come.
 * `append` waits until the encoder has asked for the batch, so at most about two row groups are
 * alive at once (one in JS, one inside the encoder). `close` renames the partial file into place.
 * A bad value (TypeError naming column and row) or I/O error from `append`/`close` aborts the file.
 *
 * Float columns are always nullable: NaN (a score that could not be computed) is written as null,
 * because Parquet readers disagree on NaN ordering and statistics. Column `description`s are kept
 * as Arrow field metadata (`description`) in the file's embedded Arrow schema.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  Bool, Field, Float32, Float64, Int32, Int64, RecordBatch, Schema, Struct, Table, Utf8,
  makeData, tableToIPC,
} from 'apache-arrow';
import type { DataType } from 'apache-arrow';
import * as pw from 'parquet-wasm';

export type ColumnType = 'utf8' | 'int32' | 'int64' | 'float32' | 'float64' | 'bool';
export interface ColumnSpec { name: string; type: ColumnType; nullable?: boolean; description?: string }
export type Row = Record<string, string | number | bigint | boolean | null>;
export interface ParquetWriterOptions { rowGroupRows?: number; compression?: 'zstd' | 'snappy' }
export interface ParquetTableWriter {
  append(rows: Row[]): Promise<void>;
  close(): Promise<{ rows: number }>;
  abort(): Promise<void>;
}

const ARROW_TYPES: Record<ColumnType, () => DataType> = {
  utf8: () => new Utf8(), int32: () => new Int32(), int64: () => new Int64(),
  float32: () => new Float32(), float64: () => new Float64(), bool: () => new Bool(),
};

const isFloat = (c: ColumnSpec): boolean => c.type === 'float32' || c.type === 'float64';

function arrowSchema(columns: ColumnSpec[]): Schema {
  const names = new Set<string>();
  const fields = columns.map((c) => {
    if (names.has(c.name)) throw new TypeError(`duplicate Parquet column "${c.name}"`);
    names.add(c.name);
    const meta = c.description ? new Map([['description', c.description]]) : null;
    return new Field(c.name, ARROW_TYPES[c.type](), isFloat(c) || c.nullable === true, meta);
  });
  return new Schema(fields);
}

function badValue(col: ColumnSpec, row: number, value: unknown): TypeError {
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value);
  return new TypeError(`column "${col.name}" (${col.type}) row ${row}: invalid value ${shown}`);
}

/** One column of `rows` as Arrow data; `base` is the index of rows[0] in the whole file (for errors). */
function encodeColumn(col: ColumnSpec, field: Field, rows: Row[], base: number) {
  const n = rows.length;
  const validity = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  const values: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) {
    let v = rows[i]![col.name];
    if (v === undefined) v = null;
    if (typeof v === 'number' && Number.isNaN(v) && isFloat(col)) v = null;
    if (v === null) {
      if (!field.nullable) throw badValue(col, base + i, v);
      nullCount++;
    } else validity[i >> 3]! |= 1 << (i & 7);
    values[i] = v;
  }
  const nullBitmap = nullCount > 0 ? validity : undefined;
  const check = (ok: boolean, i: number) => { if (!ok) throw badValue(col, base + i, values[i]); };
  function fillNumbers<A extends Int32Array | Float32Array | Float64Array>(data: A, int: boolean): A {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null) continue;
      check(typeof v === 'number' && (!int || (v | 0) === v), i);
      data[i] = v as number;
    }
    return data;
  }
  switch (col.type) {
    case 'utf8': {
      const offsets = new Int32Array(n + 1);
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v !== null) { check(typeof v === 'string', i); bytes += Buffer.byteLength(v as string); }
        offsets[i + 1] = bytes;
      }
      const data = Buffer.allocUnsafe(bytes);
      for (let i = 0; i < n; i++) if (values[i] !== null) data.write(values[i] as string, offsets[i]!);
      return makeData({ type: new Utf8(), length: n, nullCount, nullBitmap, valueOffsets: offsets, data });
    }
    case 'bool': {
      const data = new Uint8Array((n + 7) >> 3);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null) continue;
        check(typeof v === 'boolean', i);
        if (v) data[i >> 3]! |= 1 << (i & 7);
      }
      return makeData({ type: new Bool(), length: n, nullCount, nullBitmap, data });
    }
    case 'int64': {
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v === null) continue;
        if (typeof v === 'bigint') data[i] = v;
        else { check(Number.isSafeInteger(v), i); data[i] = BigInt(v as number); }
      }
      return makeData({ type: new Int64(), length: n, nullCount, nullBitmap, data });
    }
    case 'int32':
      return makeData({ type: new Int32(), length: n, nullCount, nullBitmap, data: fillNumbers(new Int32Array(n), true) });
    case 'float32':
      return makeData({ type: new Float32(), length: n, nullCount, nullBitmap, data: fillNumbers(new Float32Array(n), false) });
    case 'float64':
      return makeData({ type: new Float64(), length: n, nullCount, nullBitmap, data: fillNumbers(new Float64Array(n), false) });
  }
}

function toWasmBatch(schema: Schema, columns: ColumnSpec[], rows: Row[], base: number): pw.RecordBatch {
  const children = columns.map((c, i) => encodeColumn(c, schema.fields[i]!, rows, base));
  const struct = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  const table = pw.Table.fromIPCStream(tableToIPC(new Table([new RecordBatch(schema, struct)]), 'stream'));
  try {
    const batch = table.recordBatch(0);
    if (!batch) throw new Error('parquet-wasm returned no record batch');
    return batch;
  } finally {
    table.free();
  }
}

export async function openParquetWriter(
  path: string,
  columns: ColumnSpec[],
  options: ParquetWriterOptions = {},
): Promise<ParquetTableWriter> {
  const rowGroupRows = options.rowGroupRows ?? 65536;
  if (!Number.isInteger(rowGroupRows) || rowGroupRows < 1) throw new TypeError(`rowGroupRows must be a positive integer, got ${rowGroupRows}`);
  if (columns.length === 0) throw new TypeError('a Parquet file needs at least one column');
  const schema = arrowSchema(columns);
  const partial = `${path}.partial`;
  await mkdir(dirname(path), { recursive: true });
  const file = await open(partial, 'w');

  // Pull-based source: the encoder's pull resolves `wanted`; `feed` answers it with a batch or end.
  let feed: ((batch: pw.RecordBatch | null) => void) | null = null;
  let wanted: () => void = () => {};
  let wantedP = new Promise<void>((r) => { wanted = r; });
  let source!: ReadableStreamDefaultController<pw.RecordBatch>;
  const input = new ReadableStream<pw.RecordBatch>({
    start(c) { source = c; },
    pull(c) {
      return new Promise<void>((done) => {
        feed = (batch) => { feed = null; if (batch) c.enqueue(batch); else c.close(); done(); };
        wanted();
      });
    },
  }, { highWaterMark: 0 });

  let builder = new pw.WriterPropertiesBuilder()
    .setCompression(options.compression === 'snappy' ? pw.Compression.SNAPPY : pw.Compression.ZSTD)
    .setMaxRowGroupSize(rowGroupRows)
    .setCreatedBy('safesift (parquet-wasm)');
  // Scores and row ids almost never repeat: dictionary pages cost ~1/3 of the CPU and save nothing.
  for (const c of columns) if (isFloat(c) || c.type === 'int64') builder = builder.setColumnDictionaryEnabled(c.name, false);
  const props = builder.build();
  let failure: unknown = null;
  const pump = (async () => {
    const output = await pw.transformParquetStream(input, props);
    for await (const chunk of output as ReadableStream<Uint8Array>) await file.write(chunk);
  })().catch((err: unknown) => { failure ??= err; wanted(); });

  let buffered: Row[] = [];
  let written = 0;
  let state: 'open' | 'closing' | 'done' = 'open';

  const send = async (batch: pw.RecordBatch | null) => {
    await wantedP;
    if (failure !== null || !feed) { batch?.free(); throw new Error(`writing ${path} failed`, { cause: failure }); }
    wantedP = new Promise<void>((r) => { wanted = r; });
    feed(batch);
  };
  const flush = async (rows: Row[]) => {
    const batch = toWasmBatch(schema, columns, rows, written);
    written += rows.length;
    await send(batch);
  };
  const assertOpen = () => { if (state !== 'open') throw new Error(`Parquet writer for ${path} is ${state === 'done' ? 'closed' : 'closing'}`); };

  // Calls run one at a time (callers may not await each append). Any failure leaves a
  // half-written row group behind, so it abandons the whole file.
  let tail: Promise<unknown> = Promise.resolve();
  const orAbort = <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(async () => {
      try { return await work(); } catch (err) { await writer.abort(); throw err; }
    });
    tail = run.catch(() => {});
    return run;
  };

  const writer: ParquetTableWriter = {
    append: (rows) => orAbort(async () => {
      assertOpen();
      for (const row of rows) {
        buffered.push(row);
        if (buffered.length === rowGroupRows) {
          const group = buffered;
          buffered = [];
          await flush(group);
        }
      }
    }),
    close: () => orAbort(async () => {
      assertOpen();
      state = 'closing';
      // An empty file still needs one (empty) batch so the encoder knows the schema.
      if (buffered.length > 0 || written === 0) await flush(buffered);
      buffered = [];
      await send(null);
      await pump;
      if (failure !== null) throw new Error(`writing ${path} failed`, { cause: failure });
      await file.sync();
      await file.close();
      await rename(partial, path);
      state = 'done';
      return { rows: written };
    }),
    async abort() {
      if (state === 'done') return;
      state = 'done';
      buffered = [];
      failure ??= new Error('aborted');
      try { source.error(failure); } catch { /* already closed */ }
      wanted();
      await pump;
      await file.close().catch(() => {});
      await rm(partial, { force: true });
    },
  };
  return writer;
}
