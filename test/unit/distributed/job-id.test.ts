import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../shared/src/errors.ts';
import { isJobId, isJobName, newJobId, toJobName } from '../../../shared/src/distributed/job-id.ts';

// NATS subject tokens exclude '.', '*', '>' and whitespace; KV keys allow only these characters.
const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;
const SUBJECT_TOKEN = /^[^.*>\s]+$/;

test('newJobId is <name>-<UTC yyyymmddhhmmss>-<6 hex>', () => {
  const id = newJobId('june-audit', new Date(Date.UTC(2024, 5, 3, 4, 5, 6)));
  assert.match(id, /^june-audit-20240603040506-[0-9a-f]{6}$/);
  assert.match(id, KV_KEY);
  assert.match(id, SUBJECT_TOKEN);
  assert.ok(isJobId(id));
});

test('ids of the same name and second differ', () => {
  const now = new Date();
  const ids = new Set(Array.from({ length: 200 }, () => newJobId('a', now)));
  assert.ok(ids.size > 190, `${ids.size} distinct of 200`);
});

test('the longest name still gives a valid id', () => {
  const name = 'x'.repeat(40);
  const id = newJobId(name);
  assert.equal(id.length, 62);
  assert.ok(isJobId(id));
});

test('bad names are ConfigErrors', () => {
  for (const name of ['', 'Upper', 'a.b', 'a*', 'a>', 'a b', '-a', 'a-', 'x'.repeat(41), 'ünï']) {
    assert.ok(!isJobName(name), name);
    assert.throws(() => newJobId(name), ConfigError, name);
  }
  assert.ok(!isJobId('june-20240603040506-abcdeg'));
  assert.ok(!isJobId('june-2024060304050-abcdef'));
});

test('toJobName makes a name from free text', () => {
  assert.equal(toJobName('June Audit (v2)'), 'june-audit-v2');
  assert.equal(toJobName('__x__'), 'x');
  assert.equal(toJobName('日本'), undefined);
  const long = toJobName(`${'a'.repeat(39)}-b`)!;
  assert.ok(isJobName(long), long);
});
