import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../shared/src/errors.ts';
import { nameAnchorSets, parseWeights } from '../../../shared/src/scoring/anchor-sets.ts';

test('sets are named harmful1..N, safe1..M with paper weights by default', () => {
  const specs = nameAnchorSets(['h.jsonl', 'h2.jsonl'], ['s1.jsonl', 's2.jsonl', 's3.jsonl']);
  assert.deepEqual(specs, [
    { name: 'harmful1', role: 'harmful', weight: 1, source: 'h.jsonl' },
    { name: 'harmful2', role: 'harmful', weight: 1, source: 'h2.jsonl' },
    { name: 'safe1', role: 'safe', weight: -1, source: 's1.jsonl' },
    { name: 'safe2', role: 'safe', weight: -1, source: 's2.jsonl' },
    { name: 'safe3', role: 'safe', weight: -1, source: 's3.jsonl' },
  ]);
  assert.deepEqual(nameAnchorSets(['h'], []).map((s) => s.name), ['harmful1']);
});

test('explicit weights apply in the order harmful..., safe...', () => {
  const specs = nameAnchorSets(['h'], ['a', 'b'], [2, -0.5, -0.25]);
  assert.deepEqual(
    specs.map((s) => [s.name, s.weight]),
    [
      ['harmful1', 2],
      ['safe1', -0.5],
      ['safe2', -0.25],
    ],
  );
});

test('wrong number of weights is a ConfigError naming --weights', () => {
  for (const w of [[1, -1], [1, -1, -1, -1], []]) {
    assert.throws(
      () => nameAnchorSets(['h'], ['a', 'b'], w),
      (e: unknown) => e instanceof ConfigError && e.message.includes('--weights') && e.message.includes(`${w.length}`),
    );
  }
  assert.throws(() => nameAnchorSets(['h'], ['a'], [1, NaN]), /--weights/);
  assert.throws(() => nameAnchorSets(['h'], ['a'], [Infinity, -1]), ConfigError);
});

test('at least one harmful set is required', () => {
  assert.throws(() => nameAnchorSets([], ['a']), ConfigError);
});

test('parseWeights reads comma/space lists and rejects junk', () => {
  assert.deepEqual(parseWeights('1,-1,-0.5'), [1, -1, -0.5]);
  assert.deepEqual(parseWeights(' 1, -1  -1 '), [1, -1, -1]);
  assert.throws(() => parseWeights('1,abc'), (e: unknown) => e instanceof ConfigError && /--weights/.test(e.message));
  assert.throws(() => parseWeights('  '), ConfigError);
  assert.throws(() => parseWeights('1,Infinity'), ConfigError);
});
