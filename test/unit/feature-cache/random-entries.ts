import { randomBytes } from 'node:crypto';
import type { CacheEntry, GradientProjection, NewCacheEntry } from '../../../shared/src/feature-cache/segment-codec.ts';

/** Random bit patterns (NaN payloads, infinities, -0 and subnormals included): bit-exactness, not values. */
export function randomFloats(n: number): Float32Array {
  const bytes = randomBytes(n * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, n).slice();
}

export function randomEntry(id: string, representationDim = 8, gradientDim = 37, projection?: GradientProjection, layerStateDim = 0): NewCacheEntry {
  const representation = randomFloats(representationDim);
  representation[0] = -0;
  representation[1] = NaN;
  const gradient = randomFloats(gradientDim);
  gradient[0] = 1e-45; // smallest subnormal
  // Loss is a JS number: any NaN would do, so the test uses finite doubles of every magnitude.
  const loss = (Math.random() - 0.5) * 2 ** (Math.random() * 60 - 30);
  return {
    id,
    digest: randomBytes(16).toString('hex'),
    tokens: 1 + (randomBytes(2).readUInt16LE(0) % 2048),
    truncated: randomBytes(1)[0]! % 2 === 0,
    features: { loss, representation, gradient, layerStates: randomFloats(layerStateDim) },
    ...(projection ? { projection } : {}),
  };
}

/** Bit-for-bit equality of two float arrays (NaN payloads and signed zeros included). */
export function sameBits(a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean {
  if (a.length !== b.length || a.BYTES_PER_ELEMENT !== b.BYTES_PER_ELEMENT) return false;
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** A projection of `width` random doubles under `target`. */
export function randomProjection(target: string, width = 4): GradientProjection {
  const bytes = randomBytes(width * 8);
  return { target, values: new Float64Array(bytes.buffer, bytes.byteOffset, width).slice() };
}

/**
 * `actual` (from a lookup) holds `expected`'s features bit for bit. Its gradient may be left out
 * (null) only when `gradient` is 'absent'; its projection must be `expected`'s, or null if none was stored.
 */
export function assertSameEntry(actual: CacheEntry | undefined, expected: NewCacheEntry, gradient: 'present' | 'absent' = 'present'): void {
  if (actual === undefined) throw new Error(`entry ${expected.id}: missing`);
  const f = actual.features;
  const projection = expected.projection;
  const problems = [
    actual.id !== expected.id && 'id',
    actual.digest !== expected.digest && 'digest',
    actual.tokens !== expected.tokens && 'tokens',
    actual.truncated !== expected.truncated && 'truncated',
    !sameBits(Float64Array.of(actual.features.loss), Float64Array.of(expected.features.loss)) && 'loss',
    !sameBits(actual.features.representation, expected.features.representation) && 'representation',
    !sameBits(actual.features.layerStates, expected.features.layerStates) && 'layerStates',
    (gradient === 'absent' ? f.gradient !== null : f.gradient === null || !sameBits(f.gradient, expected.features.gradient)) && 'gradient',
    (projection === undefined ? f.projection !== null : f.projection?.target !== projection.target || !sameBits(f.projection.values, projection.values)) && 'projection',
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`entry ${expected.id}: ${problems.join(', ')} differ`);
}
