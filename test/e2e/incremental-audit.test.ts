import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEMO_INPUTS } from '../../shared/src/audit/demo-inputs.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { GSM8K_SAMPLE_RECORDS, gsm8kSample } from '../helpers/test-data.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';

const env = { SAFESIFT_CACHE_DIR: tempDir('incremental-model-cache') };
const RECORDS = GSM8K_SAMPLE_RECORDS;
const K = 10;

interface Summary {
  counts: { scored: number; errors: number };
  anchor_sets: Array<{ anchors: number }>;
  cache?: { uri: string; namespace: string; hits: number; misses: number; anchor_hits: number; anchor_misses: number; gradient_reads: number };
  diff?: {
    entered: Array<{ id: string; rank: number; score: number }>;
    left: Array<{ id: string; previous_rank: number; previous_score: number; score: number | null }>;
    stayed: { count: number; mean_abs_shift: number | null; max_abs_shift: number | null };
    previous: { same_features: boolean };
  } | null;
}

async function audit(data: string, out: string, extra: string[]): Promise<Summary> {
  // The tiny model keeps the audits within the e2e budget on a slow machine.
  const result = await runCli(['audit', '--data', data, '--k', String(K), '--out', out, '--json', ...extra], env);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Summary;
}

const topOf = (out: string) => duckRows(`select rank::int rank, id, "row"::int "row", score, rep_score, grad_score from read_parquet('${join(out, 'topk.parquet')}') order by rank`);
const scoresOf = (out: string) => duckRows(`select * exclude (source) from read_parquet('${join(out, 'scores.parquet')}') order by "row"`);

