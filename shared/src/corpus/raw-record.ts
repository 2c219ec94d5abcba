/**
 * What a container reader (JSON lines, JSON array, Parquet) hands to the record validator:
 * either a decoded value or the reason the record's bytes could not be decoded.
 * `bytes` is the record's size in the file (for Parquet, an estimate from its strings);
 * it bounds how much undetected-shape data may be held back (see read-corpus.ts).
 * `raw`: the record's bytes as they are in the file, when the reader was asked to keep them
 * (`keepRaw`; JSON arrays only) and the record was not too large to hold.
 */
export type RawRecord = { row: number; bytes: number; raw?: Uint8Array } & (
  | { ok: true; value: unknown }
  | { ok: false; reason: string }
);

/** Largest record (in bytes) we decode by default; larger ones are skipped without being buffered. */
export const DEFAULT_MAX_RECORD_BYTES = 4 * 1024 * 1024;

export interface ReaderOptions {
  /** The file as given by the user, for file-level InputErrors. */
  source: string;
  maxRecordBytes: number;
  /** Hand each record's own bytes along (`raw`), e.g. to copy kept records unchanged (safesift filter). */
  keepRaw?: boolean;
}

export function oversizeReason(bytes: number, limit: number): string {
  return `record is ${bytes} bytes, over the ${limit}-byte limit (--max-record-bytes)`;
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes one record's bytes (UTF-8, a leading BOM dropped) and parses it as JSON. */
export function parseJsonRecord(row: number, bytes: Uint8Array): RawRecord {
  let text: string;
  try {
    text = fatalDecoder.decode(bytes);
  } catch {
    return { row, bytes: bytes.length, ok: false, reason: 'invalid UTF-8' };
  }
  try {
    return { row, bytes: bytes.length, ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { row, bytes: bytes.length, ok: false, reason: `malformed JSON: ${(err as Error).message}` };
  }
}

/** Joins the pieces of a record that spanned several chunks. */
export function concatBytes(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
