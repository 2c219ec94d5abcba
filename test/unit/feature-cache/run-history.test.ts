import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openCacheRoot } from '../../../shared/src/feature-cache/cache-root.ts';
import { diffRuns, readRunRecord, RunTracker, ScoreStats, writeRunRecord, type RankedId, type RunRecord } from '../../../shared/src/feature-cache/run-history.ts';
import { tempDir } from '../../helpers/fixtures.ts';

const ranked = (pairs: Array<[string, number]>): RankedId[] => pairs.map(([id, score], i) => ({ rank: i + 1, id, source: 'c.jsonl', row: i, score }));

function record(top: RankedId[], extra: Partial<RunRecord> = {}): RunRecord {
  return { version: 1, name: 'nightly', finished_at: '2026-01-01T00:00:00.000Z', namespace: 'ns', method: 'grad', k: 3, counts: { records: 5, scored: 5, errors: 0 }, scores: { count: 5, mean: 0, min: -1, max: 1 }, top, ...extra };
}

test('the diff lists entries that entered and left the top-k and the shifts of those that stayed', () => {
  const previous = record(ranked([['a', 0.9], ['b', 0.8], ['c', 0.7]]));
  const current = record(ranked([['b', 0.95], ['d', 0.85], ['a', 0.6]]));
  const diff = diffRuns(previous, current, new Map([['a', 0.6], ['b', 0.95], ['c', 0.1]]));
  assert.deepEqual(diff.entered, [{ id: 'd', rank: 2, score: 0.85 }]);
  assert.deepEqual(diff.left, [{ id: 'c', previous_rank: 3, previous_score: 0.7, score: 0.1 }]);
  assert.equal(diff.stayed.count, 2);
  assert.ok(Math.abs(diff.stayed.max_abs_shift! - 0.3) < 1e-12);
  assert.ok(Math.abs(diff.stayed.mean_abs_shift! - (0.3 + 0.15) / 2) < 1e-12);
  assert.equal(diff.previous.same_features, true);
  // An example that is gone has no current score; other features make scores incomparable.
  const gone = diffRuns(previous, record(ranked([['a', 0.9], ['b', 0.8]]), { namespace: 'other' }), new Map([['a', 0.9], ['b', 0.8]]));
  assert.deepEqual(gone.left, [{ id: 'c', previous_rank: 3, previous_score: 0.7, score: null }]);
  assert.deepEqual(gone.stayed, { count: 2, mean_abs_shift: 0, max_abs_shift: 0 });
  assert.equal(gone.previous.same_features, false);
});

test('run records round-trip through the cache; a missing or unreadable one reads as none', async () => {
  const root = openCacheRoot(tempDir('runs'), () => {
    throw new Error('no S3 here');
  });
  assert.equal(await readRunRecord(root, 'nightly'), null);
  const saved = record(ranked([['a', 1]]));
  await writeRunRecord(root, saved);
  assert.deepEqual(await readRunRecord(root, 'nightly'), saved);
  assert.equal(await readRunRecord(root, 'other'), null);
  const folder = join(root.store.description, root.prefix, 'runs', 'broken');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'latest.json'), '{"version": 1, "top": [');
  assert.equal(await readRunRecord(root, 'broken'), null);
});

test('score stats skip non-finite scores', () => {
  const stats = new ScoreStats();
  for (const x of [1, NaN, 3, -Infinity, 2]) stats.push(x);
  assert.deepEqual(stats.summary(), { count: 3, mean: 2, min: 1, max: 3 });
  assert.deepEqual(new ScoreStats().summary(), { count: 0, mean: null, min: null, max: null });
});

test('a run tracker diffs against the previous run, and finishing the same run again diffs against the same one', async () => {
  const root = openCacheRoot(tempDir('run-tracker'), () => {
    throw new Error('no S3 here');
  });
  const entry = (id: string, score: number) => ({ id, source: 'corpus.jsonl', row: Number(id.slice(1)), score });
  const run = async (runId: string, top: ReturnType<typeof entry>[]) => {
    const tracker = await RunTracker.open(root, 'nightly', runId);
    for (const e of top) tracker.observe(e.id, e.score);
    return tracker.finish({ namespace: 'ns', method: 'grad', k: 2, counts: { records: 2, scored: 2, errors: 0 }, top });
  };
  assert.equal(await run('night-1', [entry('a1', 0.9), entry('a2', 0.8)]), null);
  const second = await run('night-2', [entry('a1', 0.9), entry('a3', 0.7)]);
  // A reducer that finalizes night 2 again (after a crash) must not diff night 2 against itself.
  const again = await run('night-2', [entry('a1', 0.9), entry('a3', 0.7)]);
  for (const diff of [second, again]) {
    assert.deepEqual(diff?.entered, [{ id: 'a3', rank: 2, score: 0.7 }]);
    assert.deepEqual(diff?.left, [{ id: 'a2', previous_rank: 2, previous_score: 0.8, score: null }]);
  }
  const third = await run('night-3', [entry('a1', 0.9), entry('a3', 0.7)]);
  assert.deepEqual([third?.entered, third?.left], [[], []]);
});
