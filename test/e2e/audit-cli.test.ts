import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readJsonLines, tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FLAGS, GSM8K_SAMPLE } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';
import { writeBadCorpus } from '../helpers/bad-corpus.ts';

// One cache for every CLI run in this file: graphs and the tiny model are built once.
const env = { SAFESIFT_CACHE_DIR: tempDir('e2e-cache') };

// The issue's command (300 GSM8K records, top-100, on stories260k) scaled to the tests' own data: the
// first 50 of the 60 GSM8K-shaped records (so --limit cuts), top-20, on the stories260k-shaped test model.
const RECORDS = 50;
const K = 20;

test('the issue command: 50 GSM8K-shaped records on the test model give 50 scores and a consistent top-20', async () => {
  const out = tempDir('gsm8k-out');
  const result = await runCli(
    ['audit', '--model', await testModel(), '--data', GSM8K_SAMPLE, '--limit', String(RECORDS), ...ANCHOR_FLAGS, '--format', 'paper-llama2', '--proj', 'none', '--k', String(K), '--out', out, '--json'],
    env,
  );
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as { counts: { scored: number; errors: number }; features: { probe: string }; model: { synthetic: boolean } };
  assert.equal(summary.counts.scored, RECORDS);
  assert.equal(summary.counts.errors, 0);
  assert.equal(summary.features.probe, 'all'); // the default: the paper's full gradient
  assert.equal(summary.model.synthetic, false);

  const scores = join(out, 'scores.parquet');
  const [stats] = await duckRows(`select count(*)::int n, count(distinct "row")::int distinct_rows, min("row")::int lo, max("row")::int hi, count(grad_score)::int graded from read_parquet('${scores}')`);
  assert.deepEqual(stats, { n: RECORDS, distinct_rows: RECORDS, lo: 0, hi: RECORDS - 1, graded: RECORDS });

  // The top-k file is exactly the K best grad_score rows, best first, ties by id.
  const expected = await duckRows(`select id, "row"::int "row" from read_parquet('${scores}') order by grad_score desc, id asc limit ${K}`);
  const top = await duckRows(`select rank::int rank, id, "row"::int "row" from read_parquet('${join(out, 'topk.parquet')}') order by rank`);
  assert.deepEqual(top.map((r) => r.rank), Array.from({ length: K }, (_, i) => i + 1));
  assert.deepEqual(top.map((r) => ({ id: r.id, row: r.row })), expected);
  assert.equal(readFileSync(join(out, 'errors.jsonl'), 'utf8'), '');

  // Previews show the record's own question and answer, not the prompt template.
  const [best] = await duckRows(`select "row"::int "row", prompt_preview, response_preview from read_parquet('${join(out, 'topk.parquet')}') where rank = 1`);
  const record = readJsonLines(GSM8K_SAMPLE, RECORDS)[best!.row as number] as { question: string; answer: string };
  assert.ok(record.question.startsWith((best!.prompt_preview as string).replace(/…$/, '')));
  assert.ok(record.answer.startsWith((best!.response_preview as string).replace(/…$/, '')));
});

