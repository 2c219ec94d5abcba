import { ConfigError, InputError, isTransientIoError } from '../errors.ts';
import { RECORD_SHAPES, type CorpusItem, type RecordShape } from './example.ts';
import { exampleId } from './example-id.ts';
import { readJsonArray } from './json-array-reader.ts';
import { readJsonLines } from './json-lines-reader.ts';
import { localFiles, type ByteSourceOpener } from './local-sources.ts';
import { readParquetRows } from './parquet-reader.ts';
import { DEFAULT_MAX_RECORD_BYTES, type RawRecord } from './raw-record.ts';
import { detectShape, isPlainObject, typeName, UNDETECTED_SHAPE_REASON, validateRecord } from './record-shapes.ts';

export { DEFAULT_MAX_RECORD_BYTES } from './raw-record.ts';

export interface ReadCorpusOptions {
  /** Validate every record as this shape instead of detecting it. */
  shape?: RecordShape;
  /** Read only records 0..limit-1 (bad records count). */
  limit?: number;
  /** Records larger than this many bytes are reported and skipped unread. */
  maxRecordBytes?: number;
}

export type CorpusFormat = 'jsonl' | 'json' | 'parquet';

const FORMATS: Record<string, CorpusFormat> = { jsonl: 'jsonl', ndjson: 'jsonl', json: 'json', parquet: 'parquet' };

// Records seen before the shape is known are held back, up to these bounds; past them they
// are reported as undetectable so memory stays bounded even for a file of junk.
const PENDING_MAX_RECORDS = 1000;
const PENDING_MAX_BYTES = 16 * 1024 * 1024;

/** The container format, from the file extension (case-insensitive). */
export function corpusFormat(location: string): CorpusFormat {
  const extension = /\.([^./\\]+)$/.exec(location)?.[1]?.toLowerCase();
  const format = extension === undefined ? undefined : FORMATS[extension];
  if (format === undefined) {
    throw new ConfigError(`unsupported corpus file '${location}': expected a .jsonl, .ndjson, .json or .parquet file`);
  }
  return format;
}

/**
 * Streams a local corpus file as examples and per-record errors, in row order.
 * `source` on every item is `path` exactly as given. Throws ConfigError for bad options or an
 * unknown extension (before reading), and InputError(path, -1, reason) if the file cannot be
 * opened or read, or is not the container its extension says (items already yielded stand).
 * The record shape is detected from the first record with a recognisable key set, unless
 * `shape` forces it; every record is then validated as that shape.
 */
export function readCorpus(path: string, options: ReadCorpusOptions = {}): AsyncGenerator<CorpusItem> {
  return readCorpusWith(localFiles, path, options);
}

/** readCorpus over any byte source (local files today, object stores later). */
export async function* readCorpusWith(
  opener: ByteSourceOpener,
  source: string,
  options: ReadCorpusOptions = {},
): AsyncGenerator<CorpusItem> {
  const { shape, limit, maxRecordBytes } = checkOptions(options);
  const format = corpusFormat(source);
  const records = guarded(source, openRecords(opener, source, format, maxRecordBytes, limit));
  yield* toItems(source, records, shape, limit);
}

function checkOptions(options: ReadCorpusOptions): ReadCorpusOptions & { maxRecordBytes: number } {
  const { shape, limit, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES } = options;
  if (shape !== undefined && !RECORD_SHAPES.includes(shape)) {
    throw new ConfigError(`unknown record shape '${String(shape)}': expected one of ${RECORD_SHAPES.join(', ')}`);
  }
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new ConfigError(`limit must be a whole number >= 0, got ${limit}`);
  }
  if (!(Number.isSafeInteger(maxRecordBytes) && maxRecordBytes > 0)) {
    throw new ConfigError(`max record bytes must be a whole number > 0, got ${maxRecordBytes}`);
  }
  return { shape, limit, maxRecordBytes };
}

async function* openRecords(
  opener: ByteSourceOpener,
  source: string,
  format: CorpusFormat,
  maxRecordBytes: number,
  limit: number | undefined,
): AsyncGenerator<RawRecord> {
  if (format === 'parquet') {
    const file = await opener.openBuffer(source);
    try {
      yield* readParquetRows(file, { source, maxRecordBytes, rowLimit: limit });
    } finally {
      await file.close();
    }
    return;
  }
  const chunks = await opener.openStream(source);
  const read = format === 'jsonl' ? readJsonLines : readJsonArray;
  yield* read(chunks, { source, maxRecordBytes });
}

/**
 * Turns I/O failures (missing file, permissions, read errors) into a file-level InputError; a
 * transient one (network, a store answering 5xx) is passed on as it is, so callers retry it.
 */
async function* guarded(source: string, records: AsyncGenerator<RawRecord>): AsyncGenerator<RawRecord> {
  try {
    for (;;) {
      let next: IteratorResult<RawRecord>;
      try {
        next = await records.next();
      } catch (err) {
        if (err instanceof InputError || err instanceof ConfigError || isTransientIoError(err)) throw err;
        throw new InputError(source, -1, `cannot read file: ${(err as Error).message}`, { cause: err });
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await records.return(undefined);
  }
}

async function* toItems(
  source: string,
  records: AsyncGenerator<RawRecord>,
  forcedShape: RecordShape | undefined,
  limit: number | undefined,
): AsyncGenerator<CorpusItem> {
  let shape = forcedShape;
  let pending: RawRecord[] = [];
  let pendingBytes = 0;
  const undetectable = function* (): Generator<CorpusItem> {
    for (const record of pending) yield toItem(source, record, undefined);
    pending = [];
    pendingBytes = 0;
  };

  try {
    for await (const record of records) {
      if (limit !== undefined && record.row >= limit) break;
      if (shape === undefined && record.ok) shape = detectShape(record.value);
      if (shape === undefined) {
        pending.push(record);
        pendingBytes += record.bytes;
        if (pending.length >= PENDING_MAX_RECORDS || pendingBytes >= PENDING_MAX_BYTES) yield* undetectable();
        continue;
      }
      for (const held of pending) yield toItem(source, held, shape);
      pending = [];
      pendingBytes = 0;
      yield toItem(source, record, shape);
    }
  } catch (err) {
    // A file-level failure still reports the records read before it.
    yield* undetectable();
    throw err;
  }
  yield* undetectable();
}

function toItem(source: string, record: RawRecord, shape: RecordShape | undefined): CorpusItem {
  const { row } = record;
  if (!record.ok) return { kind: 'error', error: { source, row, reason: record.reason } };
  if (shape === undefined) {
    const reason = isPlainObject(record.value)
      ? UNDETECTED_SHAPE_REASON
      : `record is not a JSON object (got ${typeName(record.value)})`;
    return { kind: 'error', error: { source, row, reason } };
  }
  const result = validateRecord(shape, record.value);
  if (!result.ok) return { kind: 'error', error: { source, row, reason: result.reason } };
  return { kind: 'example', example: { id: exampleId(result.content), source, row, content: result.content } };
}
