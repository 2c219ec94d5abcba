import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../shared/src/errors.ts';
import { nameAnchorSets, type AnchorSetSpec } from '../../../shared/src/scoring/anchor-sets.ts';
import { GradientScorer } from '../../../shared/src/scoring/gradient-score.ts';
import { assertClose, randomVector, rng } from './random.ts';

const v = (...xs: number[]) => Float32Array.from(xs);

/** Straight from method.md §3 with plain arrays: normalise, mean, (renormalise), dot, weighted sum. */
function naive(sets: { spec: AnchorSetSpec; vectors: Float32Array[] }[], g: Float32Array, renorm = false) {
  const unit = (x: number[]) => {
    const n = Math.sqrt(x.reduce((s, y) => s + y * y, 0));
    return x.map((y) => y / n);
  };
  const targets = sets.map(({ vectors }) => {
    const units = vectors.map((a) => unit(Array.from(a)));
    const mean = units[0]!.map((_, j) => units.reduce((s, u) => s + u[j]!, 0) / units.length);
    return renorm ? unit(mean) : mean;
  });
  const gu = unit(Array.from(g));
  const perSet = targets.map((t) => t.reduce((s, x, j) => s + x * gu[j]!, 0));
  const score = perSet.reduce((s, p, i) => s + sets[i]!.spec.weight * p, 0);
  const harmful = perSet.reduce((s, p, i) => s + (sets[i]!.spec.role === 'harmful' ? sets[i]!.spec.weight * p : 0), 0);
  return { perSet, harmful, score, targets };
}

test('equals the naive implementation on random vectors (1 to 5 sets, custom weights)', () => {
  const rand = rng(11);
  const dim = 257;
  const layouts: [number, number, number[] | undefined][] = [
    [1, 0, undefined],
    [1, 1, undefined],
    [1, 2, undefined], // the paper's layout (unrolled path)
    [2, 1, [2, 0.5, -1.5]],
    [2, 3, [1, 1, -1, -0.3, -2]],
  ];
  for (const [nh, ns, weights] of layouts) {
    const specs = nameAnchorSets(
      Array.from({ length: nh }, (_, i) => `h${i}`),
      Array.from({ length: ns }, (_, i) => `s${i}`),
      weights,
    );
    const sets = specs.map((spec) => ({
      spec,
      vectors: Array.from({ length: 2 + Math.floor(rand() * 8) }, () => randomVector(rand, dim).map((x) => x * 100 * rand())),
    }));
    for (const renorm of [false, true]) {
      const scorer = new GradientScorer(sets, { renormalizeTargets: renorm });
      for (let t = 0; t < 10; t++) {
        const g = randomVector(rand, dim).map((x) => x * 1e-3);
        const want = naive(sets, g, renorm);
        const got = scorer.score(g);
        want.perSet.forEach((p, i) => assertClose(got.perSet[i]!, p, 1e-10, `set ${i}`));
        assertClose(got.harmful, want.harmful, 1e-10, 'harmful');
        assertClose(got.score, want.score, 1e-10, 'score');
      }
      const wantTargets = naive(sets, sets[0]!.vectors[0]!, renorm).targets;
      scorer.targets().forEach((t, i) => t.forEach((x, j) => assertClose(x, wantTargets[i]![j]!, 1e-12, 'target')));
    }
  }
});

test('targets are not re-normalised by default: a tight set weighs more', () => {
  const [h, s] = nameAnchorSets(['tight'], ['loose']);
  const sets = [
    { spec: h!, vectors: [v(1, 0, 0), v(5, 0, 0)] }, // all one direction: |target| = 1
    { spec: s!, vectors: [v(0, 1, 0), v(0, 0, 3)] }, // orthogonal: target (0, 1/2, 1/2), |target| = 1/sqrt2
  ];
  // g makes the same angle (45 degrees) with e1 and with the safe set's mean direction (0,1,1)/sqrt2.
  const g = v(1, Math.SQRT1_2, Math.SQRT1_2);
  const plain = new GradientScorer(sets).score(g);
  assertClose(plain.perSet[0]!, Math.SQRT1_2, 1e-7);
  assertClose(plain.perSet[1]!, 0.5, 1e-7); // cos 45 deg * |target|
  assertClose(plain.score, Math.SQRT1_2 - 0.5, 1e-7);
  assertClose(plain.harmful, Math.SQRT1_2, 1e-7);
  const renorm = new GradientScorer(sets, { renormalizeTargets: true }).score(g);
  assertClose(renorm.perSet[1]!, Math.SQRT1_2, 1e-7);
  assertClose(renorm.score, 0, 1e-7);
});

test('harmful sums only harmful sets, with their weights', () => {
  const specs = nameAnchorSets(['a', 'b'], ['c'], [2, 0.5, -3]);
  const scorer = new GradientScorer([
    { spec: specs[0]!, vectors: [v(1, 0, 0)] },
    { spec: specs[1]!, vectors: [v(0, 1, 0)] },
    { spec: specs[2]!, vectors: [v(0, 0, 1)] },
  ]);
  const r = scorer.score(v(3, 4, 12)); // |g| = 13
  assertClose(r.harmful, 2 * (3 / 13) + 0.5 * (4 / 13), 1e-7);
  assertClose(r.score, 2 * (3 / 13) + 0.5 * (4 / 13) - 3 * (12 / 13), 1e-7);
});