test('bad records are reported with file, row and reason; every good record is scored', async () => {
  const dir = tempDir('bad-input');
  const corpus = await writeBadCorpus(dir);
  const out = join(dir, 'out');
  const result = await runCli(['audit', '--data', corpus.path, '--out', out, '--json'], env);
  assert.equal(result.code, 0, result.stderr);

  const errors = readFileSync(join(out, 'errors.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { source: string; row: number; reason: string });
  assert.deepEqual(errors.map((e) => e.row), corpus.badRows.map((b) => b.row));
  for (const [i, bad] of corpus.badRows.entries()) {
    assert.equal(errors[i]!.source, corpus.path);
    assert.ok(errors[i]!.reason.includes(bad.reasonIncludes), `row ${bad.row}: '${errors[i]!.reason}' lacks '${bad.reasonIncludes}'`);
  }
  const scored = await duckRows(`select "row"::int "row" from read_parquet('${join(out, 'scores.parquet')}') order by "row"`);
  assert.deepEqual(scored.map((r) => r.row), corpus.goodRows);
});

test('the demo runs with no inputs and says its model carries no meaning', async () => {
  const out = tempDir('demo-out');
  const result = await runCli(['audit', '--out', out, '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as { demo: boolean; model: { synthetic: boolean; warning?: string }; counts: { scored: number } };
  assert.equal(summary.demo, true);
  assert.equal(summary.model.synthetic, true);
  assert.match(summary.model.warning ?? '', /no meaning/);
  assert.ok(summary.counts.scored > 0);
  const [top] = await duckRows(`select count(*)::int n from read_parquet('${join(out, 'topk.parquet')}')`);
  assert.equal(top!.n, Math.min(100, summary.counts.scored));
});

test('why columns: the nearest anchor of each set by representation and by gradient, response tokens and format tags', async () => {
  const out = tempDir('why-out');
  const result = await runCli(['audit', '--out', out, '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
    features: { nearest_by_gradient: boolean };
    anchor_sets: { name: string; source: string; anchors: number; anchor_requests: { row: number; request: string }[] }[];
  };
  assert.equal(summary.features.nearest_by_gradient, true);
  const rows = (await duckRows(`select * from read_parquet('${join(out, 'scores.parquet')}')`)) as Record<string, unknown>[];
  assert.ok(rows.length > 0);
  for (const set of summary.anchor_sets) {
    // The summary names every anchor by its file row and request, as the files have them.
    const fileRequests = readFileSync(set.source, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { messages: { role: string; content: string }[] }).messages[0]!.content);
    assert.deepEqual(set.anchor_requests.map((a) => a.row), fileRequests.map((_, i) => i));
    set.anchor_requests.forEach((a) => assert.ok(fileRequests[a.row]!.startsWith(a.request.replace(/…$/, '')), a.request));
    for (const r of rows) {
      const byRep = Number(r[`near_rep_${set.name}`]);
      const byGrad = Number(r[`near_grad_${set.name}`]);
      assert.ok(byRep >= 0 && byRep < set.anchors && byGrad >= 0 && byGrad < set.anchors, `${set.name}: ${byRep}, ${byGrad}`);
      // Top-1 representation score is the nearest anchor's cosine; the gradient target is the mean
      // of the anchors' unit gradients, so its dot is at most the nearest anchor's.
      assert.ok(Math.abs(Number(r[`near_rep_${set.name}_cos`]) - Number(r[`rep_${set.name}`])) < 1e-12);
      assert.ok(Number(r[`near_grad_${set.name}_dot`]) >= Number(r[`grad_${set.name}`]) - 1e-12);
    }
  }
  for (const r of rows) {
    assert.ok(Number(r.response_tokens) > 0 && Number(r.response_tokens) < Number(r.tokens), `${String(r.response_tokens)} of ${String(r.tokens)}`);
  }
  // The demo corpus's numbered lists are tagged (rows 0 and 1: a numbered and a bulleted list).
  const byRow = new Map(rows.map((r) => [Number(r.row), r]));
  assert.equal(byRow.get(0)!.tag_numbered_list, true);
  assert.equal(byRow.get(1)!.tag_bullet_list, true);
  assert.equal(byRow.get(1)!.tag_numbered_list, false);
});

test('bad options exit with code 2 and name the option; a missing model exits with code 3', async () => {
  const badProj = await runCli(['audit', '--proj', 'kron:big', '--out', tempDir('bad-proj')], env);
  assert.equal(badProj.code, 2);
  assert.match(badProj.stderr, /--proj/);
  const badWeights = await runCli(['audit', '--weights', '1,-1', '--out', tempDir('bad-weights')], env);
  assert.equal(badWeights.code, 2);
  assert.match(badWeights.stderr, /--weights/);
  const badType = await runCli(['audit', '--data', join(tempDir('bad-type'), 'corpus.csv'), '--out', tempDir('bad-type-out')], env);
  assert.equal(badType.code, 2);
  assert.match(badType.stderr, /corpus\.csv.*\.jsonl, \.ndjson, \.json or \.parquet/);
  const missingModel = await runCli(['audit', '--model', join(tempDir('no-model'), 'absent'), '--out', tempDir('missing-model'), '--json'], env);
  assert.equal(missingModel.code, 3);
  assert.match(missingModel.stderr, /checkpoint folder not found/);
  const failure = JSON.parse(missingModel.stdout) as { status: string; error: { kind: string; exit_code: number } };
  assert.deepEqual([failure.status, failure.error.kind, failure.error.exit_code], ['failed', 'ModelError', 3]);
});
