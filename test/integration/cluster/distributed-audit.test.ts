/**
 * The distributed audit against real servers: nats-server (JetStream, file storage) and s3rver,
 * with the corpus, anchors and model in S3, and real coordinator/worker/reducer processes.
 * Every run must give the same top-k as `safesift audit` on the same inputs, faults or not.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { headers } from '@nats-io/transport-node';
import { batchSubject } from '../../../shared/src/bus/topology.ts';
import { BATCH_HEADERS, batchMessageId } from '../../../shared/src/cluster/bus-messages.ts';
import { readCorpusWith } from '../../../shared/src/corpus/read-corpus.ts';
import { encodeRecordBatch } from '../../../shared/src/distributed/record-batch-codec.ts';
import { storageByteSources } from '../../../shared/src/storage/byte-sources.ts';
import { readJsonLines } from '../../helpers/fixtures.ts';
import { ANCHOR_FILES, GSM8K_SAMPLE } from '../../helpers/test-data.ts';
import { TEST_MODEL_NAME, testModel } from '../../helpers/test-model.ts';
import { ClusterHarness } from '../../helpers/cluster-harness.ts';
import { duckRows, runCli } from '../../helpers/run-cli.ts';

const RECORDS = 36;
const K = 10;
let cluster: ClusterHarness;
let inputs: { data: string; model: string; harmful: string; safe1: string; safe2: string };
let localModel: string;
let baseline: { top: Row[]; scored: number };

type Row = { id: string; score: number };

const auditFlags = () => ['--model', inputs.model, '--data', inputs.data, '--harmful', inputs.harmful, '--safe', inputs.safe1, '--safe', inputs.safe2, '--k', String(K)];

before(async () => {
  cluster = await ClusterHarness.start();
  const corpus = join(cluster.dir, 'gsm8k.jsonl');
  writeFileSync(corpus, readJsonLines(GSM8K_SAMPLE, RECORDS).map((r) => JSON.stringify(r)).join('\n') + '\n');
  localModel = await testModel();
  inputs = {
    data: await cluster.uploadFile(corpus, 'data/gsm8k.jsonl'),
    model: await cluster.uploadDir(localModel, 'models/test-llama'),
    harmful: await cluster.uploadFile(ANCHOR_FILES.harmful, 'anchors/harmful.jsonl'),
    safe1: await cluster.uploadFile(ANCHOR_FILES.safe1, 'anchors/safe1.jsonl'),
    safe2: await cluster.uploadFile(ANCHOR_FILES.safe2, 'anchors/safe2.jsonl'),
  };
  // The local audit of the same files: what every distributed run must reproduce.
  const localOut = join(cluster.dir, 'local');
  const local = await runCli(['audit', '--model', localModel, '--data', corpus, '--harmful', ANCHOR_FILES.harmful, '--safe', ANCHOR_FILES.safe1, '--safe', ANCHOR_FILES.safe2, '--k', String(K), '--out', localOut, '--json'], cluster.env);
  assert.equal(local.code, 0, local.stderr);
  baseline = { top: await topRows(localOut), scored: (JSON.parse(local.stdout) as { counts: { scored: number } }).counts.scored };
  assert.equal(baseline.scored, RECORDS);
});

// Each test starts its own processes; none may outlive it, pass or fail.
afterEach(async () => {
  await cluster?.stopProcesses();
});

after(async () => {
  await cluster?.dispose();
});

async function topRows(dir: string): Promise<Row[]> {
  return (await duckRows(`select id, score from '${join(dir, 'topk.parquet')}' order by rank`)) as Row[];
}

async function assertMatchesBaseline(dir: string): Promise<void> {
  const top = await topRows(dir);
  assert.deepEqual(top.map((r) => r.id), baseline.top.map((r) => r.id));
  top.forEach((r, i) => assert.ok(Math.abs(r.score - baseline.top[i]!.score) <= 1e-6, `rank ${i + 1}: ${r.score} vs ${baseline.top[i]!.score}`));
  const [count] = await duckRows(`select count(*)::INTEGER as n, count(distinct id)::INTEGER as ids from '${join(dir, 'scores', '*.parquet')}'`);
  assert.equal(count!.n, baseline.scored, 'every example scored exactly once');
}

/**
 * Publishes batch `batch` of job `id` as bytes that are no Arrow batch, before the coordinator
 * runs: its own publish of that batch then carries the same message id and is deduplicated.
 */
async function publishCorruptBatch(id: string, batch: number): Promise<void> {
  const conn = await cluster.connection();
  const hdrs = headers();
  hdrs.set(BATCH_HEADERS.job, id);
  hdrs.set(BATCH_HEADERS.batch, String(batch));
  await conn.js.publish(batchSubject(id), new TextEncoder().encode('not an arrow batch'), { msgID: batchMessageId(id, batch), headers: hdrs });
}

