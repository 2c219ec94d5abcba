import { ConfigError } from '../errors.ts';
import type { Contribution } from './autodiff/diff-graph.ts';
import { DType, type FloatType, type OnnxGraph } from './onnx-graph.ts';
import type { ProbedParam } from './probes.ts';
import { countSketch, rademacherMatrix, type ProjectionSpec, type SketchSpec } from './projection.ts';

/** Exact gradients above this many values per example are refused: 2^26 floats = 256 MiB per example. */
export const MAX_EXACT_GRADIENT_VALUES = 2 ** 26;

/** Where each parameter's block sits in the feature vector. */
export interface GradientLayout {
  key: string;
  offset: number;
  size: number;
  /** Block shape: the parameter's shape, or its projected [k_rows, k_cols] / [k_cols]. */
  shape: number[];
}

/** Feature dimension of each parameter's block under a projection (a side is never expanded). */
export function gradientLayout(params: readonly ProbedParam[], projection: ProjectionSpec): GradientLayout[] {
  let offset = 0;
  return params.map(({ key, shape }) => {
    const blockShape =
      projection.kind === 'none'
        ? shape
        : shape.length === 2
          ? [Math.min(projection.outDim, shape[0]!), Math.min(projection.inDim, shape[1]!)]
          : [Math.min(projection.inDim, shape[0]!)];
    const size = blockShape.reduce((a, b) => a * b, 1);
    const entry = { key, offset, size, shape: blockShape };
    offset += size;
    return entry;
  });
}

export function checkExactGradientSize(layout: readonly GradientLayout[]): void {
  const total = layout.reduce((n, l) => n + l.size, 0);
  if (total > MAX_EXACT_GRADIENT_VALUES) {
    throw new ConfigError(
      `--proj none: the exact gradient has ${total} values per example, over the ${MAX_EXACT_GRADIENT_VALUES} (256 MiB) bound; ` +
        'use a projection such as --proj kron:64x128',
    );
  }
}

/**
 * Turns per-parameter contributions into one feature vector [B, G]: exact (Σ rows colsᵀ, row-major
 * like the parameter), or projected per parameter with a seeded Kronecker pair
 * Σ (P_r rows)(P_c cols)ᵀ that never forms the full matrix. Parameter i draws its matrices from
 * streams 2i and 2i+1 of the seed, so the same options give the same features everywhere.
 */
export function emitGradientFeatures(
  g: OnnxGraph,
  params: readonly ProbedParam[],
  contributions: ReadonlyMap<string, Contribution[]>,
  projection: ProjectionSpec,
  computeType: FloatType = DType.float,
): string {
  const layout = gradientLayout(params, projection);
  if (projection.kind === 'none') checkExactGradientSize(layout);
  const blocks = params.map((param, index) => {
    const parts = contributions.get(param.key);
    if (!parts || parts.length === 0) throw new Error(`no gradient reaches parameter ${param.key}`);
    const sides = projectionSides(g, param, index, projection, computeType);
    const terms = parts.map((part) => emitContribution(g, part, param, sides, computeType));
    const sum = terms.reduce((acc, t) => g.op('Add', [acc, t]));
    return g.op('Reshape', [sum, g.constInt64([0, -1])]);
  });
  return blocks.length === 1 ? blocks[0]! : g.op('Concat', blocks, { axis: 1 });
}

/** Transposed projection matrices [dim, k] for the row and column side, or null where exact. */
interface Sides {
  rows: string | null;
  cols: string | null;
}

function projectionSides(g: OnnxGraph, param: ProbedParam, index: number, projection: ProjectionSpec, computeType: FloatType): Sides {
  if (projection.kind === 'none') return { rows: null, cols: null };
  const side = (k: number, dim: number, stream: number, label: string): string | null => {
    if (k >= dim) return null; // projecting to as many dimensions or more gains nothing: stay exact
    const p = rademacherMatrix(k, dim, projection.seed, stream);
    const pT = new Float32Array(dim * k);
    for (let r = 0; r < k; r++) for (let c = 0; c < dim; c++) pT[c * k + r] = p[r * dim + c]!;
    return g.weight(`proj_${label}_${index}`, pT, [dim, k], computeType);
  };
  const cols = param.shape.length === 2 ? param.shape[1]! : param.shape[0]!;
  return {
    rows: param.shape.length === 2 ? side(projection.outDim, param.shape[0]!, 2 * index, 'rows') : null,
    cols: side(projection.inDim, cols, 2 * index + 1, 'cols'),
  };
}

function emitContribution(g: OnnxGraph, part: Contribution, param: ProbedParam, sides: Sides, computeType: FloatType): string {
  // Projections run in the compute type; sums over tokens accumulate in float32.
  const project = (x: string, side: string | null) => {
    const projected = side === null ? x : g.op('MatMul', [x, side]);
    return computeType === DType.float ? projected : g.op('Cast', [projected], { to: DType.float });
  };
  if (part.kind === 'vector') return project(part.value, sides.cols);
  const cols = project(part.cols, sides.cols); // [B,N,kC]
  const rows =
    part.kind === 'outer'
      ? project(part.rows, sides.rows)
      : sides.rows === null
        ? g.op('OneHot', [part.ids, g.constInt64([param.shape[0]!], []), g.constFloat([0, 1], [2])], { axis: -1 })
        : project(g.op('Gather', [sides.rows, part.ids]), null); // rows of Pᵀ picked by token id: P e_id
  return g.op('MatMul', [g.op('Transpose', [rows], { perm: [0, 2, 1] }), cols]); // [B,kR,kC]
}

/** CountSketch of the feature vector [B, G] to [B, dim] (see countSketch). */
export function emitSketch(g: OnnxGraph, features: string, inputDim: number, sketch: SketchSpec): string {
  const { buckets, signs } = countSketch(inputDim, sketch);
  const signed = g.op('Mul', [features, g.weight('sketch_signs', signs, [inputDim])]);
  const table = g.weightInt64('sketch_buckets', BigInt64Array.from(buckets, (b) => BigInt(b)), [1, inputDim]);
  const indices = g.op('Expand', [table, g.op('Shape', [signed])]);
  const batch = g.op('Slice', [g.op('Shape', [features]), g.constInt64([0]), g.constInt64([1])]);
  const zeros = g.op('ConstantOfShape', [g.op('Concat', [batch, g.constInt64([sketch.dim])], { axis: 0 })]);
  return g.op('ScatterElements', [zeros, indices, signed], { axis: 1, reduction: 'add' });
}
