import { readJsonArray } from '../corpus/json-array-reader.ts';
import { InputError } from '../errors.ts';
import { ByteSink } from './byte-sink.ts';
import { splitJsonLines } from './jsonl-lines.ts';
import type { InputCounts, RecordClassifier } from './record-classifier.ts';
import type { RecordIdentifier } from './record-ids.ts';

/** One input being filtered into a local temp file. */
export interface FileJob {
  /** The input as given (messages, flagged.jsonl → source). */
  source: string;
  /** The local file the filtered copy is written to. */
  tempPath: string;
  counts: InputCounts;
  classifier: RecordClassifier;
  identifier: RecordIdentifier;
  /** Largest record held to be copied. */
  maxRecordBytes: number;
  signal?: AbortSignal;
}

/** How often (in records) a long file checks for Ctrl-C. */
const SIGNAL_EVERY = 1024;

/**
 * JSON lines: each kept line is written with its own bytes (terminator included), so the copy is
 * the input without the removed lines. Blank lines stay too, except with --keep-flagged (then the
 * copy holds the flagged lines alone). Memory: one line.
 */
export async function filterJsonLines(chunks: AsyncIterable<Uint8Array>, job: FileJob, keepFlagged: boolean): Promise<void> {
  const out = await ByteSink.open(job.tempPath);
  try {
    for await (const { raw, record } of splitJsonLines(chunks, { source: job.source, maxRecordBytes: job.maxRecordBytes })) {
      let write = !keepFlagged;
      if (record !== null) {
        if (record.row % SIGNAL_EVERY === 0) job.signal?.throwIfAborted();
        const id = job.identifier.idOf(record);
        write = await job.classifier.classify(job.counts, record.row, id, () => (record.ok ? record.value : null));
      }
      if (write) await out.write(raw);
    }
    await out.close();
  } catch (err) {
    await out.abort();
    throw err;
  }
}

/**
 * JSON arrays: the kept elements, in order, each with its own bytes, one per line of a new array
 * (`[` … `]`; the spacing between elements is not kept). Memory: one element. An element whose
 * bytes cannot be held (over maxRecordBytes, or cut off by the end of the file) stops the filter:
 * InputError naming it.
 */
export async function filterJsonArray(chunks: AsyncIterable<Uint8Array>, job: FileJob): Promise<void> {
  const out = await ByteSink.open(job.tempPath);
  try {
    let first = true;
    await out.write('[');
    for await (const record of readJsonArray(chunks, { source: job.source, maxRecordBytes: job.maxRecordBytes, keepRaw: true })) {
      if (record.row % SIGNAL_EVERY === 0) job.signal?.throwIfAborted();
      const id = job.identifier.idOf(record);
      const write = await job.classifier.classify(job.counts, record.row, id, () => (record.ok ? record.value : null));
      if (!write) continue;
      if (record.raw === undefined) {
        const reason = record.ok ? 'record bytes were not kept' : record.reason;
        throw new InputError(job.source, record.row, `${reason}: the record cannot be copied${/limit/.test(reason) ? '; raise --max-record-bytes' : ''}`);
      }
      await out.write(first ? '\n' : ',\n');
      await out.write(record.raw);
      first = false;
    }
    await out.write(first ? ']\n' : '\n]\n');
    await out.close();
  } catch (err) {
    await out.abort();
    throw err;
  }
}