async function submit(name: string, extra: string[] = []): Promise<string> {
  const result = await cluster.cli(['submit', ...auditFlags(), '--out', cluster.uri(`out/${name}`), '--name', name, '--batch-examples', '4', '--json', ...extra]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

test('a distributed audit (inputs and model in S3, 2 workers) gives the local audit\'s top-k, and status shows progress', async () => {
  const reducer = cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1']);
  const workers = [cluster.spawn('worker', ['--threads', '1', '--name', 'w1']), cluster.spawn('worker', ['--threads', '1', '--name', 'w2'])];
  const id = await submit('clean');
  await workers[0]!.waitFor('batch scored');
  const running = await cluster.cli(['status', id, '--json']);
  assert.equal(running.code, 0, running.stderr);
  const progress = JSON.parse(running.stdout) as { state: string; batches: { published: number; total: number | null }; records: { read: number } };
  assert.ok(progress.batches.published > 0 && progress.records.read > 0, running.stdout);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  await reducer.waitFor('job complete');
  // Both workers took part.
  const byWorker = new Set(workers.filter((w) => w.lines.some((l) => l.msg === 'batch scored')).map((w) => w.role + w.child.pid));
  assert.equal(byWorker.size, 2);
  const dir = await cluster.download(id, 'clean');
  await assertMatchesBaseline(dir);
  const listed = await cluster.cli(['jobs', '--json']);
  assert.ok((JSON.parse(listed.stdout) as { id: string }[]).some((j) => j.id === id));
});

test('download refuses an output key that is not a safe relative path: exit code 4 naming the key, the other files kept', async () => {
  cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1']);
  cluster.spawn('worker', ['--threads', '1']);
  const id = await submit('hostile');
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  // Anyone with write access to the bucket can add such a key; the store's own put() refuses to.
  // (s3rver keeps objects in files, so a '..' key would not survive there: the unit test covers it.)
  const hostile = 'out/hostile/evil\\..\\..\\escape.txt';
  await cluster.s3.client.send(new PutObjectCommand({ Bucket: cluster.bucket, Key: hostile, Body: 'pwned' }));
  const to = join(cluster.dir, 'downloads', 'hostile');
  const result = await cluster.cli(['download', id, '--to', to, '--json']);
  assert.equal(result.code, 4, result.stderr);
  assert.ok(result.stderr.includes(`object key ${JSON.stringify(hostile)} in s3://${cluster.bucket}: refused: it contains a backslash`), result.stderr);
  assert.equal((JSON.parse(result.stdout) as { error: { exit_code: number } }).error.exit_code, 4);
  // The job's real outputs were still downloaded, and nothing else.
  assert.ok(existsSync(join(to, 'topk.parquet')) && existsSync(join(to, 'summary.json')));
  assert.ok(!readdirSync(to).some((name) => name.includes('escape')), readdirSync(to).join(', '));
  assert.ok(!existsSync(join(cluster.dir, 'escape.txt')) && !existsSync(join(cluster.dir, 'downloads', 'escape.txt')));
});

test('a worker killed with SIGKILL mid-batch: the batch is redelivered and the output is unchanged', async () => {
  cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1']);
  const victim = cluster.spawn('worker', ['--threads', '1']);
  const id = await submit('worker-kill');
  const started = await victim.waitFor('batch started');
  await victim.stop('SIGKILL');
  const rescuer = cluster.spawn('worker', ['--threads', '1']);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  // The batch in the killed worker's hands came back to the other one: a real redelivery.
  const again = rescuer.lines.find((l) => l.msg === 'batch started' && l.batch === started.batch);
  assert.ok(again, `batch ${String(started.batch)} was never redelivered`);
  assert.ok(Number(again.deliveries) >= 2, `delivery count ${String(again.deliveries)}`);
  await assertMatchesBaseline(await cluster.download(id, 'worker-kill'));
});

test('nats-server killed (SIGKILL) mid-job and restarted from its store: the job completes with the same output', async () => {
  cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1']);
  const worker = cluster.spawn('worker', ['--threads', '1']);
  const id = await submit('nats-restart');
  await worker.waitFor('batch scored');
  const dead = new Promise((resolve) => cluster.nats.process.once('exit', resolve));
  cluster.nats.kill(); // no clean shutdown: JetStream recovers from what reached its files
  await dead;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await cluster.nats.restart();
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  await assertMatchesBaseline(await cluster.download(id, 'nats-restart'));
});

test('the coordinator killed mid-publishing and restarted: nothing is published twice and the output is unchanged', async () => {
  cluster.spawn('reducer');
  // Two batches ahead of the workers at most: publishing lasts as long as the job.
  const first = cluster.spawn('coordinator', ['--threads', '1', '--max-pending-batches', '1']);
  cluster.spawn('worker', ['--threads', '1']);
  const id = await submit('coordinator-kill');
  const conn = await cluster.connection();
  for (;;) {
    const plan = await conn.jobs.get(id, 'plan');
    if (plan && plan.published >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await first.stop('SIGKILL');
  const planBefore = await conn.jobs.get(id, 'plan');
  assert.equal(planBefore?.state, 'planning', 'killed before publishing finished');
  cluster.spawn('coordinator', ['--threads', '1', '--max-pending-batches', '1']);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  assert.equal(status.batches.total, Math.ceil(RECORDS / 4));
  await assertMatchesBaseline(await cluster.download(id, 'coordinator-kill'));
});

test('a batch delivered twice counts once', async () => {
  cluster.spawn('reducer');
  const id = await submit('twice');
  // Before the coordinator runs: an extra copy of batch 0 (same records, another message id, so
  // JetStream cannot dedupe it) goes first; the coordinator's own batch 0 follows.
  const conn = await cluster.connection();
  const items = [];
  for await (const item of readCorpusWith(storageByteSources(() => cluster.s3.client), inputs.data, { limit: 4 })) items.push(item);
  const hdrs = headers();
  hdrs.set(BATCH_HEADERS.job, id);
  hdrs.set(BATCH_HEADERS.batch, '0');
  await conn.js.publish(batchSubject(id), encodeRecordBatch({ jobId: id, batch: 0, items }), { msgID: `${id}:extra-copy`, headers: hdrs });
  cluster.spawn('coordinator', ['--threads', '1']);
  const worker = cluster.spawn('worker', ['--threads', '1']);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  const zeroRuns = worker.lines.filter((l) => l.msg === 'batch scored' && l.batch === 0).length;
  assert.equal(zeroRuns, 2, 'batch 0 was scored twice');
  await assertMatchesBaseline(await cluster.download(id, 'twice'));
});

test('bad input files in S3 and a corrupted batch: bad records reported, good ones scored, the dead letter reported', async () => {
  const good = (n: number) => JSON.stringify({ instruction: `Name fact ${n}.`, input: '', output: `Fact ${n} is true.` });
  const lines = [good(0), '{"instruction": broken', good(1), JSON.stringify({ instruction: 'no answer', input: '' }), good(2), JSON.stringify({ instruction: 'x', input: '', output: '' }), good(3), good(4), good(5), good(6), good(7), good(8)];
  const bad = await cluster.uploadText(lines.join('\n') + '\n', 'data/bad.jsonl');
  const missing = cluster.uri('data/missing.jsonl');
  cluster.spawn('reducer');
  const worker = cluster.spawn('worker', ['--threads', '1']);
  const result = await cluster.cli(['submit', '--model', inputs.model, '--data', bad, '--data', missing, '--harmful', inputs.harmful, '--safe', inputs.safe1, '--k', '3', '--out', cluster.uri('out/bad'), '--batch-examples', '3', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const id = (JSON.parse(result.stdout) as { id: string }).id;
  // Batch 2 (records 6..8) arrives corrupted.
  await publishCorruptBatch(id, 2);
  cluster.spawn('coordinator', ['--threads', '1']);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  assert.equal(status.batches.deadLetters, 1);
  await worker.waitFor('batch dead-lettered');
  const dir = await cluster.download(id, 'bad');
  const summary = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'summary.json'), 'utf8')) as { counts: Record<string, number>; job: { dead_letters: { batch: number; reason: string }[] } };
  assert.deepEqual(summary.job.dead_letters.map((d) => d.batch), [2]);
  assert.match(summary.job.dead_letters[0]!.reason, /corrupt batch/);
  const errors = (await import('node:fs')).readFileSync(join(dir, 'errors.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { source: string; row: number; reason: string });
  // Rows 1, 3 and 5 of bad.jsonl; the missing file (row -1); the dead batch.
  assert.deepEqual(errors.filter((e) => e.source === bad).map((e) => e.row).sort(), [1, 3, 5]);
  assert.ok(errors.some((e) => e.source === missing && e.row === -1 && /missing\.jsonl/.test(e.reason)), JSON.stringify(errors));
  assert.ok(errors.some((e) => e.source === 'batch:2'));
  // Good records outside the dead batch are all scored: rows 0,2,4 (batches 0,1) and 10,11 (batch 3)... by id count.
  const scored = await duckRows(`select "row" from '${join(dir, 'scores', '*.parquet')}' order by "row"`);
  assert.deepEqual(scored.map((r) => Number(r.row)), [0, 2, 4, 9, 10, 11]);
});

test('a job spec file (YAML) submits the same audit; SIGTERM lets a worker finish its batch and exit cleanly', async () => {
  // Its own prefix: other tests put more files under data/.
  await cluster.uploadFile(join(cluster.dir, 'gsm8k.jsonl'), 'nightly/part-0.jsonl');
  const spec = await cluster.writeLocal('nightly.yaml', [
    'name: nightly-spec',
    `model: ${inputs.model}`,
    'data:',
    `  - ${cluster.uri('nightly/*.jsonl')}`,
    `harmful: [${inputs.harmful}]`,
    `safe: [${inputs.safe1}, ${inputs.safe2}]`,
    `k: ${K}`,
    'batch-examples: 4',
    `out: ${cluster.uri('out/spec')}`,
  ].join('\n'));
  cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1']);
  const draining = cluster.spawn('worker', ['--threads', '1']);
  const submitted = await cluster.cli(['submit', spec, '--json']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = (JSON.parse(submitted.stdout) as { id: string }).id;
  assert.match(id, /^nightly-spec-/);
  const started = await draining.waitFor('batch started');
  draining.child.kill('SIGTERM');
  assert.equal(await draining.exited, 0, draining.tail());
  // The batch in hand was finished and acked, not abandoned.
  assert.ok(draining.lines.some((l) => l.msg === 'batch scored' && l.batch === started.batch), draining.tail());
  cluster.spawn('worker', ['--threads', '1']);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  await assertMatchesBaseline(await cluster.download(id, 'spec'));
});

test('nightly jobs with a feature cache in S3: the second night takes every feature from the cache and reports the counts and the top-k diff', async () => {
  interface NightSummary {
    cache: { uri: string; namespace: string; hits: number; misses: number; anchor_hits: number; anchor_misses: number; gradient_reads: number };
    diff: { entered: unknown[]; left: unknown[]; stayed: { count: number; max_abs_shift: number | null }; previous: { same_features: boolean } } | null;
  }
  cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1']);
  cluster.spawn('worker', ['--threads', '1']);
  const cache = cluster.uri('feature-cache');
  const night = async (out: string): Promise<NightSummary> => {
    const submitted = await cluster.cli(['submit', ...auditFlags(), '--out', cluster.uri(`out/${out}`), '--name', 'nightly-cache', '--cache', cache, '--batch-examples', '4', '--json']);
    assert.equal(submitted.code, 0, submitted.stderr);
    const id = (JSON.parse(submitted.stdout) as { id: string }).id;
    const status = await cluster.waitForJob(id);
    assert.equal(status.state, 'complete', JSON.stringify(status));
    const dir = await cluster.download(id, out);
    await assertMatchesBaseline(dir);
    return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as NightSummary;
  };
  const anchors = 30; // three sets of ten
  const first = await night('night-1');
  assert.deepEqual({ ...first.cache, namespace: '' }, { uri: cache, namespace: '', hits: 0, misses: RECORDS, anchor_hits: 0, anchor_misses: anchors, gradient_reads: 0 });
  assert.equal(first.diff, null);

  const second = await night('night-2');
  assert.deepEqual(second.cache, { uri: cache, namespace: first.cache.namespace, hits: RECORDS, misses: 0, anchor_hits: anchors, anchor_misses: 0, gradient_reads: 0 });
  assert.ok(second.diff !== null);
  assert.deepEqual([second.diff.entered, second.diff.left], [[], []]);
  assert.deepEqual(second.diff.stayed, { ...second.diff.stayed, count: K, max_abs_shift: 0 });
  assert.equal(second.diff.previous.same_features, true);
});

test('a coordinator with --allowed-locations fails jobs naming a local path or S3 outside its prefixes, naming the field; allowed jobs run', async () => {
  cluster.spawn('reducer');
  cluster.spawn('coordinator', ['--threads', '1', '--allowed-locations', `${cluster.uri('data')},${cluster.uri('models')},${cluster.uri('anchors')},${cluster.uri('out')}`]);
  cluster.spawn('worker', ['--threads', '1']);
  const local = await cluster.cli(['submit', ...auditFlags().map((f) => (f === inputs.model ? localModel : f)), '--out', cluster.uri('out/local-model'), '--json']);
  assert.equal(local.code, 0, local.stderr);
  const refusedLocal = await cluster.waitForJob((JSON.parse(local.stdout) as { id: string }).id);
  assert.equal(refusedLocal.state, 'failed');
  const refusal = new RegExp(`model .*${TEST_MODEL_NAME} refused: (not under an allowed folder|cluster services take no local paths)`);
  assert.match(JSON.stringify(refusedLocal), refusal);
  const outside = await cluster.cli(['submit', ...auditFlags(), '--out', cluster.uri('elsewhere/run'), '--json']);
  const refusedOut = await cluster.waitForJob((JSON.parse(outside.stdout) as { id: string }).id);
  assert.equal(refusedOut.state, 'failed');
  assert.match(JSON.stringify(refusedOut), /out s3:\/\/[^ ]+\/elsewhere\/run refused: not under an allowed S3 prefix/);
  const allowed = await submit('allowed');
  assert.equal((await cluster.waitForJob(allowed)).state, 'complete');
});

test('a job whose every batch is dead-lettered ends failed, not complete, and its summary says why', async () => {
  const small = await cluster.uploadText([0, 1, 2].map((n) => JSON.stringify({ instruction: `Name fact ${n}.`, input: '', output: `Fact ${n} is true.` })).join('\n') + '\n', 'data/small.jsonl');
  cluster.spawn('reducer');
  const worker = cluster.spawn('worker', ['--threads', '1']);
  const result = await cluster.cli(['submit', '--model', inputs.model, '--data', small, '--harmful', inputs.harmful, '--safe', inputs.safe1, '--k', '3', '--out', cluster.uri('out/all-dead'), '--batch-examples', '8', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const id = (JSON.parse(result.stdout) as { id: string }).id;
  // The job's only batch arrives corrupted.
  await publishCorruptBatch(id, 0);
  cluster.spawn('coordinator', ['--threads', '1']);
  const status = await cluster.waitForJob(id);
  await worker.waitFor('batch dead-lettered');
  assert.equal(status.state, 'failed', JSON.stringify(status));
  assert.match(JSON.stringify(status), /every batch \(1\) was dead-lettered: corrupt batch/);
  const dir = await cluster.download(id, 'all-dead');
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { status: string; error?: string; counts: { scored: number } };
  assert.deepEqual([summary.status, summary.counts.scored], ['failed', 0]);
  assert.match(summary.error ?? '', /every batch \(1\) was dead-lettered/);
});

test('two reducer replicas share the result notices: the job completes once, written by one of them, with the same output', async () => {
  const reducers = [cluster.spawn('reducer'), cluster.spawn('reducer')];
  cluster.spawn('coordinator', ['--threads', '1']);
  cluster.spawn('worker', ['--threads', '1']);
  const id = await submit('two-reducers');
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  const writers = reducers.filter((r) => r.lines.some((l) => l.msg === 'every batch accounted for: writing outputs' && l.job === id));
  // How the notices were shared (the work queue decides; usually both get some).
  const accounted = reducers.map((r) => r.lines.filter((l) => l.msg === 'batch accounted' && l.job === id).length);
  assert.equal(writers.length, 1, `exactly one replica wrote the outputs (notices per replica: ${accounted.join(', ')})`);
  await assertMatchesBaseline(await cluster.download(id, 'two-reducers'));
});

test('an input changed while its job was being planned: the restarted coordinator fails the job rather than mix two versions', async () => {
  const text = readFileSync(join(cluster.dir, 'gsm8k.jsonl'), 'utf8');
  const changing = await cluster.uploadText(text, 'data/changing.jsonl');
  cluster.spawn('reducer');
  const first = cluster.spawn('coordinator', ['--threads', '1', '--max-pending-batches', '1']);
  cluster.spawn('worker', ['--threads', '1']);
  const flags = auditFlags().map((f) => (f === inputs.data ? changing : f));
  const submitted = await cluster.cli(['submit', ...flags, '--out', cluster.uri('out/changing'), '--batch-examples', '4', '--json']);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = (JSON.parse(submitted.stdout) as { id: string }).id;
  const conn = await cluster.connection();
  for (;;) {
    const plan = await conn.jobs.get(id, 'plan');
    if (plan && plan.published >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await first.stop('SIGKILL');
  assert.ok((await conn.jobs.get(id, 'plan'))?.inputVersions?.[changing], 'the version was pinned at planning');
  await cluster.uploadText(text.split('\n').reverse().join('\n'), 'data/changing.jsonl');
  cluster.spawn('coordinator', ['--threads', '1', '--max-pending-batches', '1']);
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'failed', JSON.stringify(status));
  assert.match(JSON.stringify(status), /input s3:\/\/[^ ]+changing\.jsonl changed since the job was planned .*resubmit the job/);
});
