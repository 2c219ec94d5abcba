/** Static shapes with symbolic dimensions ('batch', 'seq', 'seq-1', …) for the differentiable builder. */
export type Dim = number | string;
export type Shape = readonly Dim[];

export const BATCH = 'batch';

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b;
}

/** NumPy-style broadcast of two shapes; throws on a mismatch it cannot prove compatible. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (sameDim(da, db) || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new Error(`cannot broadcast [${a.join(',')}] with [${b.join(',')}]`);
  }
  return out;
}

/**
 * Axes of `from` that must be summed to give `to` (which `from` was broadcast from): the leading
 * axes `to` lacks and the axes where `to` has 1 and `from` does not.
 */
export function reducedAxes(from: Shape, to: Shape): { keepdims: number[]; leading: number } {
  const leading = from.length - to.length;
  const keepdims: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < leading) keepdims.push(i);
    else if (to[i - leading] === 1 && from[i] !== 1) keepdims.push(i);
  }
  return { keepdims, leading };
}

export function matmulShape(a: Shape, b: Shape): Dim[] {
  if (a.length < 2 || b.length < 2) throw new Error('matmul operands need rank >= 2');
  const k1 = a[a.length - 1]!;
  const k2 = b[b.length - 2]!;
  if (!sameDim(k1, k2)) throw new Error(`matmul inner dimensions differ: ${k1} vs ${k2}`);
  const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
  return [...batch, a[a.length - 2]!, b[b.length - 1]!];
}

export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
