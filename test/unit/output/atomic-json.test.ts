import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '../../../shared/src/output/atomic-json.ts';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-json-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('writes pretty JSON with a trailing newline and replaces the old file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'sub', 'summary.json');
  const value = { version: '0.1.0', counts: { scored: 12, errors: 0 }, names: ['ünï', '🙂'], ratio: 0.25, none: null };
  await writeJsonAtomic(path, value);
  const text = await readFile(path, 'utf8');
  assert.equal(text, '{\n  "version": "0.1.0",\n  "counts": {\n    "scored": 12,\n    "errors": 0\n  },\n'
    + '  "names": [\n    "ünï",\n    "🙂"\n  ],\n  "ratio": 0.25,\n  "none": null\n}\n');
  assert.deepEqual(JSON.parse(text), value);

  await writeJsonAtomic(path, [1, 2]);
  assert.equal(await readFile(path, 'utf8'), '[\n  1,\n  2\n]\n');
  assert.deepEqual(await readdir(join(dir, 'sub')), ['summary.json']);
});

test('a value that cannot be serialised leaves the old file and no temp file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'summary.json');
  await writeFile(path, '{"old":true}\n');
  await assert.rejects(writeJsonAtomic(path, { n: 1n }), TypeError);
  await assert.rejects(writeJsonAtomic(path, undefined), TypeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(writeJsonAtomic(path, cyclic), TypeError);
  assert.equal(await readFile(path, 'utf8'), '{"old":true}\n');
  assert.deepEqual(await readdir(dir), ['summary.json']);
});

test('concurrent writers of one path leave one complete document', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  const values = Array.from({ length: 20 }, (_, i) => ({ writer: i, payload: 'x'.repeat(10000 * (i + 1)) }));
  await Promise.all(values.map((v) => writeJsonAtomic(path, v)));
  const got = JSON.parse(await readFile(path, 'utf8')) as { writer: number; payload: string };
  assert.deepEqual(got, values[got.writer]);
  assert.deepEqual(await readdir(dir), ['state.json']);
});
