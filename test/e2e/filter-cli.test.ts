// `safesift filter` end to end (issue 13, item 3): a real audit of the demo corpus with the built
// CLI (tiny model), then filter runs over its outputs, locally and through a real S3 (s3rver).
import assert from 'node:assert/strict';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import { DEMO } from '../helpers/demo-records.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from '../helpers/s3-server.ts';

const env = { SAFESIFT_CACHE_DIR: tempDir('filter-e2e-cache') };
const K = 10;
const dir = tempDir('filter-e2e');
const corpus = join(dir, 'data', 'corpus.jsonl');
const auditDir = join(dir, 'audit');
/** The corpus's lines with their terminators, in order. */
let lines: string[] = [];
let records: Record<string, string>[] = [];
/** id → row of the audited corpus, and the top-k ids best first. */
let scoreRows: { id: string; row: number; grad_score: number }[] = [];
let topIds: string[] = [];

interface FilterSummary {
  rule: { kind: string; k?: number; rows?: number; cutoff?: number };
  inputs: { source: string; records: number; written: number; flagged: number; not_audited: number; missing_ids: number }[];
  counts: { flagged_records: number; missing_ids: number; not_audited: number; found_ids: number };
  missing: { id: string; audit_row: number }[];
  warnings: string[];
}

const flaggedIds = (out: string) => readFileSync(join(out, 'flagged.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
const rowOf = (id: string) => scoreRows.find((r) => r.id === id)!.row;
const lastLine = (stderr: string) => stderr.trim().split('\n').at(-1) ?? '';

async function filter(args: string[], extraEnv: Record<string, string> = {}): Promise<FilterSummary> {
  const result = await runCli(['filter', ...args, '--json'], { ...env, ...extraEnv });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as FilterSummary;
}

before(async () => {
  const text = readFileSync(join(DEMO, 'corpus.jsonl'), 'utf8');
  mkdirSync(join(dir, 'data'), { recursive: true });
  copyFileSync(join(DEMO, 'corpus.jsonl'), corpus);
  lines = text.split(/(?<=\n)/).filter((l) => l.trim() !== '');
  records = lines.map((l) => JSON.parse(l) as Record<string, string>);
  const audit = await runCli(['audit', '--data', corpus, '--k', String(K), '--out', auditDir, '--json'], env);
  assert.equal(audit.code, 0, audit.stderr);
  scoreRows = (await duckRows(`select id, "row"::int "row", grad_score from read_parquet('${join(auditDir, 'scores.parquet')}')`)) as typeof scoreRows;
  topIds = (await duckRows(`select id from read_parquet('${join(auditDir, 'topk.parquet')}') order by rank`)).map((r) => r.id as string);
  assert.equal(topIds.length, K);
});

test('the default removes the audit\'s top-k: the copy holds the other lines, byte for byte, in order', async () => {
  const out = join(dir, 'out-default');
  const result = await runCli(['filter', '--scores', auditDir, '--data', corpus, '--out', out], env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /flagged 10 ids: the audit's top-10 by grad_score/);
  assert.match(result.stdout, /corpus\.jsonl: 60 records, 10 flagged removed, 50 written/);
  assert.equal(result.stderr, '');

  const flaggedRows = new Set(topIds.map(rowOf));
  const expected = lines.filter((_, row) => !flaggedRows.has(row)).join('');
  const copy = readFileSync(join(out, 'corpus.jsonl'), 'utf8');
  assert.equal(copy.split('\n').filter(Boolean).length, records.length - K);
  assert.equal(Buffer.compare(readFileSync(join(out, 'corpus.jsonl')), Buffer.from(expected)), 0);
  assert.deepEqual(new Set(flaggedIds(out)), new Set(topIds));
  const logged = JSON.parse(readFileSync(join(out, 'flagged.jsonl'), 'utf8').split('\n')[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(logged), ['id', 'source', 'row', 'score', 'rep_score', 'grad_score', 'record']);
  assert.deepEqual(logged.record, records[logged.row as number]);
  const summary = JSON.parse(readFileSync(join(out, 'filter-summary.json'), 'utf8')) as FilterSummary;
  assert.deepEqual(summary.rule, { kind: 'top-k', column: 'grad_score', k: K });
});

test('Parquet and JSON-array copies of the corpus filter to the same rows, in their own formats', async () => {
  const parquet = join(dir, 'formats', 'corpus.parquet');
  const json = join(dir, 'formats', 'corpus.json');
  mkdirSync(join(dir, 'formats'), { recursive: true });
  const table = tableFromArrays({ instruction: records.map((r) => r.instruction!), input: records.map((r) => r.input!), output: records.map((r) => r.output!) });
  const props = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).setMaxRowGroupSize(16).build();
  writeFileSync(parquet, writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), props));
  writeFileSync(json, JSON.stringify(records, null, 2));

  const out = join(dir, 'out-formats');
  const summary = await filter(['--scores', auditDir, '--data', parquet, '--data', json, '--out', out]);
  assert.deepEqual(summary.inputs.map((i) => [i.records, i.flagged, i.written]), [[60, 10, 50], [60, 10, 50]]);
  const flaggedRows = new Set(topIds.map(rowOf));
  const kept = records.filter((_, row) => !flaggedRows.has(row));
  const fromParquet = await duckRows(`select instruction, input, output from read_parquet('${join(out, 'corpus.parquet')}')`);
  assert.deepEqual(fromParquet, kept);
  const schema = (p: string) => duckRows(`select column_name, column_type from (describe select * from read_parquet('${p}'))`);
  assert.deepEqual(await schema(join(out, 'corpus.parquet')), await schema(parquet));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'corpus.json'), 'utf8')), kept);
});

