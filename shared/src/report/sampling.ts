/**
 * Fixed-size summaries of a stream for the report: a seeded generator, reservoir samples and
 * fixed-bin histograms (each O(capacity) or O(bins) memory whatever the stream length), and the
 * bootstrap of random k-subsets behind the format-tag intervals.
 */

/** A small seeded generator (mulberry32): the same seed gives the same report. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/**
 * Algorithm R: after any number of `offer`s, `items` is a uniform random sample (without
 * replacement) of everything offered, of at most `capacity` items.
 */
export class Reservoir<T> {
  readonly items: T[] = [];
  /** Items offered so far. */
  seen = 0;
  private readonly random: SeededRandom;

  constructor(
    readonly capacity: number,
    seed: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`reservoir capacity must be a positive integer, got ${capacity}`);
    this.random = new SeededRandom(seed);
  }

  offer(item: T): void {
    this.seen++;
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    const slot = this.random.below(this.seen);
    if (slot < this.capacity) this.items[slot] = item;
  }
}

/**
 * Counts over fixed bins of [min, max] (max inclusive in the last bin). Values outside the range
 * (statistics that were off) are counted in `below`/`above`; non-finite ones in `missing`.
 */
export class FixedHistogram {
  readonly counts: Float64Array;
  below = 0;
  above = 0;
  missing = 0;
  readonly width: number;

  constructor(
    readonly min: number,
    readonly max: number,
    readonly bins: number,
  ) {
    if (!(Number.isFinite(min) && Number.isFinite(max) && max >= min)) throw new RangeError(`histogram range [${min}, ${max}] is not a finite interval`);
    if (!(Number.isInteger(bins) && bins > 0)) throw new RangeError(`histogram bins must be a positive integer, got ${bins}`);
    this.counts = new Float64Array(bins);
    // A single value (max == min) still gets a visible bar.
    this.width = max > min ? (max - min) / bins : 1 / bins;
  }

  add(value: number): void {
    if (!Number.isFinite(value)) {
      this.missing++;
      return;
    }
    if (value < this.min) {
      this.below++;
      return;
    }
    if (value > this.max) {
      this.above++;
      return;
    }
    this.counts[Math.min(this.bins - 1, Math.floor((value - this.min) / this.width))]! += 1;
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** [start, end) of bin i. */
  edges(i: number): [number, number] {
    return [this.min + i * this.width, this.min + (i + 1) * this.width];
  }
}

/** Running count, mean and variance (Welford), skipping non-finite values. */
export class RunningMoments {
  count = 0;
  mean = 0;
  private m2 = 0;

  add(value: number): void {
    if (!Number.isFinite(value)) return;
    this.count++;
    const delta = value - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (value - this.mean);
  }

  get sd(): number {
    return this.count > 1 ? Math.sqrt(this.m2 / (this.count - 1)) : 0;
  }
}

export interface ShareInterval {
  /** Mean share over the draws. */
  mean: number;
  /** 2.5th and 97.5th percentiles of the share over the draws. */
  low: number;
  high: number;
}

/**
 * Shares of each flag in `draws` random subsets of size `k` of `masks` (each a bitmask of
 * `flags` flags), drawn without replacement: what the share of a tag in k random examples looks
 * like, to compare with the top-k. O(masks + draws × flags) memory, O(draws × k) time.
 */
export function bootstrapShares(masks: Uint8Array, flags: number, k: number, draws: number, seed: number): ShareInterval[] {
  const n = masks.length;
  const size = Math.min(k, n);
  if (n === 0 || size === 0) return Array.from({ length: flags }, () => ({ mean: 0, low: 0, high: 0 }));
  const random = new SeededRandom(seed);
  const order = new Uint32Array(n).map((_, i) => i);
  const shares = Array.from({ length: flags }, () => new Float64Array(draws));
  const counts = new Uint32Array(flags);
  for (let d = 0; d < draws; d++) {
    counts.fill(0);
    // Partial Fisher-Yates: the first `size` positions become a uniform random subset (the array
    // stays a permutation, so each draw can start from where the last one left it).
    for (let i = 0; i < size; i++) {
      const j = i + random.below(n - i);
      const picked = order[j]!;
      order[j] = order[i]!;
      order[i] = picked;
      const mask = masks[picked]!;
      for (let f = 0; f < flags; f++) if (mask & (1 << f)) counts[f]! += 1;
    }
    for (let f = 0; f < flags; f++) shares[f]![d] = counts[f]! / size;
  }
  return shares.map((values) => {
    const sorted = Float64Array.from(values).sort();
    return { mean: values.reduce((a, b) => a + b, 0) / draws, low: quantile(sorted, 0.025), high: quantile(sorted, 0.975) };
  });
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}