function assertClose(actual: Record<string, unknown>[], expected: Record<string, unknown>[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: row count`);
  actual.forEach((row, i) => {
    const other = expected[i]!;
    assert.deepEqual(Object.keys(row), Object.keys(other), `${what}: columns`);
    for (const [column, value] of Object.entries(row)) {
      const want = other[column];
      if (typeof value === 'number' && typeof want === 'number') {
        assert.ok(Math.abs(value - want) <= 1e-6, `${what} row ${i} ${column}: ${value} vs ${want}`);
      } else {
        assert.deepEqual(value, want, `${what} row ${i} ${column}`);
      }
    }
  });
}

test('a re-audit after a small change (2 of 60 records) featurizes only the 2 changed records and equals a cold audit', async () => {
  const dir = tempDir('incremental');
  const cache = join(dir, 'cache');
  const corpus = join(dir, 'corpus.jsonl');
  const records = gsm8kSample(RECORDS);
  writeFileSync(corpus, records.map((r) => JSON.stringify(r)).join('\n') + '\n');

  // Night 1: everything is computed. Both outputs end in "audit", the default run name.
  const night1 = join(dir, 'night1', 'audit');
  const first = await audit(corpus, night1, ['--cache', cache]);
  const anchors = first.anchor_sets.reduce((n, s) => n + s.anchors, 0);
  assert.equal(first.counts.scored, RECORDS);
  const corpusNamespace = readdirSync(join(cache, 'features')).find((ns) => JSON.parse(readFileSync(join(cache, 'features', ns, 'key.json'), 'utf8')).responseTokenLimit === null)!;
  assert.deepEqual(first.cache, { uri: cache, namespace: corpusNamespace, hits: 0, misses: RECORDS, anchor_hits: 0, anchor_misses: anchors, gradient_reads: 0 });
  assert.equal(first.diff, null);
  const top1 = await topOf(night1);
  const indexDir = join(cache, 'features', corpusNamespace, 'index');
  const night1Segments = readdirSync(indexDir).length;

  // Two of the records change: the two best-ranked ones, so they must leave the top-k.
  const changedRows = [top1[0]!.row as number, top1[1]!.row as number];
  // The question's first letter changes case: a change that survives truncation and keeps the length.
  for (const row of changedRows) {
    const q = records[row]!.question;
    const first = q[0]!;
    const swapped = first === first.toUpperCase() ? first.toLowerCase() : first.toUpperCase();
    assert.notEqual(swapped, first);
    records[row] = { ...records[row]!, question: swapped + q.slice(1) };
  }
  writeFileSync(corpus, records.map((r) => JSON.stringify(r)).join('\n') + '\n');

  // Night 2: only the changed records are featurized; anchors all come from the cache.
  const night2 = join(dir, 'night2', 'audit');
  const second = await audit(corpus, night2, ['--cache', cache]);
  assert.equal(second.counts.scored, RECORDS);
  // Same anchors, so the gradients' stored projections serve the scores: no gradient is read back.
  assert.deepEqual(second.cache, { uri: cache, namespace: corpusNamespace, hits: RECORDS - 2, misses: 2, anchor_hits: anchors, anchor_misses: 0, gradient_reads: 0 });

  // The cache gained one corpus segment, holding exactly the changed records' new ids.
  const newIds = (await duckRows(`select id from read_parquet('${join(night2, 'scores.parquet')}') where "row" in (${changedRows.join(',')}) order by id`)).map((r) => r.id);
  const indexes = readdirSync(indexDir).sort();
  assert.equal(indexes.length, night1Segments + 1);
  const latest = JSON.parse(readFileSync(join(indexDir, indexes.at(-1)!), 'utf8')) as { ids: string[] };
  assert.deepEqual([...latest.ids].sort(), newIds);

  // A cold audit of the changed corpus, without the cache, gives the same scores and top-k.
  const cold = join(dir, 'cold');
  const third = await audit(corpus, cold, []);
  assert.equal(third.cache, undefined);
  assertClose(await scoresOf(night2), await scoresOf(cold), 'scores.parquet');
  const top2 = await topOf(night2);
  assertClose(top2, await topOf(cold), 'topk.parquet');

  // The diff against night 1: what entered and left the top-k, and how the rest moved.
  const diff = second.diff!;
  const before = new Set(top1.map((r) => r.id));
  const after = new Set(top2.map((r) => r.id));
  assert.deepEqual(diff.entered.map((e) => e.id).sort(), [...after].filter((id) => !before.has(id)).sort());
  assert.deepEqual(diff.left.map((e) => e.id).sort(), [...before].filter((id) => !after.has(id)).sort());
  for (const gone of [top1[0]!, top1[1]!]) {
    assert.deepEqual(diff.left.find((e) => e.id === gone.id), { id: gone.id, previous_rank: gone.rank, previous_score: gone.score, score: null });
  }
  for (const entered of diff.entered) {
    const row = top2.find((r) => r.id === entered.id)!;
    assert.deepEqual(entered, { id: row.id, rank: row.rank, score: row.score });
  }
  assert.equal(diff.stayed.count, K - diff.entered.length);
  assert.equal(diff.stayed.max_abs_shift, 0); // unchanged records, same features: same scores
  assert.equal(diff.previous.same_features, true);

  // Night 3, new anchors (the harmful set loses its first record): the stored projections are onto
  // other targets, so the cached gradients are read back, and the scores equal a cold audit's.
  const harmful = join(dir, 'harmful.jsonl');
  writeFileSync(harmful, readFileSync(DEMO_INPUTS.harmful, 'utf8').split('\n').filter((l) => l.trim()).slice(1).join('\n') + '\n');
  const anchorFlags = ['--harmful', harmful, ...DEMO_INPUTS.safe.flatMap((s) => ['--safe', s])];
  const night3 = join(dir, 'night3', 'audit');
  const fourth = await audit(corpus, night3, ['--cache', cache, ...anchorFlags]);
  assert.equal(fourth.cache!.misses, 0);
  assert.equal(fourth.cache!.anchor_misses, 0);
  assert.ok(fourth.cache!.gradient_reads > 0, `gradient reads: ${fourth.cache!.gradient_reads}`);
  const coldNewAnchors = join(dir, 'cold-new-anchors');
  await audit(corpus, coldNewAnchors, anchorFlags);
  assertClose(await scoresOf(night3), await scoresOf(coldNewAnchors), 'scores.parquet with new anchors');

  // `cache stats` and `cache prune`: both namespaces (corpus and anchors) are in use by the run name.
  const stats = await runCli(['cache', 'stats', cache, '--json'], env);
  assert.equal(stats.code, 0, stats.stderr);
  const inventory = JSON.parse(stats.stdout) as { namespaces: Array<{ namespace: string; kind: string; used_by: string[] }>; runs: Array<{ name: string }> };
  assert.deepEqual(inventory.namespaces.map((ns) => [ns.kind, ns.used_by]).sort(), [['anchors', ['audit']], ['corpus', ['audit']]]);
  assert.ok(inventory.namespaces.some((ns) => ns.namespace === corpusNamespace));
  assert.deepEqual(inventory.runs.map((r) => r.name), ['audit']);
  const prune = await runCli(['cache', 'prune', cache, '--min-age-hours', '0', '--json'], env);
  assert.equal(prune.code, 0, prune.stderr);
  assert.deepEqual((JSON.parse(prune.stdout) as { removed: unknown[] }).removed, []);
});

