import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selfInfluence } from '../../../shared/src/scoring/self-influence.ts';
import { GradientScorer } from '../../../shared/src/scoring/gradient-score.ts';

const spec = { name: 'harmful1', role: 'harmful' as const, weight: 1, source: 'h.jsonl' };

test('self_inf is the squared norm of the unnormalised gradient, read from the projection', () => {
  const scorer = new GradientScorer([{ spec, vectors: [Float32Array.of(1, 0, 0, 0)] }]);
  const g = Float32Array.of(3, -4, 0, 12); // ‖g‖² = 169
  const projection = scorer.project(g);
  assert.equal(projection[0], 169);
  assert.deepEqual(selfInfluence(projection[0]!, 9), { selfInf: 169, selfInfN: Math.log(170) + Math.log(10) });
});

test('self_inf_n removes the length bias of a mean loss: g/n over n tokens scores like g over one', () => {
  // A mean over n identical token gradients is that gradient; n different unit ones shrink it to 1/√n.
  const one = selfInfluence(1, 1).selfInfN!;
  assert.ok(Math.abs(one - 2 * Math.log(2)) < 1e-15);
  assert.ok(selfInfluence(0.25, 16).selfInfN! > selfInfluence(0.25, 1).selfInfN!);
});

test('unknown response tokens leave self_inf_n empty; a zero gradient scores 0; a broken one NaN', () => {
  assert.deepEqual(selfInfluence(2, null), { selfInf: 2, selfInfN: null });
  assert.deepEqual(selfInfluence(0, 4), { selfInf: 0, selfInfN: Math.log(5) });
  const nan = selfInfluence(NaN, 4);
  assert.ok(Number.isNaN(nan.selfInf) && Number.isNaN(nan.selfInfN!));
  assert.ok(Number.isNaN(selfInfluence(Infinity, 4).selfInf));
});
