import { ConfigError } from '../errors.ts';

/** How per-example gradients are reduced: exact, or a seeded Kronecker (LoGra-style) projection. */
export type ProjectionSpec = { kind: 'none' } | { kind: 'kron'; outDim: number; inDim: number; seed: number };

export const DEFAULT_PROJECTION_SEED = 0x5afe;

/** `auto` (the default) sizes the projection for the model when it opens: see `resolveProjection`. */
export type ProjectionChoice = ProjectionSpec | { kind: 'auto'; seed: number };

/**
 * `auto`'s projections. On a 58M model `kron:64x128` ranks with Spearman 0.99 against the exact
 * gradient score; on a 1B-shaped one only 0.66, where `kron:128x256` gives 0.81 at the same speed
 * (BENCHMARKS.md, fidelity-large): from this hidden size on, the wider one is used.
 */
export const AUTO_PROJECTIONS = { small: { outDim: 64, inDim: 128 }, large: { outDim: 128, inDim: 256 }, largeFromHidden: 2048 } as const;

/** Parses `auto`, `none` or `kron:OUTxIN`. */
export function parseProjectionChoice(text: string, seed = DEFAULT_PROJECTION_SEED): ProjectionChoice {
  return text === 'auto' ? { kind: 'auto', seed } : parseProjection(text, seed);
}

/** The projection `choice` stands for on a model of `hiddenSize`. */
export function resolveProjection(choice: ProjectionChoice, config: { hiddenSize: number }): ProjectionSpec {
  if (choice.kind !== 'auto') return choice;
  const dims = config.hiddenSize >= AUTO_PROJECTIONS.largeFromHidden ? AUTO_PROJECTIONS.large : AUTO_PROJECTIONS.small;
  return { kind: 'kron', ...dims, seed: choice.seed };
}

/** Parses `none` or `kron:OUTxIN` (e.g. `kron:64x128`). */
export function parseProjection(text: string, seed = DEFAULT_PROJECTION_SEED): ProjectionSpec {
  if (text === 'none') return { kind: 'none' };
  const match = /^kron:(\d+)x(\d+)$/.exec(text);
  if (!match) throw new ConfigError(`--proj: expected 'auto', 'none' or 'kron:OUTxIN' (e.g. kron:64x128), got '${text}'`);
  const outDim = Number(match[1]);
  const inDim = Number(match[2]);
  if (outDim < 1 || inDim < 1) throw new ConfigError(`--proj: dimensions must be positive, got '${text}'`);
  return { kind: 'kron', outDim, inDim, seed };
}

export function describeProjection(spec: ProjectionSpec, sketch: SketchSpec | null = null): string {
  const base = spec.kind === 'none' ? 'none' : `kron:${spec.outDim}x${spec.inDim}`;
  return sketch ? `${base}+sketch:${sketch.dim}` : base;
}

/**
 * A seeded Rademacher matrix [rows, cols] with entries ±1/sqrt(rows), so E[PᵀP] = I and the
 * Kronecker product of two such matrices preserves squared norms in expectation (Johnson–Lindenstrauss).
 * `stream` separates the matrices drawn from one seed.
 */
export function rademacherMatrix(rows: number, cols: number, seed: number, stream: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const scale = 1 / Math.sqrt(rows);
  let state = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  for (let i = 0; i < out.length; i += 32) {
    // 32 random signs per draw.
    state = (state + 0x9e3779b9) >>> 0;
    const z = mix32(state);
    for (let b = 0; b < 32 && i + b < out.length; b++) out[i + b] = (z >>> b) & 1 ? scale : -scale;
  }
  return out;
}

/** A seeded CountSketch to a fixed size applied after the per-parameter projections (`--proj-dim`). */
export interface SketchSpec {
  dim: number;
  seed: number;
}

/**
 * CountSketch buckets and signs for `inputDim` coordinates: coordinate i adds sign_i · g_i to bucket
 * h(i). A sparse Johnson–Lindenstrauss transform: O(inputDim) to store and apply, where a dense
 * projection of a full-model gradient would need inputDim × dim values.
 */
export function countSketch(inputDim: number, spec: SketchSpec): { buckets: number[]; signs: Float32Array } {
  const buckets = new Array<number>(inputDim);
  const signs = new Float32Array(inputDim);
  let state = (spec.seed ^ 0x2545f491) >>> 0;
  for (let i = 0; i < inputDim; i++) {
    state = (state + 0x9e3779b9) >>> 0;
    const z = mix32(state);
    buckets[i] = (z >>> 1) % spec.dim;
    signs[i] = z & 1 ? 1 : -1;
  }
  return { buckets, signs };
}

/** splitmix32-style finaliser: a well-mixed 32-bit value from a counter. */
function mix32(x: number): number {
  let z = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
