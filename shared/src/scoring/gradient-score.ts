import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import { checkAnchorSets, type AnchorSetSpec, type AnchorSetVectors } from './anchor-sets.ts';
import { dotRows, isUsableNorm, l2norm, paddedRows } from './vector-math.ts';

export interface GradientScore {
  /** dot(normalised example gradient, set target), in the order of the sets. */
  perSet: number[];
  /** Σ over harmful sets of weight × per-set score. */
  harmful: number;
  /** Σ over all sets of weight × per-set score (bi-directional). */
  score: number;
}

export interface GradientScorerOptions {
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
  /** Targets row-major [sets × dim], zero-padded for dotRows. */
  private readonly matrix: Float64Array;
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
    this.matrix = paddedRows(targets.length, this.dim);
    targets.forEach((t, s) => this.matrix.set(t, s * this.dim));
    this.weights = Float64Array.from(this.specs, (s) => s.weight);
    this.harmfulMask = this.specs.map((s) => s.role === 'harmful');
    this.target = createHash('sha256')
      .update(`${this.specs.length}x${this.dim}\n`)
      .update(new Uint8Array(this.matrix.buffer, 0, this.specs.length * this.dim * 8))
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

  /** [|g|², dot(g, target of set s) for each set]: the part of the score that reads the gradient. */
  project(g: Float32Array): Float64Array {
    if (g.length !== this.dim) throw new RangeError(`gradient has ${g.length} dims, expected ${this.dim}`);
    const k = this.specs.length;
    const dots = new Float64Array(this.matrix.length / this.dim);
    const sq = dotRows(g, this.matrix, dots);
    const projection = new Float64Array(1 + k);
    projection[0] = sq;
    projection.set(dots.subarray(0, k), 1);
    return projection;
  }

  /** The score of a gradient from its projection (`project`). */
  scoreProjection(projection: Float64Array): GradientScore {
    const k = this.specs.length;
    if (projection.length !== 1 + k) throw new RangeError(`projection has ${projection.length} values, expected ${1 + k}`);
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
