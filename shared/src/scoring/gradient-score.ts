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

/** Gradient score of method.md §3: weighted sum of dots between the normalised gradient and set targets. */
export class GradientScorer {
  readonly dim: number;
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
  }

  /** The per-set targets (copies), e.g. to store next to the results. */
  targets(): Float64Array[] {
    return this.specs.map((_, s) => this.matrix.slice(s * this.dim, (s + 1) * this.dim));
  }

  score(g: Float32Array): GradientScore {
    if (g.length !== this.dim) throw new RangeError(`gradient has ${g.length} dims, expected ${this.dim}`);
    const k = this.specs.length;
    const dots = new Float64Array(this.matrix.length / this.dim);
    // dot(g/|g|, t) = dot(g, t)/|g|, with |g|² taken in the same pass.
    const sq = dotRows(g, this.matrix, dots);
    const n = Math.sqrt(sq);
    if (!isUsableNorm(n)) return { perSet: new Array<number>(k).fill(NaN), harmful: NaN, score: NaN };
    const perSet: number[] = [];
    let harmful = 0;
    let score = 0;
    for (let s = 0; s < k; s++) {
      const v = dots[s]! / n;
      perSet.push(v);
      const wv = this.weights[s]! * v;
      score += wv;
      if (this.harmfulMask[s]) harmful += wv;
    }
    return { perSet, harmful, score };
  }
}
