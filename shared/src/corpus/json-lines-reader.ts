import {
  concatBytes,
  isJsonWhitespace,
  oversizeReason,
  parseJsonRecord,
  type RawRecord,
  type ReaderOptions,
} from './raw-record.ts';

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into JSON lines (LF, tolerating CRLF) and parses each one.
 * Lines holding only whitespace are not records: they are skipped and do not advance the row
 * index, so `row` is the index among non-blank lines. A line longer than maxRecordBytes is
 * reported by size and its bytes are dropped as they arrive, never held whole.
 */
export async function* readJsonLines(
  chunks: AsyncIterable<Uint8Array>,
  { maxRecordBytes }: ReaderOptions,
): AsyncGenerator<RawRecord> {
  let parts: Uint8Array[] = [];
  let length = 0; // bytes of the current line so far, newline excluded
  let dropped = false; // the line went over the limit and its parts were let go
  let blank = true;
  let lastByte = -1;
  let row = 0;

  const append = (segment: Uint8Array, copy: boolean): void => {
    if (segment.length === 0) return;
    length += segment.length;
    lastByte = segment[segment.length - 1] ?? -1;
    if (blank) blank = segment.every(isJsonWhitespace);
    if (dropped) return;
    // +1: a trailing CR is not part of the record.
    if (length > maxRecordBytes + 1) {
      dropped = true;
      parts = [];
      return;
    }
    // Copy pieces that outlive this chunk so we never pin a whole chunk for a short tail.
    parts.push(copy ? segment.slice() : segment);
  };

  const finishLine = (): RawRecord | undefined => {
    const contentLength = lastByte === CR ? length - 1 : length;
    let record: RawRecord | undefined;
    if (!blank) {
      if (dropped || contentLength > maxRecordBytes) {
        record = { row, bytes: contentLength, ok: false, reason: oversizeReason(contentLength, maxRecordBytes) };
      } else {
        record = parseJsonRecord(row, concatBytes(parts, length).subarray(0, contentLength));
      }
      row++;
    }
    parts = [];
    length = 0;
    dropped = false;
    blank = true;
    lastByte = -1;
    return record;
  };

  for await (const chunk of chunks) {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        append(chunk.subarray(start), true);
        break;
      }
      append(chunk.subarray(start, newline), false);
      const record = finishLine();
      if (record) yield record;
      start = newline + 1;
    }
  }
  const last = finishLine();
  if (last) yield last;
}
