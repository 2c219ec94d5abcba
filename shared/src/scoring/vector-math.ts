/**
 * Small vector helpers for Float32Array features. Sums are accumulated in float64 so that
 * long vectors (33k-dim gradients) do not lose precision to float32 rounding.
 *
 * Convention: a vector whose L2 norm is zero or non-finite (NaN/Infinity inside) has no direction.
 * `normalize` returns null for it and `cosine` returns NaN, so callers can report "not scored"
 * instead of silently ranking a garbage value.
 */
export type Vector = Float32Array | Float64Array;

function checkSameLength(a: Vector, b: Vector): void {
  if (a.length !== b.length) throw new RangeError(`vector length mismatch: ${a.length} vs ${b.length}`);
}

export function dot(a: Vector, b: Vector): number {
  checkSameLength(a, b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function l2norm(v: Vector): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** True when the norm can be divided by: positive and finite. */
export function isUsableNorm(norm: number): boolean {
  return Number.isFinite(norm) && norm > 0;
}

/** Unit-length copy (same array type), or null when the norm is zero or non-finite. */
export function normalize<V extends Vector>(v: V): V | null {
  const n = l2norm(v);
  if (!isUsableNorm(n)) return null;
  const out = v.slice() as V;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / n;
  return out;
}

/** Cosine similarity, or NaN when either vector has no direction. */
export function cosine(a: Vector, b: Vector): number {
  checkSameLength(a, b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  const n = Math.sqrt(aa) * Math.sqrt(bb);
  return isUsableNorm(n) && Number.isFinite(ab) ? ab / n : NaN;
}

/** Rows per pass in `dotRows`: four independent accumulators keep the FPU busy. */
export const ROW_BLOCK = 4;

/** A float64 row-major matrix with room for `rows` rows, padded with zero rows to a multiple of ROW_BLOCK. */
export function paddedRows(rows: number, dim: number): Float64Array {
  return new Float64Array(paddedRowCount(rows) * dim);
}

/** Rows a `paddedRows` matrix holds for `rows` vectors (whole ROW_BLOCKs). */
export function paddedRowCount(rows: number): number {
  return Math.ceil(rows / ROW_BLOCK) * ROW_BLOCK;
}

/**
 * out[i] = dot(x, row i) for every row of a `paddedRows` matrix, ROW_BLOCK rows per pass over x.
 * Returns x's squared norm, taken during the first pass, so callers can normalise for free.
 */
export function dotRows(x: Vector, matrix: Float64Array, out: Float64Array): number {
  const d = x.length;
  const rows = matrix.length / d;
  if (!Number.isInteger(rows) || rows % ROW_BLOCK !== 0 || out.length < rows) {
    throw new RangeError(`dotRows: matrix of ${matrix.length} values does not fit ${d}-dim rows in blocks of ${ROW_BLOCK}`);
  }
  let sq = 0;
  for (let b = 0; b < rows; b += ROW_BLOCK) {
    const o0 = b * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let q = 0;
    for (let j = 0; j < d; j++) {
      const v = x[j]!;
      q += v * v;
      s0 += v * matrix[o0 + j]!;
      s1 += v * matrix[o1 + j]!;
      s2 += v * matrix[o2 + j]!;
      s3 += v * matrix[o3 + j]!;
    }
    if (b === 0) sq = q;
    out[b] = s0;
    out[b + 1] = s1;
    out[b + 2] = s2;
    out[b + 3] = s3;
  }
  return sq;
}
