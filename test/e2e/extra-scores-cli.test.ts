import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FLAGS, GSM8K_SAMPLE } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';

// Ranking by the scores beyond the paper (README, Scores): the top-k follows the chosen column,
// summary.json and report.html name it, and a ranking that cannot exist fails before the corpus.
const env = { SAFESIFT_CACHE_DIR: tempDir('e2e-extra-scores-cache') };
const K = 10;

interface Summary {
  ranking: { method: string; column: string; k: number };
  features: { direction_layers: number[]; directions: Array<{ column: string; degenerate: string | null }> };
  warnings: string[];
}

for (const [method, column] of [['self_inf_n', 'self_inf_n'], ['dir', 'dir_2_response']] as const) {
  test(`--method ${method} ranks by ${column}, and summary.json and report.html say so`, async () => {
    const out = tempDir(`extra-scores-${method}`);
    const result = await runCli(['audit', '--model', await testModel(), '--data', GSM8K_SAMPLE, '--limit', '40', ...ANCHOR_FLAGS, '--method', method, '--k', String(K), '--out', out, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as Summary;
    assert.deepEqual(summary.ranking, { ...summary.ranking, method, column, k: K });
    // The test model has 5 layers: the default direction layer is the middle one, 2.
    assert.deepEqual(summary.features.direction_layers, [2]);
    assert.deepEqual(summary.features.directions.map((d) => [d.column, d.degenerate === null]), [['dir_2_prompt', false], ['dir_2_response', true]]);
    // The shared-request prompt direction is expected to be empty: no warning for it.
    assert.ok(!summary.warnings.some((w) => w.includes('dir_2')), summary.warnings.join('\n'));

    const scores = join(out, 'scores.parquet');
    const [counts] = await duckRows(`select count(${column})::int scored, count(dir_2_prompt)::int prompt, count(self_inf)::int self_inf from read_parquet('${scores}')`);
    assert.deepEqual(counts, { scored: 40, prompt: 0, self_inf: 40 });
    const expected = await duckRows(`select id from read_parquet('${scores}') order by ${column} desc, id asc limit ${K}`);
    const top = await duckRows(`select id from read_parquet('${join(out, 'topk.parquet')}') order by rank`);
    assert.deepEqual(top, expected);

    const page = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok(page.includes(`${method} (${column})`), 'the report header names the method and its column');
    assert.ok(page.includes(`${column} (ranking score)`), 'the histogram is of the ranking column');
  });
}

test('--method dir without a direction layer is a bad option: exit 2, one line, no output', async () => {
  const out = tempDir('extra-scores-no-layer');
  const result = await runCli(['audit', '--model', await testModel(), '--data', GSM8K_SAMPLE, '--limit', '5', ...ANCHOR_FLAGS, '--method', 'dir', '--direction-layers', 'none', '--out', out], env);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr.trim(), /^safesift: .*--method dir .*--direction-layers/);
  assert.equal(result.stderr.trim().split('\n').length, 1);
});

test('--direction-layers past the model is a bad option naming the layer count', async () => {
  const result = await runCli(['audit', '--model', await testModel(), '--data', GSM8K_SAMPLE, '--limit', '5', ...ANCHOR_FLAGS, '--direction-layers', '7', '--out', tempDir('extra-scores-bad-layer')], env);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /layer 7 does not exist \(the model has 5 layers, 0-4\)/);
});