test('--threshold, --top-fraction and --keep-flagged flag what the score table says', async () => {
  const sorted = [...scoreRows].sort((a, b) => b.grad_score - a.grad_score || (a.id < b.id ? -1 : 1));
  const threshold = sorted[19]!.grad_score; // the 20 best (no ties among random-model scores)
  const byThreshold = await filter(['--scores', auditDir, '--data', corpus, '--out', join(dir, 'out-threshold'), '--threshold', String(threshold)]);
  const expected = new Set(scoreRows.filter((r) => r.grad_score >= threshold).map((r) => r.id));
  assert.equal(expected.size, 20);
  assert.deepEqual(new Set(flaggedIds(join(dir, 'out-threshold'))), expected);
  assert.equal(byThreshold.inputs[0]!.written, 40);

  const byFraction = await filter(['--scores', auditDir, '--data', corpus, '--out', join(dir, 'out-fraction'), '--top-fraction', '0.25']);
  assert.deepEqual(new Set(flaggedIds(join(dir, 'out-fraction'))), new Set(sorted.slice(0, 15).map((r) => r.id)));
  assert.equal(byFraction.rule.rows, 15);
  assert.equal(byFraction.inputs[0]!.written, 45);

  const review = join(dir, 'out-review');
  const kept = await filter(['--scores', auditDir, '--data', corpus, '--out', review, '--keep-flagged']);
  const flaggedRows = new Set(topIds.map(rowOf));
  assert.equal(readFileSync(join(review, 'corpus.jsonl'), 'utf8'), lines.filter((_, row) => flaggedRows.has(row)).join(''));
  assert.deepEqual([kept.inputs[0]!.written, kept.inputs[0]!.flagged], [K, K]);
});

test('a corpus changed after the audit: the edited flagged record is reported missing by id, and kept as not audited', async () => {
  const changed = join(dir, 'changed', 'corpus.jsonl');
  mkdirSync(join(dir, 'changed'), { recursive: true });
  const editedRow = rowOf(topIds[0]!);
  const edited = lines.map((l, row) => (row === editedRow ? `${JSON.stringify({ ...records[row], output: `${records[row]!.output} (edited)` })}\n` : l));
  writeFileSync(changed, edited.join(''));
  const out = join(dir, 'out-changed');
  const result = await runCli(['filter', '--scores', auditDir, '--data', changed, '--out', out], env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`warning: 1 flagged id was not found in the inputs.*${topIds[0]}`));
  assert.match(result.stderr, /1 record has no score row/);
  assert.match(result.stdout, /9 flagged removed, 51 written.*1 not audited \(kept\), 1 flagged id missing/);
  const summary = JSON.parse(readFileSync(join(out, 'filter-summary.json'), 'utf8')) as FilterSummary;
  assert.deepEqual([summary.counts.missing_ids, summary.counts.not_audited, summary.counts.flagged_records], [1, 1, 9]);
  assert.deepEqual(summary.missing.map((m) => [m.id, m.audit_row]), [[topIds[0], editedRow]]);
  assert.ok(readFileSync(join(out, 'corpus.jsonl'), 'utf8').includes('(edited)'));
});

