import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import { anchorRow, checkAnchorSets, type AnchorSetSpec, type AnchorSetVectors } from './anchor-sets.ts';
import { argmax, type NearestAnchor } from './representation-score.ts';
import { dotRows, isUsableNorm, l2norm, paddedRowCount, paddedRows } from './vector-math.ts';

export interface GradientScore {
  /** dot(normalised example gradient, set target), in the order of the sets. */
  perSet: number[];
  /** Σ over harmful sets of weight × per-set score. */
  harmful: number;
  /** Σ over all sets of weight × per-set score (bi-directional). */
  score: number;
}

/** Per set, the anchor whose own normalised gradient has the largest dot with ĝ (file row, dot). */
export type NearestByGradient = (NearestAnchor | null)[];

/**
 * Memory the anchors' own normalised gradients may take (float64, with the targets): above it the
 * nearest-anchor-by-gradient columns are left empty. The cost is time as much as memory: every
 * example's gradient is dotted with each anchor's (3 sets of 10: 11x the work of the 3 targets,
 * 2.7 ms an example at 61,760 dims on the 2-core dev machine), so the budget keeps it to
 * gradients of about 250k dims (the demo model, or any model with --proj-dim); a 1B model's
 * default 3.5M-dim gradient is over it.
 */
export const NEAREST_ANCHOR_BUDGET_BYTES = 64 * 2 ** 20;

/** Bytes of the targets and anchor gradients as the scorer holds them (float64 rows, padded to whole row blocks). */
export function nearestAnchorsBytes(sets: number, anchors: number, dim: number): number {
  return paddedRowCount(sets + anchors) * dim * Float64Array.BYTES_PER_ELEMENT;
}

/** Whether the anchors' gradients fit the budget next to the targets (see NEAREST_ANCHOR_BUDGET_BYTES). */
export function nearestAnchorsFit(sets: number, anchors: number, dim: number, budgetBytes = NEAREST_ANCHOR_BUDGET_BYTES): boolean {
  return nearestAnchorsBytes(sets, anchors, dim) <= budgetBytes;
}

export interface GradientScorerOptions {
  /** See NEAREST_ANCHOR_BUDGET_BYTES; 0 turns the nearest-anchor projection off. */
  nearestAnchorBudgetBytes?: number;
  /**
   * Scale each target to unit length. Off by default: method.md §3 keeps the raw mean of the
   * normalised anchor gradients, so a tighter (more coherent) anchor set weighs more.
   */
  renormalizeTargets?: boolean;
}

/** Target of one anchor set: mean of its L2-normalised anchor gradients (float64). */
export function gradientTarget(spec: AnchorSetSpec, vectors: readonly Float32Array[], renormalize = false): Float64Array {
  const dim = vectors[0]?.length ?? 0;
  const t = new Float64Array(dim);
  vectors.forEach((g, i) => {
    const n = l2norm(g);
    if (!isUsableNorm(n)) {
      throw new ConfigError(`anchor ${i} of set ${spec.name} (${spec.source}) has a zero or non-finite gradient`);
    }
    for (let j = 0; j < dim; j++) t[j]! += g[j]! / n;
  });
  for (let j = 0; j < dim; j++) t[j]! /= vectors.length;
  if (renormalize) {
    const n = l2norm(t);
    if (!isUsableNorm(n)) throw new ConfigError(`target of set ${spec.name} is zero: anchor gradients cancel out`);
    for (let j = 0; j < dim; j++) t[j]! /= n;
  }
  return t;
}

/**
 * Gradient score of method.md §3: weighted sum of dots between the normalised gradient and set
 * targets. Scoring goes through the gradient's projection onto the targets (|g|² and one raw dot
 * per set), which is all a score needs: the feature cache stores it, so a re-audit against the
 * same targets scores without reading gradients back (same values, bit for bit).
 */
export class GradientScorer {
  readonly dim: number;
  /** Names the targets (sha256 of their dims and float64 values): projections are reusable only under the same one. */
  readonly target: string;
  readonly specs: readonly AnchorSetSpec[];
  /**
   * Targets row-major [sets × dim], then (within the memory budget) every anchor's normalised
   * gradient, zero-padded for dotRows: one pass over a gradient projects it onto both.
   */
  private readonly matrix: Float64Array;
  /** Anchor rows in the matrix (0 when over budget), their file rows, and each set's range of them. */
  readonly anchorCount: number;
  private readonly anchorRows: number[] = [];
  private readonly anchorRanges: (readonly [number, number])[] = [];
  private readonly weights: Float64Array;
  private readonly harmfulMask: boolean[];

