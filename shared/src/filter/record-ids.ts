import type { RecordShape } from '../corpus/example.ts';
import { exampleId } from '../corpus/example-id.ts';
import type { RawRecord } from '../corpus/raw-record.ts';
import { detectShape, validateRecord } from '../corpus/record-shapes.ts';

/**
 * The content id (example-id.ts) of each record of one file, computed as the audit computes it:
 * the file's shape is forced (the audit's --record-shape) or detected from its first record with a
 * recognisable key set, and every record is validated as that shape. Records before that one
 * cannot validate as any shape (detectShape accepts every key set a shape requires), so, unlike
 * readCorpus, nothing needs to be held back. A record that is no valid example has no id (null).
 */
export class RecordIdentifier {
  #shape: RecordShape | undefined;

  constructor(forced?: RecordShape) {
    this.#shape = forced;
  }

  get shape(): RecordShape | undefined {
    return this.#shape;
  }

  idOf(record: RawRecord): string | null {
    if (!record.ok) return null;
    this.#shape ??= detectShape(record.value);
    if (this.#shape === undefined) return null;
    const checked = validateRecord(this.#shape, record.value);
    return checked.ok ? exampleId(checked.content) : null;
  }
}
