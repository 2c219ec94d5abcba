import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../shared/src/errors.ts';
import { nameAnchorSets, type AnchorSetVectors } from '../../../shared/src/scoring/anchor-sets.ts';
import { RepresentationScorer } from '../../../shared/src/scoring/representation-score.ts';
import { assertClose, randomVector, rng } from './random.ts';

const v = (...xs: number[]) => Float32Array.from(xs);
const S = Math.SQRT1_2;

/** harmful1 = {e1, e2}; safe1 = {(1,1)}; safe2 = {(-1,0)}: cosines are easy by hand. */
function handSets(): AnchorSetVectors[] {
  const [h, s1, s2] = nameAnchorSets(['h.jsonl'], ['s1.jsonl', 's2.jsonl']);
  return [
    { spec: h!, vectors: [v(1, 0), v(0, 1)] },
    { spec: s1!, vectors: [v(1, 1)] },
    { spec: s2!, vectors: [v(-1, 0)] },
  ];
}

test('hand-computed bi-directional score, top-1, safe sets pooled', () => {
  const scorer = new RepresentationScorer(handSets());
  // r = (2,0): cos to e1 = 1, e2 = 0, (1,1) = 1/sqrt2, (-1,0) = -1
  const a = scorer.score(v(2, 0));
  assertClose(a.perSet[0]!, 1);
  assertClose(a.perSet[1]!, S);
  assertClose(a.perSet[2]!, -1);
  assertClose(a.harmful, 1);
  assertClose(a.safe!, S, 1e-9, 'pooled safe = max over both safe sets');
  assertClose(a.score, 1 - S);
  // r = (3,4): cos to e1 = .6, e2 = .8, (1,1) = 7/(5 sqrt2), (-1,0) = -.6
  const b = scorer.score(v(3, 4));
  assertClose(b.harmful, 0.8, 1e-7);
  assertClose(b.safe!, 7 / (5 * Math.SQRT2), 1e-7);
  assertClose(b.score, 0.8 - 7 / (5 * Math.SQRT2), 1e-7);
  assert.equal(b.perSet.length, 3);
});

test('hand-computed top-2: pooled safe mean spans sets, per-set n capped at set size', () => {
  const scorer = new RepresentationScorer(handSets(), { topN: 2 });
  const r = scorer.score(v(2, 0));
  assertClose(r.perSet[0]!, 0.5); // (1 + 0) / 2
  assertClose(r.perSet[1]!, S); // one anchor only
  assertClose(r.perSet[2]!, -1);
  assertClose(r.harmful, 0.5);
  assertClose(r.safe!, (S - 1) / 2); // pooled top-2 of {1/sqrt2, -1}
  assertClose(r.score, 0.5 - (S - 1) / 2);
});

test('no safe sets: safe is null and score = harmful', () => {
  const [h] = nameAnchorSets(['h'], []);
  const scorer = new RepresentationScorer([{ spec: h!, vectors: [v(1, 0), v(0, 1)] }]);
  const r = scorer.score(v(1, 2));
  assert.equal(r.safe, null);
  assertClose(r.harmful, 2 / Math.sqrt(5), 1e-7);
  assert.equal(r.score, r.harmful);
});

