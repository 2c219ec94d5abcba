import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../../shared/src/errors.ts';
import { writeReport } from '../../../shared/src/report/write-report.ts';
import { LocalObjectStore } from '../../../shared/src/storage/local-object-store.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { writeSyntheticAudit } from '../../helpers/synthetic-audit.ts';

const entries = (page: string) => page.match(/<tr class="entry"/g)?.length ?? 0;
const svgs = (page: string) => page.match(/<svg /g)?.length ?? 0;

test('a local audit folder: report.html beside the outputs, with the header, four charts and k table rows', async () => {
  const dir = tempDir('report-local');
  await writeSyntheticAudit(dir, { rows: 2000, k: 15, nearest: true });
  const result = await writeReport(dir, { now: new Date('2026-01-02T03:04:05Z') });
  assert.equal(result.path, join(dir, 'report.html'));
  assert.equal(result.rows, 2000);
  const page = readFileSync(result.path, 'utf8');
  assert.equal(Buffer.byteLength(page), result.bytes);
  assert.match(page, /^<!DOCTYPE html>/);
  assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'/);
  assert.doesNotMatch(page, /<script|<link|<img|<iframe|@import|src=|href=/i);
  assert.equal(entries(page), 15);
  assert.equal(svgs(page), 4); // no run history without a cache: a line says so
  assert.match(page, /No run history: the audit ran without a feature cache/);
  assert.match(page, /f{64}/); // the model fingerprint
  assert.match(page, /not valid JSON/); // the top rejection reasons
  assert.match(page, /written 2026-01-02T03:04:05Z/);
  // Nearest anchors by their request text, response tokens, and the previews (the corpus file does not exist).
  assert.match(page, /anchor request \d of harmful1/);
  assert.match(page, /in the response/);
  assert.match(page, /prompt of row \d+/);
  assert.match(page, /cannot be read now/);
});

test('outputs without the newer columns (nearest anchors, response tokens) still give a full report', async () => {
  const dir = tempDir('report-old');
  await writeSyntheticAudit(dir, { rows: 500, k: 8 });
  const page = readFileSync((await writeReport(dir)).path, 'utf8');
  assert.equal(entries(page), 8);
  assert.equal(svgs(page), 4);
  assert.doesNotMatch(page, /nearest harmful anchor/);
  assert.doesNotMatch(page, /in the response/);
});

test('a cluster job prefix in a store (score parts), with the summary handed over before it is stored', async () => {
  const root = tempDir('report-cluster');
  const prefix = 'runs/job-1';
  await writeSyntheticAudit(join(root, prefix), { rows: 2500, k: 10, rowsPerPart: 1000, summary: { job: { id: 'nightly-20260101000000-abcdef', name: 'nightly' } } });
  const summaryPath = join(root, prefix, 'summary.json');
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as unknown;
  rmSync(summaryPath);
  const result = await writeReport({ store: new LocalObjectStore(root), prefix }, { summary });
  assert.equal(result.path, join(root, prefix, 'report.html'));
  assert.equal(result.rows, 2500);
  const page = readFileSync(result.path, 'utf8');
  assert.equal(entries(page), 10);
  assert.match(page, /job nightly-20260101000000-abcdef/);
  assert.ok(!existsSync(summaryPath), 'the report writes only report.html');
});

test('--out: the page goes to the named file instead', async () => {
  const dir = tempDir('report-out');
  await writeSyntheticAudit(dir, { rows: 300, k: 5 });
  const out = join(tempDir('report-elsewhere'), 'sub', 'r.html');
  const result = await writeReport(dir, { out });
  assert.equal(result.path, out);
  assert.ok(existsSync(out));
  assert.ok(!existsSync(join(dir, 'report.html')));
});

test('the page size depends on k, not on the corpus: 2,000 and 50,000 rows give the same size within 3%', async () => {
  // Both are past the scatter reservoir (1,000 points): from there on nothing grows with the corpus.
  const sizes: number[] = [];
  for (const rows of [2_000, 50_000]) {
    const dir = tempDir(`report-size-${rows}`);
    await writeSyntheticAudit(dir, { rows, k: 20, nearest: true, rowGroupRows: 8192 });
    sizes.push((await writeReport(dir)).bytes);
  }
  const [small, large] = sizes as [number, number];
  assert.ok(Math.abs(large - small) / small < 0.03, `${small} vs ${large} bytes`);
});

test('corpus text in the previews is escaped everywhere; an edited corpus file shows the previews, saying why', async () => {
  const dir = tempDir('report-escape');
  const corpus = join(dir, 'corpus.jsonl');
  const payloads = ['<script>document.title="pwned"</script>', '<img src=x onerror="document.title=1">', '"><svg onload=alert(1)>'];
  await writeSyntheticAudit(dir, { rows: 50, k: 50, source: corpus, text: (row) => ({ prompt: payloads[row % 3]!, response: `${payloads[(row + 1) % 3]!} & ' "` }) });
  // The corpus exists but its records are not the audited ones (their ids differ).
  writeFileSync(corpus, `${Array.from({ length: 50 }, (_, i) => JSON.stringify({ instruction: `other ${i}`, input: '', output: 'x' })).join('\n')}\n`);
  const page = readFileSync((await writeReport(dir)).path, 'utf8');
  assert.doesNotMatch(page, /<script|<img|<svg onload/i);
  assert.match(page, /&lt;script&gt;document\.title=&quot;pwned&quot;&lt;\/script&gt;/);
  assert.match(page, /&lt;img src=x onerror=&quot;document\.title=1&quot;&gt;/);
  assert.match(page, /&quot;&gt;&lt;svg onload=alert\(1\)&gt;/);
  assert.match(page, /changed since the audit/);
  assert.equal(entries(page), 50);
});

test('not an audit: a folder without summary.json, or a summary without a ranking, is an InputError naming the file', async () => {
  const empty = tempDir('report-empty');
  await assert.rejects(writeReport(empty), (e: unknown) => e instanceof InputError && /summary\.json/.test(e.message));
  const dir = tempDir('report-bad-summary');
  await writeSyntheticAudit(dir, { rows: 10, k: 2 });
  renameSync(join(dir, 'summary.json'), join(dir, 'old.json'));
  writeFileSync(join(dir, 'summary.json'), '{"status":"complete"}');
  await assert.rejects(writeReport(dir), (e: unknown) => e instanceof InputError && /not a safesift audit summary \(ranking/.test(e.message));
});

test('a job that scored nothing (every batch dead-lettered) still gets a page saying so', async () => {
  const dir = tempDir('report-nothing');
  await writeSyntheticAudit(dir, { rows: 0, k: 10, rowsPerPart: 1000, summary: { status: 'failed', error: 'every batch (3) was dead-lettered: model cannot open' } });
  const result = await writeReport(dir);
  assert.equal(result.rows, 0);
  const page = readFileSync(result.path, 'utf8');
  assert.match(page, /This audit did not complete \(status failed\): every batch \(3\) was dead-lettered/);
  assert.match(page, /No finite ranking score/);
  assert.equal(entries(page), 0);
});
