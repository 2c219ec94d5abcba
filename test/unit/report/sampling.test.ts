import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapShares, FixedHistogram, quantile, Reservoir, RunningMoments, SeededRandom } from '../../../shared/src/report/sampling.ts';

test('SeededRandom: the same seed gives the same sequence, in [0, 1), roughly uniform', () => {
  const a = new SeededRandom(42);
  const b = new SeededRandom(42);
  const xs = Array.from({ length: 10_000 }, () => a.next());
  assert.deepEqual(xs.slice(0, 50), Array.from({ length: 50 }, () => b.next()));
  assert.notDeepEqual(xs.slice(0, 5), Array.from({ length: 5 }, ((r) => () => r.next())(new SeededRandom(43))));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  const deciles = new Array<number>(10).fill(0);
  for (const x of xs) deciles[Math.floor(x * 10)]! += 1;
  for (const d of deciles) assert.ok(d > 900 && d < 1100, `decile count ${d}`);
});

test('Reservoir keeps at most its capacity, the same items for the same seed, each item equally likely', () => {
  const fill = (seed: number, n: number) => {
    const r = new Reservoir<number>(100, seed);
    for (let i = 0; i < n; i++) r.offer(i);
    return r;
  };
  assert.deepEqual(fill(1, 50).items, Array.from({ length: 50 }, (_, i) => i)); // fewer than capacity: all of them
  const r = fill(1, 1000);
  assert.equal(r.items.length, 100);
  assert.equal(r.seen, 1000);
  assert.equal(new Set(r.items).size, 100); // without replacement
  assert.deepEqual(fill(1, 1000).items, r.items);
  // Over 300 seeds each item of 0..999 is kept with probability 100/1000: every tenth of the stream
  // (early or late) gets about a tenth of the places.
  const perDecile = new Array<number>(10).fill(0);
  for (let seed = 0; seed < 300; seed++) for (const item of fill(seed, 1000).items) perDecile[Math.floor(item / 100)]! += 1;
  for (const n of perDecile) assert.ok(Math.abs(n - 3000) < 300, `decile kept ${n} times, expected ~3000`);
});

test('FixedHistogram: equal bins, max in the last bin, out-of-range and non-finite counted apart', () => {
  const h = new FixedHistogram(0, 10, 5);
  for (const v of [0, 1.99, 2, 5, 9.99, 10, -0.1, 10.1, NaN, Infinity]) h.add(v);
  assert.deepEqual([...h.counts], [2, 1, 1, 0, 2]);
  assert.equal(h.below, 1);
  assert.equal(h.above, 1); // 10.1; Infinity is non-finite, so missing
  assert.equal(h.missing, 2);
  assert.equal(h.total, 6);
  assert.deepEqual(h.edges(1), [2, 4]);
  // A single value still makes a bin of non-zero width.
  const one = new FixedHistogram(3, 3, 4);
  one.add(3);
  assert.equal(one.total, 1);
  assert.ok(one.width > 0);
  assert.throws(() => new FixedHistogram(0, NaN, 3), /finite/);
  assert.throws(() => new FixedHistogram(0, 1, 0), /bins/);
});

test('RunningMoments: mean and sample sd, skipping non-finite values', () => {
  const m = new RunningMoments();
  for (const v of [2, 4, 4, 4, 5, 5, 7, 9, NaN]) m.add(v);
  assert.equal(m.count, 8);
  assert.equal(m.mean, 5);
  assert.ok(Math.abs(m.sd - Math.sqrt(32 / 7)) < 1e-12);
});

test('quantile interpolates between sorted values', () => {
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([0, 10], 0.25), 2.5);
  assert.equal(quantile([7], 0.975), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('bootstrapShares: seeded, centred on the population share, and exact when k is the whole sample', () => {
  // 1,000 masks: bit 0 on 30% of them, bit 1 on none, bit 2 on all.
  const masks = Uint8Array.from({ length: 1000 }, (_, i) => (i % 10 < 3 ? 1 : 0) | 4);
  const a = bootstrapShares(masks, 3, 100, 200, 5);
  assert.deepEqual(bootstrapShares(masks, 3, 100, 200, 5), a);
  assert.ok(Math.abs(a[0]!.mean - 0.3) < 0.01, `mean ${a[0]!.mean}`);
  // Sampling without replacement from 1,000: sd ≈ sqrt(.3 × .7 / 100 × 900/999) ≈ 0.0435, so the 95% interval ≈ ±0.085.
  assert.ok(a[0]!.low > 0.18 && a[0]!.low < 0.25, `low ${a[0]!.low}`);
  assert.ok(a[0]!.high > 0.35 && a[0]!.high < 0.42, `high ${a[0]!.high}`);
  assert.deepEqual(a[1], { mean: 0, low: 0, high: 0 });
  assert.deepEqual(a[2], { mean: 1, low: 1, high: 1 });
  // k ≥ the sample: every draw is the whole sample.
  const all = bootstrapShares(masks, 3, 5000, 10, 1);
  assert.ok(Math.abs(all[0]!.low - 0.3) < 1e-12 && Math.abs(all[0]!.high - 0.3) < 1e-12);
  assert.deepEqual(bootstrapShares(new Uint8Array(0), 2, 10, 10, 1), [{ mean: 0, low: 0, high: 0 }, { mean: 0, low: 0, high: 0 }]);
});