test('bad inputs exit 4, a bad --out 5, bad options 2, each with one line', async () => {
  const run = (args: string[]) => runCli(['filter', ...args], env);
  const missing = await run(['--scores', auditDir, '--data', join(dir, 'nope.jsonl'), '--out', join(dir, 'x')]);
  assert.equal(missing.code, 4, missing.stderr);
  assert.match(lastLine(missing.stderr), /nope\.jsonl: no such file: check the --data path/);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
  const noAudit = await run(['--scores', join(dir, 'data'), '--data', corpus, '--out', join(dir, 'x'), '--json']);
  assert.equal(noAudit.code, 4, noAudit.stderr);
  assert.match(lastLine(noAudit.stderr), /summary\.json: no summary\.json: --scores takes the --out folder of a finished audit/);
  assert.equal((JSON.parse(noAudit.stdout) as { error: { exit_code: number } }).error.exit_code, 4);
  const broken = join(dir, 'data', 'broken.json');
  writeFileSync(broken, '{"not": "an array"}');
  const notArray = await run(['--scores', auditDir, '--data', broken, '--out', join(dir, 'x')]);
  assert.equal(notArray.code, 4, notArray.stderr);
  assert.match(lastLine(notArray.stderr), /broken\.json: not a JSON array/);

  const file = join(dir, 'a-file');
  writeFileSync(file, 'keep me');
  const badOut = await run(['--scores', auditDir, '--data', corpus, '--out', file]);
  assert.equal(badOut.code, 5, badOut.stderr);
  assert.match(lastLine(badOut.stderr), /--out .*a-file is a file, not a folder/);
  assert.equal(readFileSync(file, 'utf8'), 'keep me');

  const both = await run(['--scores', auditDir, '--data', corpus, '--out', join(dir, 'x'), '--threshold', '0', '--top-fraction', '0.1']);
  assert.equal(both.code, 2, both.stderr);
  assert.equal(both.stderr.trim().split('\n').length, 1);
  assert.match(both.stderr, /--threshold and --top-fraction cannot be used together/);
  const twins = await run(['--scores', auditDir, '--data', corpus, '--data', join(dir, 'changed', 'corpus.jsonl'), '--out', join(dir, 'x')]);
  assert.equal(twins.code, 2, twins.stderr);
  assert.match(lastLine(twins.stderr), /have the same file name 'corpus\.jsonl'/);
  const overwrite = await run(['--scores', auditDir, '--data', corpus, '--out', join(dir, 'data')]);
  assert.equal(overwrite.code, 2, overwrite.stderr);
  assert.match(lastLine(overwrite.stderr), /would overwrite the input/);
});

let s3: S3TestServer | undefined;
after(async () => {
  await s3?.stop();
});

test('S3 round trip: audit outputs in the cluster layout, inputs and outputs on S3', async () => {
  const bucket = uniqueBucketName('filter');
  s3 = await startS3Server({ buckets: [bucket] });
  const put = (key: string, path: string) => s3!.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: readFileSync(path) }));
  // A cluster job's layout: scores/part-000000.parquet (found by listing), topk.parquet, summary.json.
  await put('runs/job/scores/part-000000.parquet', join(auditDir, 'scores.parquet'));
  await put('runs/job/topk.parquet', join(auditDir, 'topk.parquet'));
  await put('runs/job/summary.json', join(auditDir, 'summary.json'));
  await put('corpus/corpus.jsonl', corpus);
  await put('corpus/corpus.parquet', join(dir, 'formats', 'corpus.parquet'));

  const summary = await filter(['--scores', `s3://${bucket}/runs/job`, '--data', `s3://${bucket}/corpus/corpus.jsonl`, '--data', `s3://${bucket}/corpus/corpus.parquet`, '--out', `s3://${bucket}/filtered/`], s3.env);
  assert.deepEqual(summary.inputs.map((i) => [i.records, i.flagged, i.written]), [[60, 10, 50], [60, 10, 50]]);
  const get = async (key: string) => Buffer.from(await (await s3!.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
  assert.equal(Buffer.compare(await get('filtered/corpus.jsonl'), readFileSync(join(dir, 'out-default', 'corpus.jsonl'))), 0);
  const local = join(dir, 'from-s3.parquet');
  writeFileSync(local, await get('filtered/corpus.parquet'));
  assert.deepEqual(await duckRows(`select * from read_parquet('${local}')`), await duckRows(`select * from read_parquet('${join(dir, 'out-formats', 'corpus.parquet')}')`));
  assert.equal((await get('filtered/flagged.jsonl')).toString().trim().split('\n').length, 2 * K);
  assert.equal((JSON.parse((await get('filtered/filter-summary.json')).toString()) as { status: string }).status, 'complete');
});
