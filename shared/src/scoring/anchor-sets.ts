import { ConfigError } from '../errors.ts';

/** One anchor file as the scorers see it. `weight` is used by the gradient score's weighted sum. */
export interface AnchorSetSpec {
  name: string;
  role: 'harmful' | 'safe';
  weight: number;
  source: string;
}

/** An anchor set with its per-anchor feature vectors (representations or gradients). */
export interface AnchorSetVectors {
  spec: AnchorSetSpec;
  vectors: readonly Float32Array[];
  /** Row in the anchor file of each vector (rejected anchors leave gaps); default 0, 1, 2, … */
  rows?: readonly number[];
}

/** The file row of anchor `i` of a set. */
export function anchorRow(set: AnchorSetVectors, i: number): number {
  return set.rows?.[i] ?? i;
}

/**
 * Names anchor files `harmful1..N`, `safe1..M` in the order given. Default weights follow the
 * paper: +1 per harmful set, -1 per safe set. Explicit weights are in the order harmful..., safe....
 */
export function nameAnchorSets(harmful: readonly string[], safe: readonly string[], weights?: readonly number[]): AnchorSetSpec[] {
  if (harmful.length === 0) throw new ConfigError('at least one harmful anchor file is required');
  const total = harmful.length + safe.length;
  if (weights !== undefined) {
    if (weights.length !== total) {
      throw new ConfigError(
        `--weights has ${weights.length} value(s) but there are ${total} anchor set(s) ` +
          `(${harmful.length} harmful, ${safe.length} safe); give one weight per set in the order harmful..., safe...`,
      );
    }
    weights.forEach((w, i) => {
      if (!Number.isFinite(w)) throw new ConfigError(`--weights value ${i + 1} is not a finite number: ${w}`);
    });
  }
  const specs: AnchorSetSpec[] = [];
  harmful.forEach((source, i) => specs.push({ name: `harmful${i + 1}`, role: 'harmful', weight: weights?.[i] ?? 1, source }));
  safe.forEach((source, i) =>
    specs.push({ name: `safe${i + 1}`, role: 'safe', weight: weights?.[harmful.length + i] ?? -1, source }),
  );
  return specs;
}

/** Parses a `--weights` value such as "1,-1,-0.5" (commas and/or spaces). */
export function parseWeights(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter((p) => p.length > 0);
  if (parts.length === 0) throw new ConfigError('--weights is empty');
  return parts.map((p) => {
    const w = Number(p);
    if (!Number.isFinite(w)) throw new ConfigError(`--weights: "${p}" is not a finite number`);
    return w;
  });
}

/** Shared checks for scorer inputs: non-empty sets, one dimension, at least one harmful set. */
export function checkAnchorSets(sets: readonly AnchorSetVectors[], what: string): number {
  if (!sets.some((s) => s.spec.role === 'harmful')) throw new ConfigError(`${what}: no harmful anchor set`);
  let dim = -1;
  for (const { spec, vectors } of sets) {
    if (vectors.length === 0) throw new ConfigError(`${what}: anchor set ${spec.name} (${spec.source}) has no anchors`);
    for (const v of vectors) {
      if (dim === -1) dim = v.length;
      else if (v.length !== dim) {
        throw new ConfigError(`${what}: anchor set ${spec.name} has a ${v.length}-dim vector, expected ${dim}`);
      }
    }
  }
  if (dim <= 0) throw new ConfigError(`${what}: anchor vectors are empty`);
  return dim;
}