  constructor(sets: readonly AnchorSetVectors[], options: GradientScorerOptions = {}) {
    checkAnchorSets(sets, 'gradient score');
    for (const { spec } of sets) {
      if (!Number.isFinite(spec.weight)) throw new ConfigError(`anchor set ${spec.name} has a non-finite weight ${spec.weight}`);
    }
    const targets = sets.map((s) => gradientTarget(s.spec, s.vectors, options.renormalizeTargets ?? false));
    this.specs = sets.map((s) => s.spec);
    this.dim = targets[0]!.length;
    const anchors = sets.reduce((n, s) => n + s.vectors.length, 0);
    const budget = options.nearestAnchorBudgetBytes ?? NEAREST_ANCHOR_BUDGET_BYTES;
    this.anchorCount = nearestAnchorsFit(targets.length, anchors, this.dim, budget) ? anchors : 0;
    this.matrix = paddedRows(targets.length + this.anchorCount, this.dim);
    targets.forEach((t, s) => this.matrix.set(t, s * this.dim));
    if (this.anchorCount > 0) {
      let row = targets.length;
      for (const set of sets) {
        const start = row - targets.length;
        set.vectors.forEach((g, i) => {
          const n = l2norm(g); // usable: checked by gradientTarget
          const at = row * this.dim;
          for (let j = 0; j < this.dim; j++) this.matrix[at + j] = g[j]! / n;
          this.anchorRows.push(anchorRow(set, i));
          row++;
        });
        this.anchorRanges.push([start, row - targets.length]);
      }
    }
    this.weights = Float64Array.from(this.specs, (s) => s.weight);
    this.harmfulMask = this.specs.map((s) => s.role === 'harmful');
    this.target = createHash('sha256')
      .update(`${this.specs.length}+${this.anchorCount}x${this.dim}\n`)
      .update(new Uint8Array(this.matrix.buffer, 0, (this.specs.length + this.anchorCount) * this.dim * 8))
      .digest('hex')
      .slice(0, 32);
  }

  /** The per-set targets (copies), e.g. to store next to the results. */
  targets(): Float64Array[] {
    return this.specs.map((_, s) => this.matrix.slice(s * this.dim, (s + 1) * this.dim));
  }

  score(g: Float32Array): GradientScore {
    return this.scoreProjection(this.project(g));
  }

  /**
   * [|g|², dot(g, target of set s) for each set, dot(g, â) for each anchor within the budget]:
   * the part of the score (and of the nearest anchors) that reads the gradient.
   */
  project(g: Float32Array): Float64Array {
    if (g.length !== this.dim) throw new RangeError(`gradient has ${g.length} dims, expected ${this.dim}`);
    const width = this.specs.length + this.anchorCount;
    const dots = new Float64Array(this.matrix.length / this.dim);
    const sq = dotRows(g, this.matrix, dots);
    const projection = new Float64Array(1 + width);
    projection[0] = sq;
    projection.set(dots.subarray(0, width), 1);
    return projection;
  }

  /** Per set, the anchor nearest ĝ by gradient dot; all null when the anchors were over budget. */
  nearest(projection: Float64Array): NearestByGradient {
    const k = this.specs.length;
    this.checkWidth(projection);
    const n = Math.sqrt(projection[0]!);
    if (this.anchorCount === 0 || !isUsableNorm(n)) return this.specs.map(() => null);
    return this.anchorRanges.map(([s, e]) => {
      const best = argmax(projection, 1 + k + s, 1 + k + e);
      return best === null ? null : { row: this.anchorRows[s + best.index]!, value: best.value / n };
    });
  }

  private checkWidth(projection: Float64Array): void {
    const want = 1 + this.specs.length + this.anchorCount;
    if (projection.length !== want) throw new RangeError(`projection has ${projection.length} values, expected ${want}`);
  }

  /** The score of a gradient from its projection (`project`). */
  scoreProjection(projection: Float64Array): GradientScore {
    const k = this.specs.length;
    this.checkWidth(projection);
    // dot(g/|g|, t) = dot(g, t)/|g|.
    const n = Math.sqrt(projection[0]!);
    if (!isUsableNorm(n)) return { perSet: new Array<number>(k).fill(NaN), harmful: NaN, score: NaN };
    const perSet: number[] = [];
    let harmful = 0;
    let score = 0;
    for (let s = 0; s < k; s++) {
      const v = projection[1 + s]! / n;
      perSet.push(v);
      const wv = this.weights[s]! * v;
      score += wv;
      if (this.harmfulMask[s]) harmful += wv;
    }
    return { perSet, harmful, score };
  }
}
