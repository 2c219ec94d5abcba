import type { CorpusItem } from '@safesift/core/corpus/example.ts';
import { estimateItemBytes } from '@safesift/core/distributed/record-batch-codec.ts';

/**
 * Groups corpus items into bus batches of at most `maxExamples` items and `maxBytes` encoded
 * bytes, in read order: a pure function of the inputs, so a restarted coordinator plans the same
 * batches. An item too large for any message becomes a record error (reported, not dropped).
 */
export class InputBatcher {
  private items: CorpusItem[] = [];
  private bytes = 0;

  constructor(
    private readonly maxExamples: number,
    private readonly maxBytes: number,
  ) {}

  /** Adds an item; returns the batch it completed, if any. */
  add(item: CorpusItem): CorpusItem[] | null {
    let size = estimateItemBytes(item);
    if (size > this.maxBytes && item.kind === 'example') {
      const { source, row } = item.example;
      item = { kind: 'error', error: { source, row, reason: `record of about ${size} bytes does not fit in one bus message (at most ${this.maxBytes} bytes); raise the NATS server's max_payload or lower --max-record-bytes` } };
      size = estimateItemBytes(item);
    }
    let full: CorpusItem[] | null = null;
    if (this.items.length > 0 && this.bytes + size > this.maxBytes) full = this.take();
    this.items.push(item);
    this.bytes += size;
    if (this.items.length >= this.maxExamples) {
      if (full !== null) throw new Error('InputBatcher: two batches completed by one item');
      full = this.take();
    }
    return full;
  }

  /** The last, partial batch (null when empty). */
  flush(): CorpusItem[] | null {
    return this.items.length > 0 ? this.take() : null;
  }

  private take(): CorpusItem[] {
    const batch = this.items;
    this.items = [];
    this.bytes = 0;
    return batch;
  }
}
