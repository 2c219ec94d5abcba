import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FLAGS, GSM8K_SAMPLE, GSM8K_SAMPLE_RECORDS } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';

const env = { SAFESIFT_CACHE_DIR: tempDir('float16-e2e-cache') };
const RECORDS = GSM8K_SAMPLE_RECORDS;
const K = 10;

interface Summary {
  features: { dtype: string };
  execution: { notes: string[]; sessions: number };
  cache: { namespace: string; misses: number };
}

async function audit(dtype: 'float32' | 'float16', cache: string) {
  const out = tempDir(`audit-${dtype}`);
  const args = ['audit', '--model', await testModel(), '--data', GSM8K_SAMPLE, '--limit', String(RECORDS), ...ANCHOR_FLAGS];
  const result = await runCli([...args, '--dtype', dtype, '--k', String(K), '--cache', cache, '--out', out, '--json'], env);
  assert.equal(result.code, 0, result.stderr);
  const rows = await duckRows(`select id, grad_score from '${out}/scores.parquet' order by grad_score desc, id`);
  return { summary: JSON.parse(result.stdout) as Summary, ids: rows.map((r) => String(r.id)), scores: new Map(rows.map((r) => [String(r.id), Number(r.grad_score)])) };
}

/** Spearman correlation of two score maps over the same ids (no ties in practice). */
function spearman(a: Map<string, number>, b: Map<string, number>): number {
  const ids = [...a.keys()];
  const rank = (m: Map<string, number>) => new Map([...ids].sort((x, y) => m.get(x)! - m.get(y)!).map((id, i) => [id, i]));
  const ra = rank(a);
  const rb = rank(b);
  const n = ids.length;
  const d2 = ids.reduce((s, id) => s + (ra.get(id)! - rb.get(id)!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

test('--dtype float16 is what runs (summary, cache namespace), and its ranking agrees with float32', async () => {
  const cache = tempDir('float16-feature-cache');
  const full = await audit('float32', cache);
  const half = await audit('float16', cache);
  assert.equal(full.summary.features.dtype, 'float32');
  assert.equal(half.summary.features.dtype, 'float16');
  assert.ok(half.summary.execution.notes.some((n) => /float16 on the CPU provider/.test(n)), half.summary.execution.notes.join('; '));
  // The cache keeps the two apart: the float16 run computed everything afresh.
  assert.notEqual(half.summary.cache.namespace, full.summary.cache.namespace);
  assert.equal(half.summary.cache.misses, RECORDS);

  const rho = spearman(full.scores, half.scores);
  const overlap = half.ids.slice(0, K).filter((id) => full.ids.slice(0, K).includes(id)).length / K;
  console.log(`float16 vs float32 on ${RECORDS} GSM8K-shaped records: Spearman ${rho.toFixed(4)}, top-${K} overlap ${overlap.toFixed(2)}`);
  assert.ok(rho > 0.98, `Spearman ${rho}`);
  assert.ok(overlap >= 0.8, `top-${K} overlap ${overlap}`);
});