test('matches brute-force top-n over random anchors', () => {
  const rand = rng(7);
  const dim = 64;
  const specs = nameAnchorSets(['h1', 'h2'], ['s1', 's2']);
  const sizes = [3, 5, 2, 4];
  const sets = specs.map((spec, i) => ({
    spec,
    // a large scale on some anchors checks they are normalised
    vectors: Array.from({ length: sizes[i]! }, (_, j) => randomVector(rand, dim).map((x) => x * (j + 1) * 37)),
  }));
  const cos = (a: Float32Array, b: Float32Array) => {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    a.forEach((x, i) => {
      ab += x * b[i]!;
      aa += x * x;
      bb += b[i]! * b[i]!;
    });
    return ab / Math.sqrt(aa * bb);
  };
  const topMean = (xs: number[], n: number) => {
    const top = [...xs].sort((a, b) => b - a).slice(0, n);
    return top.reduce((s, x) => s + x, 0) / top.length;
  };
  for (const topN of [1, 2, 3, 6]) {
    const scorer = new RepresentationScorer(sets, { topN });
    for (let t = 0; t < 20; t++) {
      const r = randomVector(rand, dim);
      const sims = sets.map((s) => s.vectors.map((a) => cos(r, a)));
      const got = scorer.score(r);
      sims.forEach((s, i) => assertClose(got.perSet[i]!, topMean(s, topN), 1e-9, `set ${i}`));
      const harmful = topMean([...sims[0]!, ...sims[1]!], topN);
      const safe = topMean([...sims[2]!, ...sims[3]!], topN);
      assertClose(got.harmful, harmful, 1e-9, 'harmful');
      assertClose(got.safe!, safe, 1e-9, 'safe');
      assertClose(got.score, harmful - safe, 1e-9, 'score');
    }
  }
});

test('examples without a direction get NaN scores', () => {
  const scorer = new RepresentationScorer(handSets());
  for (const r of [v(0, 0), v(NaN, 1), v(Infinity, 0)]) {
    const s = scorer.score(r);
    assert.ok(Number.isNaN(s.score) && Number.isNaN(s.harmful) && Number.isNaN(s.safe!));
    assert.ok(s.perSet.every(Number.isNaN));
  }
});

test('invalid inputs are rejected', () => {
  const [h, s] = nameAnchorSets(['h'], ['s']);
  assert.throws(() => new RepresentationScorer(handSets(), { topN: 0 }), ConfigError);
  assert.throws(() => new RepresentationScorer(handSets(), { topN: 1.5 }), ConfigError);
  assert.throws(() => new RepresentationScorer([{ spec: s!, vectors: [v(1, 0)] }]), ConfigError);
  assert.throws(() => new RepresentationScorer([{ spec: h!, vectors: [] }]), ConfigError);
  assert.throws(() => new RepresentationScorer([{ spec: h!, vectors: [v(1, 0), v(0, 0)] }]), /anchor 1 of set harmful1/);
  assert.throws(() => new RepresentationScorer([{ spec: h!, vectors: [v(1, 0), v(1, 0, 0)] }]), ConfigError);
  assert.throws(() => new RepresentationScorer(handSets()).score(v(1, 2, 3)), RangeError);
});

test('nearest anchor per set: the file row of the most similar anchor (rows skip rejected anchors) and its cosine', () => {
  const [h, s1, s2] = nameAnchorSets(['h.jsonl'], ['s1.jsonl', 's2.jsonl']);
  const sets: AnchorSetVectors[] = [
    // Rows 0 and 3 of h.jsonl (1 and 2 were rejected).
    { spec: h!, vectors: [v(1, 0), v(0, 1)], rows: [0, 3] },
    { spec: s1!, vectors: [v(1, 1)] },
    { spec: s2!, vectors: [v(-1, 0), v(0, -1)], rows: [5, 9] },
  ];
  const scorer = new RepresentationScorer(sets);
  const { nearest } = scorer.score(v(3, 4));
  assert.deepEqual(nearest.map((n) => n?.row), [3, 0, 5]);
  assertClose(nearest[0]!.value, 0.8, 1e-7);
  assertClose(nearest[1]!.value, 7 / (5 * Math.SQRT2), 1e-7);
  assertClose(nearest[2]!.value, -0.6, 1e-7);
  // With top-2 the per-set score is a mean, the nearest anchor still the single best.
  const two = new RepresentationScorer(sets, { topN: 2 }).score(v(3, 4));
  assert.deepEqual(two.nearest.map((n) => n?.row), [3, 0, 5]);
  // No direction: no nearest anchor.
  assert.deepEqual(scorer.score(v(0, 0)).nearest, [null, null, null]);
});
