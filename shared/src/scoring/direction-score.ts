import { ConfigError } from '../errors.ts';
import { checkAnchorSets, type AnchorSetVectors } from './anchor-sets.ts';
import { directionColumn, type DirectionPosition } from './ranking-method.ts';
import { l2norm } from './vector-math.ts';

/** Positions of each layer's two states in a layer-states vector (feature graph order). */
export const DIRECTION_POSITIONS: readonly DirectionPosition[] = ['prompt', 'response'];

/**
 * A direction whose length is below this fraction of the role means' lengths is noise: harmful
 * and safe anchors that share their requests have the same states at the last prompt token (the
 * model is causal), so that direction is zero up to rounding, and its column stays empty.
 */
export const DEGENERATE_DIRECTION = 1e-4;

export interface DirectionInfo {
  layer: number;
  position: DirectionPosition;
  column: string;
  /** ‖mean harmful − mean safe‖ before normalising. */
  norm: number;
  /** Why the column is empty, or null when it is scored. */
  degenerate: string | null;
}

/**
 * Compliance-direction scorer (refusal-direction work, Arditi et al. 2024; DataShield): per
 * selected layer and position, d = mean state of the harmful anchors − mean state of the safe
 * anchors (each role's mean is the mean of its sets' means, so sets count equally), normalised;
 * an example's score is dot(h, d̂), its state's projection on the direction.
 */
export class DirectionScorer {
  readonly layers: readonly number[];
  readonly hiddenSize: number;
  readonly directions: readonly DirectionInfo[];
  /** Unit directions, one per (layer, position) in layer-states order; null where degenerate. */
  private readonly units: (Float64Array | null)[];

  constructor(sets: readonly AnchorSetVectors[], layers: readonly number[], hiddenSize: number) {
    this.layers = [...layers];
    this.hiddenSize = hiddenSize;
    const width = 2 * layers.length * hiddenSize;
    if (layers.length === 0) {
      this.directions = [];
      this.units = [];
      return;
    }
    const dim = checkAnchorSets(sets, 'direction score');
    if (dim !== width) throw new ConfigError(`direction score: anchor layer states have ${dim} values, expected ${width} (${layers.length} layers × 2 × ${hiddenSize})`);
    const noSafe = !sets.some((s) => s.spec.role === 'safe');
    const harmful = roleMean(sets.filter((s) => s.spec.role === 'harmful'), width);
    const safe = roleMean(sets.filter((s) => s.spec.role === 'safe'), width);
    const infos: DirectionInfo[] = [];
    this.units = [];
    layers.forEach((layer, i) => {
      DIRECTION_POSITIONS.forEach((position, p) => {
        const at = (2 * i + p) * hiddenSize;
        const h = harmful.subarray(at, at + hiddenSize);
        const s = safe.subarray(at, at + hiddenSize);
        const d = new Float64Array(hiddenSize);
        for (let j = 0; j < hiddenSize; j++) d[j] = h[j]! - s[j]!;
        const norm = l2norm(d);
        const scale = (l2norm(h) + l2norm(s)) / 2;
        const degenerate = noSafe
          ? 'no safe anchor set (the direction is harmful minus safe)'
          : !Number.isFinite(norm)
          ? 'the anchor states are not finite'
          : norm <= DEGENERATE_DIRECTION * scale
            ? 'harmful and safe anchors have the same mean state here (anchors that share their requests do, at the last prompt token)'
            : null;
        if (degenerate === null) for (let j = 0; j < hiddenSize; j++) d[j]! /= norm;
        this.units.push(degenerate === null ? d : null);
        infos.push({ layer, position, column: directionColumn(layer, position), norm, degenerate });
      });
    });
    this.directions = infos;
  }

  /** Column names in layer-states order. */
  columns(): string[] {
    return this.directions.map((d) => d.column);
  }

  /** Per direction, dot(state, d̂); null where the direction is degenerate. */
  score(states: Float32Array): (number | null)[] {
    const width = 2 * this.layers.length * this.hiddenSize;
    if (states.length !== width) throw new RangeError(`layer states have ${states.length} values, expected ${width}`);
    return this.units.map((u, k) => {
      if (u === null) return null;
      const at = k * this.hiddenSize;
      let s = 0;
      for (let j = 0; j < this.hiddenSize; j++) s += states[at + j]! * u[j]!;
      return s;
    });
  }
}

/** Mean over sets of each set's mean vector (float64). */
function roleMean(sets: readonly AnchorSetVectors[], width: number): Float64Array {
  const mean = new Float64Array(width);
  for (const { vectors } of sets) {
    for (const v of vectors) for (let j = 0; j < width; j++) mean[j]! += v[j]! / vectors.length / sets.length;
  }
  return mean;
}
