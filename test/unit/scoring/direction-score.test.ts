import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirectionScorer } from '../../../shared/src/scoring/direction-score.ts';
import { parseDirectionLayers, resolveDirectionLayers, formatDirectionLayers } from '../../../shared/src/scoring/direction-layers.ts';
import { rankingColumn } from '../../../shared/src/scoring/ranking-method.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import { auditWarnings } from '../../../shared/src/audit/audit-warnings.ts';

const harmful = { name: 'harmful1', role: 'harmful' as const, weight: 1, source: 'h.jsonl' };
const safe1 = { name: 'safe1', role: 'safe' as const, weight: -1, source: 's1.jsonl' };
const safe2 = { name: 'safe2', role: 'safe' as const, weight: -1, source: 's2.jsonl' };

/** Layer states [prompt (D), response (D)] per layer, D = 2. */
const states = (...values: number[]) => Float32Array.from(values);

test('the direction is mean harmful minus mean safe (sets count equally), normalised; a score is the projection on it', () => {
  // One layer, D = 2: the prompt states are shared (same requests), the response states differ.
  const scorer = new DirectionScorer(
    [
      { spec: harmful, vectors: [states(1, 1, 4, 0), states(1, 1, 2, 0)] }, // response mean (3, 0)
      { spec: safe1, vectors: [states(1, 1, 0, 1)] }, // (0, 1)
      { spec: safe2, vectors: [states(1, 1, 0, 3), states(1, 1, 0, 1), states(1, 1, 0, 2)] }, // (0, 2): role mean (0, 1.5)
    ],
    [5],
    2,
  );
  assert.deepEqual(scorer.columns(), ['dir_5_prompt', 'dir_5_response']);
  const [prompt, response] = scorer.directions;
  assert.equal(prompt!.degenerate !== null, true, 'shared requests: no prompt direction');
  assert.equal(response!.degenerate, null);
  assert.ok(Math.abs(response!.norm - Math.hypot(3, 1.5)) < 1e-12);
  // d̂ = (3, -1.5)/‖·‖ = (2, -1)/√5
  const [p, r] = scorer.score(states(9, 9, 1, 2));
  assert.equal(p, null);
  assert.ok(Math.abs(r! - 0) < 1e-12);
  assert.ok(Math.abs(scorer.score(states(0, 0, 2, -1))[1]! - Math.sqrt(5)) < 1e-6);
});

test('without safe anchors every direction is empty, and the reason says so', () => {
  const scorer = new DirectionScorer([{ spec: harmful, vectors: [states(1, 2, 3, 4)] }], [0], 2);
  assert.deepEqual(scorer.score(states(1, 1, 1, 1)), [null, null]);
  assert.match(scorer.directions[1]!.degenerate!, /no safe anchor set/);
});

test('several layers keep the feature-graph order; wrong widths are errors', () => {
  const a = new Float32Array(8).fill(1);
  const b = Float32Array.of(0, 0, 0, 0, 1, 0, 0, 1);
  const scorer = new DirectionScorer([{ spec: harmful, vectors: [a] }, { spec: safe1, vectors: [b] }], [2, 7], 2);
  assert.deepEqual(scorer.columns(), ['dir_2_prompt', 'dir_2_response', 'dir_7_prompt', 'dir_7_response']);
  assert.equal(scorer.directions.filter((d) => d.degenerate === null).length, 4);
  assert.throws(() => scorer.score(new Float32Array(4)), RangeError);
  assert.throws(() => new DirectionScorer([{ spec: harmful, vectors: [a] }], [1], 2), ConfigError);
  assert.deepEqual(new DirectionScorer([], [], 2).columns(), []);
});

test('--direction-layers parses, resolves against the model and prints back', () => {
  assert.equal(parseDirectionLayers('middle'), 'middle');
  assert.deepEqual(parseDirectionLayers('none'), []);
  assert.deepEqual(parseDirectionLayers(' 16, 8,8'), [8, 16]);
  assert.throws(() => parseDirectionLayers('8;16'), /--direction-layers/);
  assert.throws(() => parseDirectionLayers('-1'), /--direction-layers/);
  assert.deepEqual(resolveDirectionLayers('middle', 5), [2]);
  assert.deepEqual(resolveDirectionLayers('middle', 32), [16]);
  assert.throws(() => resolveDirectionLayers([3, 5], 5), /layer 5 does not exist \(the model has 5 layers, 0-4\)/);
  for (const text of ['middle', 'none', '3,9']) assert.equal(formatDirectionLayers(parseDirectionLayers(text)), text);
});

test('each --method names its column; dir needs a layer', () => {
  assert.deepEqual(
    (['grad', 'rep', 'self_inf', 'self_inf_n', 'dir'] as const).map((m) => rankingColumn(m, [4, 8])),
    ['grad_score', 'rep_score', 'self_inf', 'self_inf_n', 'dir_4_response'],
  );
  assert.throws(() => rankingColumn('dir', []), ConfigError);
});

test('an empty prompt column beside a scored response one is no warning; an empty response column is', () => {
  const facts = { options: { maxTokens: 512 }, specs: [harmful, safe1], anchors: [], inputs: [] };
  const shared = new DirectionScorer([{ spec: harmful, vectors: [states(1, 1, 4, 0)] }, { spec: safe1, vectors: [states(1, 1, 0, 1)] }], [3], 2);
  assert.deepEqual(auditWarnings({ ...facts, directions: shared.directions }), []);
  const same = new DirectionScorer([{ spec: harmful, vectors: [states(1, 1, 2, 2)] }, { spec: safe1, vectors: [states(1, 1, 2, 2)] }], [3], 2);
  const [warning, ...rest] = auditWarnings({ ...facts, directions: same.directions });
  assert.equal(rest.length, 0);
  assert.match(warning!, /^dir_3_prompt, dir_3_response left empty: harmful and safe anchors have the same mean state/);
  const noSafe = new DirectionScorer([{ spec: harmful, vectors: [states(1, 1, 2, 2)] }], [3], 2);
  assert.ok(auditWarnings({ ...facts, specs: [harmful], directions: noSafe.directions }).some((w) => /dir_3_prompt, dir_3_response left empty: no safe anchor set/.test(w)));
});
