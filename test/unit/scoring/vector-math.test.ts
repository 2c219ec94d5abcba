import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosine, dot, dotRows, l2norm, normalize, paddedRows } from '../../../shared/src/scoring/vector-math.ts';
import { assertClose, randomVector, rng } from './random.ts';

test('cosine of hand-computed 2-D pairs', () => {
  assertClose(cosine(Float32Array.of(1, 0), Float32Array.of(1, 1)), Math.SQRT1_2);
  assertClose(cosine(Float32Array.of(3, 4), Float32Array.of(4, 3)), 24 / 25, 1e-7);
  assertClose(cosine(Float32Array.of(2, 0), Float32Array.of(-5, 0)), -1);
  assertClose(cosine(Float32Array.of(0, 7), Float32Array.of(3, 0)), 0);
});

test('dot, norm and cosine match brute force on random vectors', () => {
  const rand = rng(1);
  for (let t = 0; t < 50; t++) {
    const dim = 1 + Math.floor(rand() * 300);
    const a = randomVector(rand, dim);
    const b = randomVector(rand, dim);
    const xs = Array.from(a);
    const ys = Array.from(b);
    const d = xs.reduce((s, x, i) => s + x * ys[i]!, 0);
    const na = Math.hypot(...xs);
    const nb = Math.hypot(...ys);
    assertClose(dot(a, b), d, 1e-12);
    assertClose(l2norm(a), na, 1e-12);
    assertClose(cosine(a, b), d / (na * nb), 1e-12);
    // scale invariance
    const big = a.map((x) => x * 1000);
    assertClose(cosine(big, b), d / (na * nb), 1e-6);
  }
});

test('normalize gives a unit vector in the same direction', () => {
  const v = Float32Array.of(3, 0, -4);
  const n = normalize(v);
  assert.ok(n instanceof Float32Array);
  assert.deepEqual(Array.from(n!), [Math.fround(0.6), 0, Math.fround(-0.8)]);
  assert.equal(v[0], 3, 'input untouched');
  const r = normalize(randomVector(rng(2), 1000))!;
  assertClose(l2norm(r), 1, 1e-6);
});

test('vectors without a direction: normalize -> null, cosine -> NaN', () => {
  const zero = new Float32Array(4);
  const one = Float32Array.of(1, 0, 0, 0);
  assert.equal(normalize(zero), null);
  assert.equal(normalize(Float32Array.of(1, NaN)), null);
  assert.equal(normalize(Float32Array.of(1, Infinity)), null);
  assert.ok(Number.isNaN(cosine(zero, one)));
  assert.ok(Number.isNaN(cosine(one, zero)));
  assert.ok(Number.isNaN(cosine(Float32Array.of(NaN, 0, 0, 0), one)));
  assert.ok(Number.isNaN(cosine(Float32Array.of(Infinity, 0, 0, 0), one)));
});

test('length mismatch throws', () => {
  assert.throws(() => dot(new Float32Array(2), new Float32Array(3)), RangeError);
  assert.throws(() => cosine(new Float32Array(2), new Float32Array(3)), RangeError);
});

test('dotRows equals one dot per row and returns the squared norm', () => {
  const rand = rng(4);
  for (const rows of [1, 3, 4, 5, 9]) {
    const dim = 37;
    const m = paddedRows(rows, dim);
    assert.equal(m.length % (4 * dim), 0);
    const vs = Array.from({ length: rows }, () => randomVector(rand, dim));
    vs.forEach((v, i) => m.set(v, i * dim));
    const x = randomVector(rand, dim);
    const out = new Float64Array(m.length / dim);
    const sq = dotRows(x, m, out);
    assertClose(sq, dot(x, x), 1e-12);
    vs.forEach((v, i) => assertClose(out[i]!, dot(x, v), 1e-12));
    for (let i = rows; i < out.length; i++) assert.equal(out[i], 0);
  }
  assert.throws(() => dotRows(new Float32Array(3), new Float64Array(9), new Float64Array(3)), RangeError);
});
