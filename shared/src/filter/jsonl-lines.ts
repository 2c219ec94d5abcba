import { InputError } from '../errors.ts';
import { concatBytes, isJsonWhitespace, oversizeReason, parseJsonRecord, type RawRecord } from '../corpus/raw-record.ts';

const LF = 0x0a;
const CR = 0x0d;

/** One line of a JSON lines file: its exact bytes (terminator included), and the record it holds. */
export interface JsonLine {
  /** The line as it is in the file, with its LF or CRLF (none on a last line without one). */
  raw: Uint8Array;
  /** The parsed record, numbered as the corpus reader numbers it; null for a blank line (not a record). */
  record: RawRecord | null;
}

/**
 * Splits a byte stream into lines that keep their exact bytes, so a filter can write the lines it
 * keeps unchanged. Rows are counted as readJsonLines counts them (blank lines are not records) and
 * each record is parsed the same way. Memory: one line. A line longer than `maxRecordBytes` cannot
 * be held to be copied: InputError(source, row) naming the limit.
 */
export async function* splitJsonLines(
  chunks: AsyncIterable<Uint8Array>,
  { source, maxRecordBytes }: { source: string; maxRecordBytes: number },
): AsyncGenerator<JsonLine> {
  let parts: Uint8Array[] = [];
  let length = 0;
  let row = 0;

  const finish = (): JsonLine => {
    const raw = concatBytes(parts, length);
    parts = [];
    length = 0;
    let end = raw.length;
    if (end > 0 && raw[end - 1] === LF) end--;
    if (end > 0 && raw[end - 1] === CR) end--;
    const content = raw.subarray(0, end);
    if (content.every(isJsonWhitespace)) return { raw, record: null };
    if (content.length > maxRecordBytes) throw tooLarge(source, row, content.length, maxRecordBytes);
    return { raw, record: parseJsonRecord(row++, content) };
  };
  const append = (segment: Uint8Array): void => {
    if (segment.length === 0) return;
    length += segment.length;
    // +2: the terminator (CRLF) is not part of the record.
    if (length > maxRecordBytes + 2) throw tooLarge(source, row, length, maxRecordBytes);
    parts.push(segment.slice()); // a copy: never pin a whole read chunk for one line
  };

  for await (const chunk of chunks) {
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        append(chunk.subarray(start));
        break;
      }
      append(chunk.subarray(start, newline + 1));
      yield finish();
      start = newline + 1;
    }
  }
  if (length > 0) yield finish();
}

function tooLarge(source: string, row: number, bytes: number, limit: number): InputError {
  return new InputError(source, row, `${oversizeReason(bytes, limit)}: the record cannot be held to be copied; raise --max-record-bytes`);
}
