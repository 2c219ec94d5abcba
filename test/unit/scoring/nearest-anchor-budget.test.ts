import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditWarnings } from '../../../shared/src/audit/audit-warnings.ts';
import { NEAREST_ANCHOR_BUDGET_BYTES, nearestAnchorsBytes, nearestAnchorsFit } from '../../../shared/src/scoring/gradient-score.ts';
import { paddedRows } from '../../../shared/src/scoring/vector-math.ts';

// The nearest-anchor budget counts what the scorer allocates: float64 rows padded to whole row
// blocks. The warning's MiB is that same figure (it once printed the unpadded size, "61 MiB (budget 64 MiB)").
test('nearest-anchor bytes equal the padded matrix the scorer allocates, and fit decides on them', () => {
  for (const [sets, anchors, dim] of [[3, 30, 100], [1, 1, 7], [2, 10, 33]] as const) {
    assert.equal(nearestAnchorsBytes(sets, anchors, dim), paddedRows(sets + anchors, dim).byteLength);
  }
  // 33 rows pad to 36: 238,720 dims take 65.6 MiB, over the budget although 33 rows alone take 60.1 MiB.
  assert.equal(nearestAnchorsFit(3, 30, 238_720), false);
  assert.equal(nearestAnchorsFit(3, 30, 8192), true);
  assert.ok(33 * 238_720 * 8 < NEAREST_ANCHOR_BUDGET_BYTES);
});

test('the over-budget warning states a size above the budget', () => {
  const anchors = [10, 10, 10].map((used, i) => ({ name: `set${i}`, source: `a${i}.jsonl`, records: used, used, rejected: 0 }));
  const specs = anchors.map((a, i) => ({ name: a.name, source: a.source, role: i === 0 ? 'harmful' : 'safe', weight: i === 0 ? 1 : -1 }));
  const warnings = auditWarnings({ options: { maxTokens: 512 }, specs: specs as never, anchors: anchors as never, inputs: [], gradientDim: 238_720 });
  const line = warnings.find((w) => w.startsWith('near_grad_*'));
  assert.ok(line, warnings.join('\n'));
  assert.match(line, /would take 66 MiB \(budget 64 MiB\)/);
});
