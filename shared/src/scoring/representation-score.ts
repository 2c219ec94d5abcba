import { ConfigError } from '../errors.ts';
import { anchorRow, checkAnchorSets, type AnchorSetVectors } from './anchor-sets.ts';
import { dotRows, isUsableNorm, l2norm, paddedRows } from './vector-math.ts';

export interface RepresentationScore {
  /** Mean of the top-n cosine similarities to each set's anchors, in the order of the sets. */
  perSet: number[];
  /** Mean top-n over the pooled anchors of all harmful sets (the paper's ranking score). */
  harmful: number;
  /** Mean top-n over the pooled anchors of all safe sets; null when there are no safe sets. */
  safe: number | null;
  /** harmful - safe (bi-directional), or harmful when there are no safe sets. */
  score: number;
  /** Per set, its most similar anchor (file row) and that cosine; null when r has no direction. */
  nearest: (NearestAnchor | null)[];
}

/** An anchor an example is closest to, by its row in the anchor file. */
export interface NearestAnchor {
  row: number;
  value: number;
}

/** The largest of values[start, end) and its offset from start; null when all are NaN. */
export function argmax(values: ArrayLike<number>, start: number, end: number): { index: number; value: number } | null {
  let best = -1;
  let value = -Infinity;
  for (let i = start; i < end; i++) {
    const v = values[i]!;
    if (v > value) {
      value = v;
      best = i;
    }
  }
  return best < 0 ? null : { index: best - start, value };
}

export interface RepresentationScorerOptions {
  /** How many of the most similar anchors are averaged (method.md §2: 1, i.e. the max). */
  topN?: number;
}

/** Mean of the n largest values (n capped at the count). */
export function meanTopN(values: ArrayLike<number>, n: number): number {
  const sorted = Array.from(values).sort((a, b) => b - a);
  const m = Math.min(n, sorted.length);
  let s = 0;
  for (let i = 0; i < m; i++) s += sorted[i]!;
  return s / m;
}

/** Representation score of method.md §2: cosine similarity to anchor features, top-n aggregated. */
export class RepresentationScorer {
  readonly topN: number;
  readonly dim: number;
  readonly setNames: readonly string[];
  /** Unit-normalised anchors, row-major [anchorCount × dim], float64, zero-padded for dotRows. */
  private readonly anchors: Float64Array;
  private readonly anchorCount: number;
  /** Anchor index ranges [start, end) per set. */
  private readonly ranges: ReadonlyArray<readonly [number, number]>;
  /** File row of each anchor, per set. */
  private readonly rows: readonly (readonly number[])[];
  private readonly harmfulIdx: number[] = [];
  private readonly safeIdx: number[] = [];

  constructor(sets: readonly AnchorSetVectors[], options: RepresentationScorerOptions = {}) {
    const topN = options.topN ?? 1;
    if (!Number.isInteger(topN) || topN < 1) throw new ConfigError(`top-n must be a positive integer, got ${topN}`);
    this.topN = topN;
    this.dim = checkAnchorSets(sets, 'representation score');
    this.setNames = sets.map((s) => s.spec.name);
    this.rows = sets.map((s) => s.vectors.map((_, i) => anchorRow(s, i)));
    this.anchorCount = sets.reduce((n, s) => n + s.vectors.length, 0);
    this.anchors = paddedRows(this.anchorCount, this.dim);
    const ranges: Array<readonly [number, number]> = [];
    let a = 0;
    for (const { spec, vectors } of sets) {
      const start = a;
      vectors.forEach((v, i) => {
        const n = l2norm(v);
        if (!isUsableNorm(n)) {
          throw new ConfigError(`anchor ${i} of set ${spec.name} (${spec.source}) has a zero or non-finite representation`);
        }
        const row = a * this.dim;
        for (let j = 0; j < this.dim; j++) this.anchors[row + j] = v[j]! / n;
        (spec.role === 'harmful' ? this.harmfulIdx : this.safeIdx).push(a);
        a++;
      });
      ranges.push([start, a]);
    }
    this.ranges = ranges;
  }

  /** Cosine similarity of `r` to every anchor, in set order; all NaN when r has no direction. */
  similarities(r: Float32Array): Float64Array {
    if (r.length !== this.dim) throw new RangeError(`representation has ${r.length} dims, expected ${this.dim}`);
    const dots = new Float64Array(this.anchors.length / this.dim);
    const n = Math.sqrt(dotRows(r, this.anchors, dots));
    const sims = dots.subarray(0, this.anchorCount);
    if (!isUsableNorm(n)) return sims.fill(NaN);
    for (let a = 0; a < sims.length; a++) sims[a] = sims[a]! / n;
    return sims;
  }

  score(r: Float32Array): RepresentationScore {
    const sims = this.similarities(r);
    const perSet = this.ranges.map(([s, e]) => meanTopN(sims.subarray(s, e), this.topN));
    const harmful = meanTopN(this.harmfulIdx.map((i) => sims[i]!), this.topN);
    const safe = this.safeIdx.length > 0 ? meanTopN(this.safeIdx.map((i) => sims[i]!), this.topN) : null;
    const nearest = this.ranges.map(([s, e], set) => {
      const best = argmax(sims, s, e);
      return best === null ? null : { row: this.rows[set]![best.index]!, value: best.value };
    });
    return { perSet, harmful, safe, score: safe === null ? harmful : harmful - safe, nearest };
  }
}
