/**
 * Arrow IPC stream helpers shared by the bus codecs. arrow-js reads a stream cut at a message
 * boundary as a shorter (even empty) table without complaint, and a few damaged bytes in a schema
 * can make it allocate until the process dies. So every payload is sealed: after the stream's
 * end-of-stream marker comes an 8-byte trailer, "SSCK" and the CRC-32 (LE) of the bytes before it,
 * checked before arrow-js sees anything. Arrow readers stop at the end marker and ignore it.
 * Payload kind and row counts travel in the schema metadata.
 */
import { crc32 } from 'node:zlib';
import { RecordBatch, Schema, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import type { Field, Vector } from 'apache-arrow';
import { CorruptBatchError } from './corrupt-batch-error.ts';

const PAYLOAD_KEY = 'safesift.payload';
const EOS = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
const TRAILER_MAGIC = [0x53, 0x53, 0x43, 0x4b]; // "SSCK"
const TRAILER_BYTES = 8;

/** Appends the checksum trailer to an Arrow IPC stream. */
export function sealIpcStream(stream: Uint8Array): Uint8Array {
  const out = new Uint8Array(stream.length + TRAILER_BYTES);
  out.set(stream);
  out.set(TRAILER_MAGIC, stream.length);
  new DataView(out.buffer, out.byteOffset + stream.length + 4, 4).setUint32(0, crc32(stream), true);
  return out;
}

/** One Arrow IPC stream of `vectors` (all the same length) under `fields`, tagged as `payload`. */
export function writeIpcStream(payload: string, fields: Field[], vectors: Vector[], metadata: Record<string, string>): Uint8Array {
  const schema = new Schema(fields, new Map([[PAYLOAD_KEY, payload], ...Object.entries(metadata)]));
  const loose = new Table(Object.fromEntries(fields.map((f, i) => [f.name, vectors[i]!])));
  // Re-wrap under our schema: vectorFromArray marks every field nullable and carries no metadata.
  const table = new Table(schema, loose.batches.map((b) => new RecordBatch(schema, b.data)));
  return sealIpcStream(tableToIPC(table, 'stream'));
}

/** Reads a stream written by writeIpcStream; checks its trailer, end marker and payload kind. */
export function readIpcStream(bytes: Uint8Array, payload: string): { table: Table; metadata: Map<string, string> } {
  if (!(bytes instanceof Uint8Array)) throw new CorruptBatchError(`${payload}: expected bytes, got ${typeof bytes}`);
  const n = bytes.length - TRAILER_BYTES;
  if (n < EOS.length || TRAILER_MAGIC.some((b, i) => bytes[n + i] !== b)) {
    throw new CorruptBatchError(`${payload}: truncated or not a safesift payload (${bytes.length} bytes, no checksum trailer)`);
  }
  const stream = bytes.subarray(0, n);
  if (crc32(stream) !== new DataView(bytes.buffer, bytes.byteOffset + n + 4, 4).getUint32(0, true)) {
    throw new CorruptBatchError(`${payload}: checksum mismatch (damaged bytes)`);
  }
  if (EOS.some((b, i) => stream[n - EOS.length + i] !== b)) {
    throw new CorruptBatchError(`${payload}: not an Arrow IPC stream (no end-of-stream marker)`);
  }
  let table: Table;
  try {
    table = tableFromIPC(stream);
  } catch (err) {
    throw new CorruptBatchError(`${payload}: not a readable Arrow IPC stream: ${(err as Error).message}`, { cause: err });
  }
  const metadata = table.schema.metadata;
  const kind = metadata.get(PAYLOAD_KEY);
  if (kind !== payload) {
    throw new CorruptBatchError(`${payload}: the stream holds ${kind === undefined ? 'no safesift payload' : `a ${kind} payload`}`);
  }
  return { table, metadata };
}

/** A required metadata entry. */
export function metadataEntry(metadata: Map<string, string>, key: string, payload: string): string {
  const value = metadata.get(key);
  if (value === undefined) throw new CorruptBatchError(`${payload}: schema metadata has no '${key}'`);
  return value;
}

// arrow-js decodes text with a TextDecoder that drops a leading U+FEFF and replaces bad bytes.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A utf8 column's values, exactly as encoded (a leading BOM kept); bad offsets or UTF-8 are corrupt. */
export function readUtf8Column(vector: Vector, name: string, payload: string): (string | null)[] {
  const out: (string | null)[] = [];
  for (const data of vector.data) {
    const offsets = data.valueOffsets as Int32Array | undefined;
    const values = (data.values as Uint8Array | undefined) ?? new Uint8Array(0);
    for (let i = 0; i < data.length; i++) {
      if (!data.getValid(i)) {
        out.push(null);
        continue;
      }
      const start = offsets?.[i];
      const end = offsets?.[i + 1];
      if (start === undefined || end === undefined || start < 0 || end < start || end > values.length) {
        throw new CorruptBatchError(`${payload}: column "${name}" row ${out.length}: bad string offsets`);
      }
      try {
        out.push(UTF8.decode(values.subarray(start, end)));
      } catch {
        throw new CorruptBatchError(`${payload}: column "${name}" row ${out.length}: invalid UTF-8`);
      }
    }
  }
  return out;
}

/** Runs a decoder; anything it throws that is not already a CorruptBatchError (arrow-js reading damaged buffers) becomes one. */
export function asCorrupt<T>(payload: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof CorruptBatchError) throw err;
    throw new CorruptBatchError(`${payload}: ${(err as Error).message}`, { cause: err });
  }
}
