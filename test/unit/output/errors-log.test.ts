import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../shared/src/errors.ts';
import { openErrorsLog } from '../../../shared/src/output/errors-log.ts';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-errors-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('writes one JSON line per rejected record, renamed into place at close', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'errors.jsonl');
  const log = await openErrorsLog(path);
  const records = [
    { source: 'data/a.jsonl', row: 3, reason: 'missing "messages"' },
    { source: 'data/ü b.jsonl', row: -1, reason: 'not valid JSON\nat line 1' },
  ];
  for (const r of records) log.record(r);
  log.record(new InputError('c.parquet', 9, 'empty prompt'));
  assert.equal(log.count, 3);
  assert.deepEqual(await readdir(dir), ['errors.jsonl.partial']);
  await log.close();
  assert.deepEqual(await readdir(dir), ['errors.jsonl']);

  const text = await readFile(path, 'utf8');
  assert.ok(text.endsWith('\n'));
  const lines = text.split('\n').slice(0, -1);
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [...records, { source: 'c.parquet', row: 9, reason: 'empty prompt' }]);
  assert.throws(() => log.record(records[0]!), /closed/);
  await assert.rejects(log.close(), /closed/);
});

test('is created even when nothing was rejected', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'nested', 'errors.jsonl');
  const log = await openErrorsLog(path);
  assert.equal(log.count, 0);
  await log.close();
  assert.equal(await readFile(path, 'utf8'), '');
});

test('many records survive intact and in order', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'errors.jsonl');
  const log = await openErrorsLog(path);
  for (let i = 0; i < 20000; i++) log.record({ source: `s${i % 3}`, row: i, reason: `reason ${'x'.repeat(i % 50)}` });
  await log.close();
  const rows = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { row: number });
  assert.deepEqual(rows.map((r) => r.row), Array.from({ length: 20000 }, (_, i) => i));
});

test('abort leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const log = await openErrorsLog(join(dir, 'errors.jsonl'));
  log.record({ source: 'a', row: 0, reason: 'bad' });
  await log.abort();
  assert.deepEqual(await readdir(dir), []);
});
