import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { exampleId } from '../../../shared/src/corpus/example-id.ts';
import { InputError } from '../../../shared/src/errors.ts';
import { openAuditOutputs } from '../../../shared/src/filter/audit-outputs.ts';
import { fractionCutoff, selectFlagged, type FlagRule } from '../../../shared/src/filter/select-flagged.ts';
import { alpaca, withTempDir, writeFakeAudit, type FakeScore } from './helpers.ts';

const noS3 = () => {
  throw new Error('no S3 in unit tests');
};

// Ten records; scores 0.9, 0.8, …; rows 3 and 4 tie at 0.5 with row 5 (ties go by id).
const contents = alpaca(10);
const grads = [0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.2, 0.1, NaN];
const scores: FakeScore[] = contents.map((content, row) => ({ content, source: 'data/corpus.jsonl', row, grad: grads[row]!, rep: -row }));
const idOf = (row: number) => exampleId(contents[row]!);

async function flaggedRows(dir: string, rule: FlagRule): Promise<number[]> {
  const selection = await selectFlagged(await openAuditOutputs(dir, noS3), rule);
  return contents.map((_, row) => row).filter((row) => selection.flagged.indexOf(idOf(row)) !== undefined);
}

test('fractionCutoff: ceil(F × n) rows, the count-th best score, and how many are strictly above it', () => {
  const s = Float64Array.from([0.5, 0.9, 0.5, 0.1, 0.5, 0.7]);
  assert.deepEqual(fractionCutoff(s, 1 / 6), { count: 1, cutoff: 0.9, above: 0 });
  assert.deepEqual(fractionCutoff(s, 0.5), { count: 3, cutoff: 0.5, above: 2 });
  assert.deepEqual(fractionCutoff(s, 0.6), { count: 4, cutoff: 0.5, above: 2 });
  assert.deepEqual(fractionCutoff(s, 1), { count: 6, cutoff: 0.1, above: 5 });
  assert.equal(fractionCutoff(Float64Array.from({ length: 60 }, (_, i) => i), 0.1).count, 6); // not 7 from 6.000000000000001
  assert.equal(fractionCutoff(new Float64Array(0), 0.5).count, 0);
});

for (const layout of ['local', 'cluster'] as const) {
  test(`each rule flags the right rows (${layout} layout)`, async () => {
    await withTempDir(async (dir) => {
      await writeFakeAudit(dir, scores, { k: 3, layout });
      assert.deepEqual(await flaggedRows(dir, { kind: 'top-k' }), [0, 1, 2]);
      assert.deepEqual(await flaggedRows(dir, { kind: 'threshold', threshold: 0.5 }), [0, 1, 2, 3, 4, 5, 6]);
      assert.deepEqual(await flaggedRows(dir, { kind: 'threshold', threshold: 0.55 }), [0, 1, 2, 3]);
      // 9 rows have a score (the NaN one is null in the table): 0.5 → ceil(4.5) = 5 rows, two of the three tied at 0.5, by id.
      const tied = [4, 5, 6].sort((a, b) => (idOf(a) < idOf(b) ? -1 : 1));
      assert.deepEqual(await flaggedRows(dir, { kind: 'top-fraction', fraction: 0.5 }), [0, 1, 2, 3, ...tied.slice(0, 1)].sort((a, b) => a - b));
      assert.deepEqual(await flaggedRows(dir, { kind: 'top-fraction', fraction: 1 }), [0, 1, 2, 3, 4, 5, 6, 7, 8]);

      const selection = await selectFlagged(await openAuditOutputs(dir, noS3), { kind: 'top-fraction', fraction: 0.5 });
      assert.deepEqual([selection.scoreRows, selection.scoredRows, selection.audited.size], [10, 9, 10]);
      assert.deepEqual(selection.rule, { kind: 'top-fraction', fraction: 0.5, column: 'grad_score', cutoff: 0.5, rows: 5 });
      assert.deepEqual(selection.flagged.entry(idOf(1)), { id: idOf(1), score: 0.8, repScore: -1, gradScore: 0.8, auditSource: 'data/corpus.jsonl', auditRow: 1 });
      // Every row of the score table counts as audited, the NaN one included; nothing else does.
      assert.ok(contents.every((_, row) => selection.audited.has(idOf(row))));
      assert.equal(selection.audited.has(exampleId(alpaca(1, 'other')[0]!)), false);
    });
  });
}

test('cluster parts are found by listing when summary.json does not name them; the rep method ranks by rep_score', async () => {
  await withTempDir(async (dir) => {
    await writeFakeAudit(dir, scores, { k: 2, layout: 'cluster', listParts: false, method: 'rep' });
    const outputs = await openAuditOutputs(dir, noS3);
    assert.deepEqual(outputs.scoreKeys, ['scores/part-000000.parquet', 'scores/part-000001.parquet']);
    assert.equal(outputs.column, 'rep_score');
    assert.deepEqual(await flaggedRows(dir, { kind: 'threshold', threshold: -1 }), [0, 1]);
  });
});

test('a folder that is no finished audit is an InputError naming what is missing', async () => {
  await withTempDir(async (dir) => {
    const fails = async (pattern: RegExp) => {
      await assert.rejects(async () => selectFlagged(await openAuditOutputs(dir, noS3), { kind: 'top-k' }), (err: unknown) => err instanceof InputError && pattern.test(err.message));
    };
    await fails(/summary\.json.*finished audit/);
    await writeFakeAudit(dir, scores, { k: 3 });
    await rm(join(dir, 'topk.parquet'));
    await fails(/topk\.parquet.*--threshold or --top-fraction/);
    await rm(join(dir, 'scores.parquet'));
    await fails(/no score table/);
    await writeFile(join(dir, 'summary.json'), '{"status":"failed","ranking":{"column":"grad_score","k":3}}');
    await fails(/did not complete/);
    await writeFile(join(dir, 'summary.json'), '{"nothing":1}');
    await fails(/not a safesift audit summary/);
  });
});
