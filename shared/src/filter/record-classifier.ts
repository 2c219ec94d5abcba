import type { CorpusFormat } from '../corpus/read-corpus.ts';
import type { ByteSink } from './byte-sink.ts';
import type { Selection } from './select-flagged.ts';

/** What one input gave, for the console and filter-summary.json. */
export interface InputCounts {
  source: string;
  /** Where its filtered copy went. */
  output: string;
  format: CorpusFormat;
  /** Records read (blank JSONL lines are not records). */
  records: number;
  /** Records written to the copy. */
  written: number;
  /** Records whose id is flagged: removed, or with --keep-flagged the only ones written. */
  flagged: number;
  /** Valid examples with no row in the score table (added since the audit, or cut by its --limit): kept. */
  not_audited: number;
  /** Records that are no valid example (the audit rejected them too, see its errors.jsonl): kept as they are. */
  invalid: number;
  /** Flagged ids the audit found in a file of this name that no input held (see filter-summary.json → missing). */
  missing_ids: number;
}

/**
 * Decides for each record whether it is written, counts it, and logs flagged ones (with their
 * scores and the record) to flagged.jsonl. Flagged: its id is in the selection. Everything else
 * (unflagged, not audited, not a valid example) is kept, unless --keep-flagged asks for the
 * flagged records alone.
 */
export class RecordClassifier {
  constructor(
    private readonly selection: Selection,
    private readonly keepFlagged: boolean,
    private readonly flaggedLog: ByteSink,
  ) {}

  begin(source: string, output: string, format: CorpusFormat): InputCounts {
    return { source, output, format, records: 0, written: 0, flagged: 0, not_audited: 0, invalid: 0, missing_ids: 0 };
  }

  /** Whether to write the record. `record` gives the value logged for a flagged one. */
  async classify(counts: InputCounts, row: number, id: string | null, record: () => unknown): Promise<boolean> {
    counts.records++;
    let write: boolean;
    if (id === null) {
      counts.invalid++;
      write = !this.keepFlagged;
    } else {
      const index = this.selection.flagged.indexOf(id);
      if (index !== undefined) {
        counts.flagged++;
        this.selection.flagged.markFound(index);
        const entry = this.selection.flagged.entry(id)!;
        const line = { id, source: counts.source, row, score: entry.score, rep_score: entry.repScore, grad_score: entry.gradScore, record: record() };
        await this.flaggedLog.write(`${JSON.stringify(line, jsonValue)}\n`);
        write = this.keepFlagged;
      } else {
        if (!this.selection.audited.has(id)) counts.not_audited++;
        write = !this.keepFlagged;
      }
    }
    if (write) counts.written++;
    return write;
  }
}

/** JSON for Parquet values too: int64 as a number (a string past 2⁵³), bytes as base64, typed arrays as arrays. */
export function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}
