import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FORMAT_TAGS } from '../../../shared/src/corpus/format-tags.ts';
import { LocalObjectStore } from '../../../shared/src/storage/local-object-store.ts';
import { openTable, readTopK } from '../../../shared/src/report/report-inputs.ts';
import { scorePass, topRowKey } from '../../../shared/src/report/score-pass.ts';
import { duckRows } from '../../helpers/run-cli.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { writeSyntheticAudit } from '../../helpers/synthetic-audit.ts';

const ROWS = 3000;
const K = 25;

async function pass(dir: string, keys: string[], options: { useStatistics?: boolean; seed?: number } = {}) {
  const store = new LocalObjectStore(dir);
  const top = (await readTopK(store, 'topk.parquet'))!;
  const tables = [];
  for (const key of keys) tables.push(await openTable(store, key));
  return { top, result: await scorePass(tables, { scoreColumn: 'grad_score', sets: ['harmful1', 'safe1'], top, scatterSample: 500, tagSample: 1000, ...options }) };
}

test('one pass over a multi-row-group table: counts, histograms, tags and every top-k row, as DuckDB reads the file', async () => {
  const dir = tempDir('score-pass');
  await writeSyntheticAudit(dir, { rows: ROWS, k: K, nearest: true, rowGroupRows: 700 });
  const { top, result } = await pass(dir, ['scores.parquet']);
  const file = join(dir, 'scores.parquet');
  assert.equal(result.rows, ROWS);
  assert.equal(result.score!.histogram.total, ROWS);
  assert.equal(result.score!.histogram.below + result.score!.histogram.above + result.score!.histogram.missing, 0);
  const [stats] = await duckRows(`select min(grad_score) lo, max(grad_score) hi, avg(grad_score) mean, ${FORMAT_TAGS.map((t) => `count(*) filter (where tag_${t})::int "${t}"`).join(', ')} from read_parquet('${file}')`);
  assert.equal(result.score!.histogram.min, stats!.lo);
  assert.equal(result.score!.histogram.max, stats!.hi);
  assert.ok(Math.abs(result.score!.moments.mean - (stats!.mean as number)) < 1e-12);
  for (const t of FORMAT_TAGS) assert.equal(result.tagCounts!.get(t), stats![t], t);
  assert.deepEqual(result.components.map((c) => `${c.component}_${c.set}`), ['rep_harmful1', 'grad_harmful1', 'rep_safe1', 'grad_safe1']);
  assert.equal(result.scatter.length, 500);
  assert.equal(result.tagMasks.length, 1000);
  // Every top-k entry's full row, new columns included.
  assert.equal(result.topRows.size, K);
  const best = result.topRows.get(topRowKey(top[0]!.source, top[0]!.row))!;
  const [row] = await duckRows(`select grad_harmful1, near_rep_safe1::int near, response_tokens from read_parquet('${file}') where "row" = ${top[0]!.row}`);
  assert.equal(best.values.get('grad_harmful1'), row!.grad_harmful1);
  assert.equal(Number(best.values.get('near_rep_safe1')), row!.near);
  assert.equal(best.values.get('response_tokens'), row!.response_tokens);
});

test('the same result without column statistics (a first pass finds the ranges), and the same samples for the same seed', async () => {
  const dir = tempDir('score-pass-nostats');
  await writeSyntheticAudit(dir, { rows: 1500, k: 10, rowGroupRows: 400 });
  const a = (await pass(dir, ['scores.parquet'])).result;
  const b = (await pass(dir, ['scores.parquet'], { useStatistics: false })).result;
  assert.deepEqual([...b.score!.histogram.counts], [...a.score!.histogram.counts]);
  assert.deepEqual(b.scatter, a.scatter);
  assert.deepEqual(b.tagMasks, a.tagMasks);
  const c = (await pass(dir, ['scores.parquet'], { seed: 99 })).result;
  assert.notDeepEqual(c.scatter, a.scatter);
});

test('cluster layout: parts are one table; a table without tags or per-set columns still gives the score histogram', async () => {
  const dir = tempDir('score-pass-parts');
  await writeSyntheticAudit(dir, { rows: 2500, k: 10, rowsPerPart: 1000 });
  const { result } = await pass(dir, ['scores/part-000000.parquet', 'scores/part-000001.parquet', 'scores/part-000002.parquet']);
  assert.equal(result.rows, 2500);
  assert.equal(result.topRows.size, 10);
  const noSets = await scorePass([await openTable(new LocalObjectStore(dir), 'scores/part-000000.parquet')], { scoreColumn: 'rep_score', sets: ['nosuchset'], top: [] });
  assert.equal(noSets.components.length, 0);
  assert.equal(noSets.score!.histogram.total, 1000);
  assert.equal(noSets.topRows.size, 0);
});
