import { InputError } from '../errors.ts';
import {
  concatBytes,
  isJsonWhitespace,
  oversizeReason,
  parseJsonRecord,
  type RawRecord,
  type ReaderOptions,
} from './raw-record.ts';

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const BOM = [0xef, 0xbb, 0xbf];

/**
 * Streams the elements of a top-level JSON array without parsing the whole file: a byte
 * scanner tracks strings, escapes and bracket depth to find where each element ends, then
 * each element alone goes through JSON.parse. An element longer than maxRecordBytes is
 * scanned to its end but not kept. A file that is not an array throws InputError(row -1).
 * A trailing comma before `]` is tolerated; an empty element (`,,`) is a bad record.
 */
export async function* readJsonArray(chunks: AsyncIterable<Uint8Array>, options: ReaderOptions): AsyncGenerator<RawRecord> {
  const scanner = new ArrayScanner(options);
  for await (const chunk of chunks) yield* scanner.scan(chunk);
  yield* scanner.end();
}

class ArrayScanner {
  private state: 'start' | 'between' | 'element' | 'after' = 'start';
  private offset = 0; // file offset of the current chunk
  private row = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private parts: Uint8Array[] = [];
  private length = 0; // element bytes before the current chunk
  private significant = 0; // element bytes up to its last non-whitespace byte
  private dropped = false;

  constructor(private readonly options: ReaderOptions) {}

  /** Returns the records completed in this chunk. */
  scan(chunk: Uint8Array): RawRecord[] {
    const done: RawRecord[] = [];
    let elementStart = 0;
    // Cached positions of the next quote and backslash, so string bodies are skipped with indexOf.
    let nextQuote = -1;
    let nextBackslash = -1;
    for (let i = 0; i < chunk.length; i++) {
      if (this.state === 'element') {
        if (this.inString) {
          if (this.escaped) {
            this.escaped = false;
          } else {
            if (nextQuote < i) nextQuote = indexOrEnd(chunk, QUOTE, i);
            if (nextBackslash < i) nextBackslash = indexOrEnd(chunk, BACKSLASH, i);
            i = Math.min(nextQuote, nextBackslash);
            if (i === chunk.length) break;
            if (i === nextQuote) this.inString = false;
            else this.escaped = true;
          }
          this.significant = this.length + (i - elementStart) + 1;
          continue;
        }
        const byte = chunk[i] as number;
        if (this.depth === 0 && (byte === COMMA || byte === CLOSE_BRACKET)) {
          this.append(chunk.subarray(elementStart, i), false);
          done.push(this.finishElement());
          this.state = byte === COMMA ? 'between' : 'after';
          continue;
        }
        if (byte === QUOTE) this.inString = true;
        else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
        else if ((byte === CLOSE_BRACE || byte === CLOSE_BRACKET) && this.depth > 0) this.depth--;
        if (!isJsonWhitespace(byte)) this.significant = this.length + (i - elementStart) + 1;
        continue;
      }
      const byte = chunk[i] as number;
      if (isJsonWhitespace(byte)) continue;
      const position = this.offset + i;
      if (this.state === 'start') {
        if (position < BOM.length && byte === BOM[position]) continue;
        if (byte !== OPEN_BRACKET) this.fail(`not a JSON array: expected '[' at byte ${position}`);
        this.state = 'between';
      } else if (this.state === 'between') {
        if (byte === CLOSE_BRACKET) {
          this.state = 'after'; // also accepts a trailing comma
        } else if (byte === COMMA) {
          done.push({ row: this.row++, bytes: 0, ok: false, reason: 'empty array element', ...(this.options.keepRaw ? { raw: new Uint8Array(0) } : {}) });
        } else {
          this.state = 'element';
          elementStart = i;
          i--; // let the element branch see this byte
        }
      } else {
        this.fail(`unexpected data after the end of the JSON array at byte ${position}`);
      }
    }
    if (this.state === 'element') this.append(chunk.subarray(elementStart), true);
    this.offset += chunk.length;
    return done;
  }

  /** Records (or a file-level error) owed once the input is exhausted. */
  end(): RawRecord[] {
    if (this.state === 'element') {
      const { row, bytes } = this.finishElement();
      return [{ row, bytes, ok: false, reason: 'file ends inside the record (the JSON array is not closed)' }];
    }
    if (this.state === 'start') this.fail('not a JSON array: the file is empty');
    if (this.state === 'between') this.fail('file ends before the JSON array is closed');
    return [];
  }

  private append(segment: Uint8Array, copy: boolean): void {
    this.length += segment.length;
    if (this.dropped) return;
    if (this.length > this.options.maxRecordBytes) {
      this.dropped = true;
      this.parts = [];
      return;
    }
    // Copy pieces that outlive their chunk so we never pin a whole chunk for a short tail.
    this.parts.push(copy ? segment.slice() : segment);
  }

  private finishElement(): RawRecord {
    const { maxRecordBytes } = this.options;
    const size = this.significant;
    let record: RawRecord;
    if (this.dropped || size > maxRecordBytes) {
      record = { row: this.row, bytes: size, ok: false, reason: oversizeReason(size, maxRecordBytes) };
    } else {
      const bytes = concatBytes(this.parts, this.length).subarray(0, size);
      record = parseJsonRecord(this.row, bytes);
      if (this.options.keepRaw) record.raw = bytes;
    }
    this.row++;
    this.parts = [];
    this.length = 0;
    this.significant = 0;
    this.dropped = false;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    return record;
  }

  private fail(reason: string): never {
    throw new InputError(this.options.source, -1, reason);
  }
}

function indexOrEnd(chunk: Uint8Array, byte: number, from: number): number {
  const index = chunk.indexOf(byte, from);
  return index === -1 ? chunk.length : index;
}
