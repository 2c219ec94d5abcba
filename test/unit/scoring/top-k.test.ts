import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../shared/src/errors.ts';
import { TopK, type TopKMode } from '../../../shared/src/scoring/top-k.ts';
import { rng } from './random.ts';

interface Item {
  score: number;
  id: string;
  source: string;
  row: number;
  n: number; // payload
}

/** Many ties: scores rounded to 2 decimals, few ids and sources; ~2% non-finite scores. */
function makeItems(count: number, seed: number): Item[] {
  const rand = rng(seed);
  return Array.from({ length: count }, (_, n) => {
    const u = rand();
    const score = u < 0.01 ? NaN : u < 0.015 ? Infinity : u < 0.02 ? -Infinity : Math.round((rand() * 2 - 1) * 100) / 100;
    return {
      score,
      id: `id${Math.floor(rand() * 40)}`,
      source: ['b.jsonl', 'a.jsonl', 'c.parquet'][Math.floor(rand() * 3)]!,
      row: Math.floor(rand() * 30),
      n,
    };
  });
}

/** Reference ranking, written independently of the module: full sort then slice. */
function reference(items: Item[], k: number, mode: TopKMode): string[] {
  const str = (a: string, b: string) => (a === b ? 0 : a < b ? -1 : 1);
  return items
    .filter((x) => Number.isFinite(x.score))
    .sort((a, b) => (mode === 'top' ? b.score - a.score : a.score - b.score) || str(a.id, b.id) || str(a.source, b.source) || a.row - b.row)
    .slice(0, k)
    .map(key);
}

const key = (x: Item) => `${x.score}|${x.id}|${x.source}|${x.row}`;

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('equals full sort + slice on 10k tied items, both modes', () => {
  const items = makeItems(10_000, 3);
  for (const mode of ['top', 'bottom'] as const) {
    for (const k of [1, 7, 100, 1000, 9_999]) {
      const top = new TopK<Item>(k, mode);
      for (const x of items) top.push(x);
      const got = top.sorted();
      assert.deepEqual(got.map(key), reference(items, k, mode), `${mode} k=${k}`);
      assert.ok(got.every((x) => items[x.n] === x), 'payload kept, same objects');
    }
  }
});

test('merging shards equals the global result whatever the shard order', () => {
  const items = makeItems(10_000, 5);
  const rand = rng(9);
  for (const mode of ['top', 'bottom'] as const) {
    const k = 100;
    const want = reference(items, k, mode);
    const shards = Array.from({ length: 7 }, () => new TopK<Item>(k, mode));
    for (const x of shuffle(items, rand)) shards[Math.floor(rand() * shards.length)]!.push(x);
    for (let t = 0; t < 5; t++) {
      const merged = new TopK<Item>(k, mode);
      for (const s of shuffle(shards, rand)) merged.merge(s);
      assert.deepEqual(merged.sorted().map(key), want);
    }
    // merging into a non-empty shard and from plain iterables works too
    const [first, ...rest] = shards;
    const into = new TopK<Item>(k, mode).merge(first!);
    for (const s of rest.reverse()) into.merge(s.sorted());
    assert.deepEqual(into.sorted().map(key), want);
  }
});

test('non-finite scores never enter, even with room to spare', () => {
  for (const mode of ['top', 'bottom'] as const) {
    const top = new TopK<Item>(10, mode);
    for (const score of [NaN, Infinity, -Infinity]) {
      assert.equal(top.push({ score, id: 'x', source: 's', row: 0, n: 0 }), false);
    }
    assert.equal(top.size, 0);
    top.push({ score: 0.5, id: 'y', source: 's', row: 1, n: 1 });
    assert.equal(top.push({ score: NaN, id: 'a', source: 's', row: 2, n: 2 }), false);
    assert.deepEqual(top.sorted().map((x) => x.id), ['y']);
  }
});

test('k larger than the count keeps everything, ordered; k = 0 keeps nothing', () => {
  const items: Item[] = [
    { score: 0.1, id: 'b', source: 's', row: 0, n: 0 },
    { score: 0.9, id: 'a', source: 's', row: 1, n: 1 },
    { score: 0.1, id: 'a', source: 't', row: 2, n: 2 },
    { score: 0.1, id: 'a', source: 's', row: 5, n: 3 },
    { score: 0.1, id: 'a', source: 's', row: 3, n: 4 },
  ];
  const top = new TopK<Item>(100);
  const bottom = new TopK<Item>(100, 'bottom');
  for (const x of items) {
    assert.equal(top.push(x), true);
    bottom.push(x);
  }
  assert.deepEqual(top.sorted().map((x) => x.n), [1, 4, 3, 2, 0]);
  assert.deepEqual(bottom.sorted().map((x) => x.n), [4, 3, 2, 0, 1]);
  const none = new TopK<Item>(0);
  assert.equal(none.push(items[1]!), false);
  assert.deepEqual(none.sorted(), []);
});

test('push reports whether the item entered', () => {
  const top = new TopK<Item>(2);
  const mk = (score: number, id: string): Item => ({ score, id, source: 's', row: 0, n: 0 });
  assert.equal(top.push(mk(1, 'm')), true);
  assert.equal(top.push(mk(2, 'm')), true);
  assert.equal(top.push(mk(0.5, 'a')), false); // worse score
  assert.equal(top.push(mk(1, 'z')), false); // tie loses on id
  assert.equal(top.push(mk(1, 'a')), true); // tie wins on id
  assert.deepEqual(top.sorted().map((x) => `${x.score}${x.id}`), ['2m', '1a']);
});

test('invalid k and mixed-mode merges are rejected', () => {
  assert.throws(() => new TopK<Item>(-1), ConfigError);
  assert.throws(() => new TopK<Item>(2.5), ConfigError);
  assert.throws(() => new TopK<Item>(3, 'top').merge(new TopK<Item>(3, 'bottom')), ConfigError);
});

test('mergeSorted of shards\' sorted lists equals the global result (as the reducer merges batches)', () => {
  const items = makeItems(10_000, 11);
  const rand = rng(13);
  for (const mode of ['top', 'bottom'] as const) {
    for (const k of [1, 50, 400]) {
      const shards = Array.from({ length: 64 }, () => new TopK<Item>(k, mode));
      for (const x of items) shards[Math.floor(rand() * shards.length)]!.push(x);
      const merged = new TopK<Item>(k, mode);
      for (const s of shuffle(shards, rand)) merged.mergeSorted(s.sorted());
      assert.deepEqual(merged.sorted().map(key), reference(items, k, mode), `${mode} k=${k}`);
    }
  }
});
