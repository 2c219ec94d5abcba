import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { InputError } from '../../../shared/src/errors.ts';
import { AuditedIdsBuilder } from '../../../shared/src/filter/audited-ids.ts';
import { FlaggedSet } from '../../../shared/src/filter/flagged-set.ts';

const hexId = () => randomBytes(16).toString('hex');

test('FlaggedSet keeps each id once (its best score), grows past its first arrays, and tells which ids were found', () => {
  const set = new FlaggedSet();
  const ids = Array.from({ length: 100 }, hexId);
  ids.forEach((id, i) => set.add({ id, score: i, repScore: -i, gradScore: i, auditSource: i % 2 ? 'a.jsonl' : 'b.jsonl', auditRow: i }));
  assert.equal(set.size, 100);
  set.add({ id: ids[5]!, score: 1000, repScore: 1, gradScore: 1000, auditSource: 'c.jsonl', auditRow: 77 });
  set.add({ id: ids[6]!, score: -1, repScore: 1, gradScore: -1, auditSource: 'c.jsonl', auditRow: 78 });
  assert.equal(set.size, 100);
  assert.deepEqual(set.entry(ids[5]!), { id: ids[5], score: 1000, repScore: 1, gradScore: 1000, auditSource: 'c.jsonl', auditRow: 77 });
  assert.deepEqual(set.entry(ids[6]!), { id: ids[6], score: 6, repScore: -6, gradScore: 6, auditSource: 'b.jsonl', auditRow: 6 });
  assert.equal(set.entry(hexId()), undefined);

  for (const id of ids.slice(0, 90)) set.markFound(set.indexOf(id)!);
  assert.equal(set.foundCount, 90);
  assert.deepEqual([...set.unfound()].map((e) => e.id), ids.slice(90));
  assert.deepEqual([...set.unfound()].map((e) => e.auditRow), [90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
});

test('AuditedIds finds every added id and (practically) no other, past its announced capacity too', () => {
  const builder = new AuditedIdsBuilder(10);
  const ids = Array.from({ length: 1000 }, hexId);
  for (const id of ids) builder.add(id, 'scores.parquet');
  const audited = builder.build();
  assert.equal(audited.size, 1000);
  assert.ok(ids.every((id) => audited.has(id)));
  assert.ok(Array.from({ length: 1000 }, hexId).every((id) => !audited.has(id)));
  assert.equal(audited.has('not-an-id'), false);
  assert.throws(() => builder.add('zz', 'scores.parquet'), (err: unknown) => err instanceof InputError && /scores\.parquet/.test(err.message));
});
