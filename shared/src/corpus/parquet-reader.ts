import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type Compressors, type FileMetaData } from 'hyparquet';
import { compressors as hyparquetCompressors } from 'hyparquet-compressors';
import { InputError } from '../errors.ts';
import { oversizeReason, type RawRecord, type ReaderOptions } from './raw-record.ts';

/** Stands in for a string column value whose bytes are not valid UTF-8. */
const INVALID_UTF8: unique symbol = Symbol('invalid UTF-8');

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });

function stringFromBytes(bytes: Uint8Array): string | typeof INVALID_UTF8 {
  try {
    return fatalDecoder.decode(bytes);
  } catch {
    return INVALID_UTF8;
  }
}

// hyparquet decodes SNAPPY itself; hyparquet-compressors adds ZSTD, GZIP, BROTLI and LZ4.
const compressors: Compressors = hyparquetCompressors;

/**
 * Reads Parquet rows one row group at a time (so memory is bounded by the largest row group,
 * not the file), stopping at `rowLimit`. Each row is an object keyed by column name. Column
 * strings are decoded strictly: invalid UTF-8 makes the row a bad record. A row whose strings
 * add up to more than maxRecordBytes (UTF-8) is rejected like an oversized JSON line, though
 * Parquet has already decoded its row group by then.
 */
export async function* readParquetRows(
  file: AsyncBuffer,
  { source, maxRecordBytes, rowLimit }: ReaderOptions & { rowLimit?: number },
): AsyncGenerator<RawRecord> {
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new InputError(source, -1, `not a readable Parquet file: ${(err as Error).message}`, { cause: err });
  }
  const end = Math.min(Number(metadata.num_rows), rowLimit ?? Infinity);
  let groupStart = 0;
  for (const [index, group] of metadata.row_groups.entries()) {
    if (groupStart >= end) break;
    const groupEnd = Math.min(groupStart + Number(group.num_rows), end);
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({
        file,
        metadata,
        rowStart: groupStart,
        rowEnd: groupEnd,
        compressors,
        parsers: { stringFromBytes },
      });
    } catch (err) {
      const reason = `cannot decode Parquet row group ${index} (rows ${groupStart}-${groupEnd - 1}): ${(err as Error).message}`;
      throw new InputError(source, -1, reason, { cause: err });
    }
    for (const [offset, value] of rows.entries()) yield checkRow(groupStart + offset, value, maxRecordBytes);
    groupStart += Number(group.num_rows);
  }
}

function checkRow(row: number, value: Record<string, unknown>, maxRecordBytes: number): RawRecord {
  const scan = { bytes: 0, badField: undefined as string | undefined };
  scanValue(value, '', scan);
  if (scan.badField !== undefined) {
    return { row, bytes: scan.bytes, ok: false, reason: `invalid UTF-8 in field '${scan.badField}'` };
  }
  if (scan.bytes > maxRecordBytes) {
    return { row, bytes: scan.bytes, ok: false, reason: oversizeReason(scan.bytes, maxRecordBytes) };
  }
  return { row, bytes: scan.bytes, ok: true, value };
}

/** Sums the UTF-8 size of every string in a row and finds the first undecodable one. */
function scanValue(value: unknown, path: string, scan: { bytes: number; badField: string | undefined }): void {
  if (value === INVALID_UTF8) {
    scan.badField ??= path;
  } else if (typeof value === 'string') {
    scan.bytes += Buffer.byteLength(value, 'utf8');
  } else if (ArrayBuffer.isView(value)) {
    scan.bytes += value.byteLength;
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => scanValue(item, `${path}[${i}]`, scan));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) scanValue(item, path ? `${path}.${key}` : key, scan);
  } else {
    scan.bytes += 8;
  }
}
