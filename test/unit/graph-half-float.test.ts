import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHalfBits, toHalfBits } from '../../shared/src/graph/half-float.ts';

test('float16 conversion rounds to nearest even and keeps specials', () => {
  const cases: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e9, 0x7c00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -26, 0x0000], [0.1, 0x2e66], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of cases) assert.equal(toHalfBits(Float32Array.of(value))[0], bits, `${value}`);
  assert.ok(Number.isNaN(fromHalfBits(toHalfBits(Float32Array.of(NaN)))[0]!));
});

test('every finite half value survives a round trip', () => {
  const all = Uint16Array.from({ length: 0x10000 }, (_, i) => i).filter((h) => (h & 0x7c00) !== 0x7c00);
  assert.deepEqual(toHalfBits(fromHalfBits(all)), all);
});
