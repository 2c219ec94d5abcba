import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExact, stringifyExact } from '../../../shared/src/distributed/exact-json.ts';
import { rankedEntry, rng, score } from './random-data.ts';

test('non-finite numbers and -0 survive, nested anywhere', () => {
  const value = { a: Number.NaN, b: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1.5], c: { d: [{ e: Number.NaN }] }, s: 'NaN' };
  const text = stringifyExact(value);
  assert.doesNotMatch(text, /null/);
  assert.deepStrictEqual(parseExact(text), value);
});

test('random ranked entries round-trip exactly', () => {
  const r = rng(12);
  for (let i = 0; i < 500; i++) {
    const value = { entries: [rankedEntry(r), rankedEntry(r)], ms: score(r) };
    assert.deepStrictEqual(parseExact(stringifyExact(value)), value);
  }
});

test('strings and objects that only look like the tag stay as they are', () => {
  const value = { a: '$num', b: { $num: 'nan' }, c: { $num: 'NaN', other: 1 }, d: { $num: 3 } };
  assert.deepStrictEqual(parseExact(stringifyExact(value)), value);
});
