import { ConfigError } from '../errors.ts';

/** What TopK needs of an item; the rest of the item is carried along untouched. */
export interface Ranked {
  score: number;
  id: string;
  source: string;
  row: number;
}

export type TopKMode = 'top' | 'bottom';

/** Code-unit order, not locale order, so results do not depend on the machine's locale. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Total order, best first: by score (descending for 'top', ascending for 'bottom'),
 * then id, source, row ascending in both modes. Negative when `a` ranks before `b`.
 */
export function compareRanked(mode: TopKMode, a: Ranked, b: Ranked): number {
  if (a.score !== b.score) return mode === 'top' ? (a.score > b.score ? -1 : 1) : a.score < b.score ? -1 : 1;
  return compareStrings(a.id, b.id) || compareStrings(a.source, b.source) || a.row - b.row;
}

/**
 * Streaming top-k with deterministic ties. A bounded heap whose root is the worst item kept:
 * O(log k) per push, O(k) memory. Items with a non-finite score are never kept.
 * Because the order is total on (score, id, source, row), the result does not depend on push
 * order or on how a stream was split into merged shards.
 */
export class TopK<T extends Ranked> {
  readonly k: number;
  readonly mode: TopKMode;
  private readonly heap: T[] = [];

  constructor(k: number, mode: TopKMode = 'top') {
    if (!Number.isInteger(k) || k < 0) throw new ConfigError(`k must be a non-negative integer, got ${k}`);
    this.k = k;
    this.mode = mode;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Offers an item; returns whether it is (for now) among the k best. */
  push(item: T): boolean {
    if (!Number.isFinite(item.score) || this.k === 0) return false;
    const h = this.heap;
    if (h.length < this.k) {
      h.push(item);
      this.siftUp(h.length - 1);
      return true;
    }
    // Root is the worst kept item; replace it only by a strictly better one.
    if (this.cmp(item, h[0]!) >= 0) return false;
    h[0] = item;
    this.siftDown(0);
    return true;
  }

  /** Adds every item of another partial result (or any iterable of items). */
  merge(other: TopK<T> | Iterable<T>): this {
    if (other === this) return this;
    if (other instanceof TopK) {
      if (other.mode !== this.mode) throw new ConfigError(`cannot merge a ${other.mode}-k into a ${this.mode}-k`);
      for (const item of other.heap) this.push(item);
    } else {
      for (const item of other) this.push(item);
    }
    return this;
  }

  /**
   * Adds a list already sorted best first (another TopK's sorted(), e.g. a batch's top-k): stops at
   * the first item that does not get in, since every later one ranks no better. Far faster than
   * merge() when most of the list is rejected, as in a reducer merging thousands of batches.
   */
  mergeSorted(items: readonly T[]): this {
    for (const item of items) {
      if (!this.push(item) && this.heap.length >= this.k) break;
    }
    return this;
  }

  /** The kept items, best first. */
  sorted(): T[] {
    return this.heap.slice().sort((a, b) => this.cmp(a, b));
  }

  /** Negative when `a` ranks before `b`; the heap keeps the item ranking last at its root. */
  private cmp(a: T, b: T): number {
    return compareRanked(this.mode, a, b);
  }

  private worse(i: number, j: number): boolean {
    return this.cmp(this.heap[i]!, this.heap[j]!) > 0;
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const t = h[i]!;
    h[i] = h[j]!;
    h[j] = t;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.worse(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let w = i;
      if (l < n && this.worse(l, w)) w = l;
      if (r < n && this.worse(r, w)) w = r;
      if (w === i) return;
      this.swap(i, w);
      i = w;
    }
  }
}