test('zero or non-finite gradients give NaN; bad anchors are rejected', () => {
  const [h, s] = nameAnchorSets(['h'], ['s']);
  const scorer = new GradientScorer([
    { spec: h!, vectors: [v(1, 0)] },
    { spec: s!, vectors: [v(0, 1)] },
  ]);
  for (const g of [v(0, 0), v(NaN, 1), v(1, -Infinity)]) {
    const r = scorer.score(g);
    assert.ok(Number.isNaN(r.score) && Number.isNaN(r.harmful) && r.perSet.every(Number.isNaN));
  }
  assert.throws(() => scorer.score(v(1, 2, 3)), RangeError);
  assert.throws(() => new GradientScorer([{ spec: h!, vectors: [v(1, 0), v(0, 0)] }]), /anchor 1 of set harmful1/);
  assert.throws(() => new GradientScorer([{ spec: s!, vectors: [v(1, 0)] }]), ConfigError);
  assert.throws(() => new GradientScorer([{ spec: h!, vectors: [v(1, 0), v(1, 0, 0)] }]), ConfigError);
  assert.throws(() => new GradientScorer([{ spec: { ...h!, weight: NaN }, vectors: [v(1, 0)] }]), ConfigError);
  assert.throws(
    () => new GradientScorer([{ spec: h!, vectors: [v(1, 0), v(-1, 0)] }], { renormalizeTargets: true }),
    ConfigError,
  );
});

test('a score is a function of the projection alone, and the target name follows the target values', () => {
  const rand = rng(5);
  const dim = 64;
  const specs = nameAnchorSets(['h'], ['s1', 's2'], [1, -1, -1]);
  const sets = specs.map((spec) => ({ spec, vectors: Array.from({ length: 3 }, () => randomVector(rand, dim)) }));
  const scorer = new GradientScorer(sets);
  const g = randomVector(rand, dim);
  const projection = scorer.project(g);
  assert.equal(projection.length, 1 + specs.length + 9, '|g|², one dot per target, one per anchor');
  assert.deepEqual(scorer.scoreProjection(projection), scorer.score(g));
  assert.equal(new GradientScorer(sets).target, scorer.target);
  const moved = sets.map((s, i) => (i === 2 ? { ...s, vectors: [...s.vectors.slice(1), randomVector(rand, dim)] } : s));
  assert.notEqual(new GradientScorer(moved).target, scorer.target);
  // Weights apply after the projection: reweighting keeps the target (and so the cached projections).
  assert.equal(new GradientScorer(sets.map((s) => ({ ...s, spec: { ...s.spec, weight: s.spec.weight * 2 } }))).target, scorer.target);
  assert.throws(() => scorer.scoreProjection(projection.subarray(1)), RangeError);
});

test('nearest anchor by gradient: the anchor whose own normalised gradient has the largest dot with ĝ, by file row; scores unchanged', () => {
  const rand = rng(5);
  const dim = 33;
  const specs = nameAnchorSets(['h.jsonl'], ['s1.jsonl']);
  const sets = specs.map((spec, s) => ({ spec, vectors: Array.from({ length: 4 + s }, () => randomVector(rand, dim)), rows: Array.from({ length: 4 + s }, (_, i) => 10 * s + 2 * i) }));
  const withAnchors = new GradientScorer(sets);
  const targetsOnly = new GradientScorer(sets, { nearestAnchorBudgetBytes: 0 });
  assert.equal(withAnchors.anchorCount, 9);
  assert.equal(targetsOnly.anchorCount, 0);
  assert.notEqual(withAnchors.target, targetsOnly.target, 'projections of different width are never mixed up in the cache');
  const unit = (x: Float32Array) => {
    const n = Math.sqrt(x.reduce((s, y) => s + y * y, 0));
    return Array.from(x, (y) => y / n);
  };
  for (let trial = 0; trial < 20; trial++) {
    const g = randomVector(rand, dim);
    const gu = unit(g);
    const projection = withAnchors.project(g);
    assert.equal(projection.length, 1 + 2 + 9);
    const a = withAnchors.scoreProjection(projection);
    const b = targetsOnly.score(g);
    a.perSet.forEach((x, i) => assertClose(x, b.perSet[i]!, 1e-12));
    const nearest = withAnchors.nearest(projection);
    sets.forEach((set, s) => {
      const dots = set.vectors.map((anchor) => unit(anchor).reduce((acc, y, j) => acc + y * gu[j]!, 0));
      const best = dots.indexOf(Math.max(...dots));
      assert.equal(nearest[s]!.row, set.rows[best]);
      assertClose(nearest[s]!.value, dots[best]!, 1e-9);
    });
    assert.deepEqual(targetsOnly.nearest(targetsOnly.project(g)), [null, null]);
  }
  assert.throws(() => withAnchors.scoreProjection(new Float64Array(3)), RangeError);
});
