/**
 * Storage faults against real processes: services reach s3rver through a proxy that answers
 * chosen requests with 503s, as an overloaded store does. Each job is compared with the local
 * audit of the same inputs (the project's demo corpus and anchors, the `tiny` model).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, test } from 'node:test';
import { STREAMS } from '../../../shared/src/bus/topology.ts';
import { DEMO_INPUTS } from '../../../shared/src/audit/demo-inputs.ts';
import { ClusterHarness } from '../../helpers/cluster-harness.ts';
import { duckRows, runCli } from '../../helpers/run-cli.ts';
import { startS3FaultProxy, type S3FaultProxy } from '../../helpers/s3-fault-proxy.ts';

const K = 10;
const RECORDS = 60;
type Row = { id: string; row: number; score: number };
type ScoreRow = { id: string; row: number; rep_score: number; grad_score: number };

/** Default max_deliver (8): what a 30 s outage must fit in. */
let patient: ClusterHarness;
/** max_deliver 4, so exhausting it takes seconds. */
let impatient: ClusterHarness;
let proxy: S3FaultProxy | undefined;
/** The local audit's full ranking (k = every record) and score table. */
let baseline: { ranking: Row[]; scores: Map<string, ScoreRow> };

const inputsOf = async (cluster: ClusterHarness) => ({
  data: await cluster.uploadFile(DEMO_INPUTS.corpus, 'data/corpus.jsonl'),
  harmful: await cluster.uploadFile(DEMO_INPUTS.harmful, 'anchors/harmful.jsonl'),
  safe1: await cluster.uploadFile(DEMO_INPUTS.safe[0], 'anchors/safe1.jsonl'),
  safe2: await cluster.uploadFile(DEMO_INPUTS.safe[1], 'anchors/safe2.jsonl'),
});
let inputs: Record<'patient' | 'impatient', Awaited<ReturnType<typeof inputsOf>>>;

before(async () => {
  [patient, impatient] = await Promise.all([ClusterHarness.start({ maxDeliver: 8 }), ClusterHarness.start({ maxDeliver: 4 })]);
  inputs = { patient: await inputsOf(patient), impatient: await inputsOf(impatient) };
  const localOut = join(patient.dir, 'local');
  const local = await runCli(
    ['audit', '--model', 'tiny', '--data', DEMO_INPUTS.corpus, '--harmful', DEMO_INPUTS.harmful, '--safe', DEMO_INPUTS.safe[0], '--safe', DEMO_INPUTS.safe[1], '--k', String(RECORDS), '--out', localOut, '--json'],
    patient.env,
  );
  assert.equal(local.code, 0, local.stderr);
  const scores = (await duckRows(`select id, row::INTEGER as row, rep_score, grad_score from '${join(localOut, 'scores.parquet')}'`)) as ScoreRow[];
  assert.equal(scores.length, RECORDS);
  baseline = { ranking: (await duckRows(`select id, row::INTEGER as row, score from '${join(localOut, 'topk.parquet')}' order by rank`)) as Row[], scores: new Map(scores.map((s) => [s.id, s])) };
});

afterEach(async () => {
  await Promise.all([patient?.stopProcesses(), impatient?.stopProcesses()]);
  await proxy?.stop();
  proxy = undefined;
});

after(async () => {
  await Promise.all([patient?.dispose(), impatient?.dispose()]);
});

async function submit(cluster: ClusterHarness, name: string, batchExamples: number): Promise<string> {
  const i = cluster === patient ? inputs.patient : inputs.impatient;
  const result = await cluster.cli([
    'submit', '--model', 'tiny', '--data', i.data, '--harmful', i.harmful, '--safe', i.safe1, '--safe', i.safe2,
    '--k', String(K), '--out', cluster.uri(`out/${name}`), '--name', name, '--batch-examples', String(batchExamples), '--json',
  ]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { id: string }).id;
}

/**
 * The job's outputs equal the local audit's, less the records of the batches it lost: the same
 * scores per id, every other record scored once, and the top-k the baseline ranking without them.
 */
async function assertMatchesBaseline(dir: string, lostRows: number[] = []): Promise<void> {
  const lost = new Set(lostRows);
  const scores = (await duckRows(`select id, row::INTEGER as row, rep_score, grad_score from '${join(dir, 'scores', '*.parquet')}'`)) as ScoreRow[];
  assert.equal(scores.length, RECORDS - lost.size, 'every record of a surviving batch scored exactly once');
  assert.equal(new Set(scores.map((s) => s.id)).size, scores.length);
  for (const s of scores) {
    const want = baseline.scores.get(s.id);
    assert.ok(want, `${s.id} is in the local audit`);
    assert.ok(!lost.has(s.row), `row ${s.row} was in a lost batch`);
    assert.ok(Math.abs(s.rep_score - want.rep_score) <= 1e-6 && Math.abs(s.grad_score - want.grad_score) <= 1e-6, `${s.id}: scores differ`);
  }
  const top = (await duckRows(`select id, score from '${join(dir, 'topk.parquet')}' order by rank`)) as Row[];
  const expected = baseline.ranking.filter((r) => !lost.has(r.row)).slice(0, K);
  assert.deepEqual(top.map((r) => r.id), expected.map((r) => r.id));
  top.forEach((r, i) => assert.ok(Math.abs(r.score - expected[i]!.score) <= 1e-6, `rank ${i + 1}: ${r.score} vs ${expected[i]!.score}`));
}

test('30 s of S3 errors mid-job (every request a 503): the services retry and the job ends with the fault-free output', async () => {
  proxy = await startS3FaultProxy(patient.s3.endpoint);
  const viaProxy = { AWS_ENDPOINT_URL: proxy.endpoint };
  const reducer = patient.spawn('reducer', [], viaProxy);
  // A small pending window keeps the coordinator publishing (reading the corpus) through the outage.
  patient.spawn('coordinator', ['--threads', '1', '--max-pending-batches', '2'], viaProxy);
  const worker = patient.spawn('worker', ['--threads', '1'], viaProxy);
  const id = await submit(patient, 'outage', 2);
  await worker.waitFor('batch scored');
  proxy.fail();
  const conn = await patient.connection();
  const during = (await conn.jobs.status(id))!;
  assert.ok(during.state === 'planning' || during.state === 'running', `the outage starts mid-job (${during.state})`);
  assert.ok(during.batches.accounted < RECORDS / 2, JSON.stringify(during.batches));
  await sleep(30_000);
  const faulted = proxy.faulted;
  proxy.heal();

  const status = await patient.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  assert.equal(status.batches.deadLetters, 0);
  await reducer.waitFor('job complete');
  assert.ok(faulted >= 10, `the outage was seen (${faulted} requests refused)`);
  // The worker's batch in hand failed as transient and came back: a real redelivery.
  const failed = worker.lines.filter((l) => l.msg === 'batch failed');
  assert.ok(failed.length > 0 && failed.every((l) => l.permanent === false), worker.tail());
  assert.ok(worker.lines.some((l) => l.msg === 'batch started' && Number(l.deliveries) > 1), 'a batch was redelivered');
  await assertMatchesBaseline(await patient.download(id, 'outage'));
});

test('a batch that exhausts max_deliver while no reducer runs: a reducer started later dead-letters it and the job completes without it', async () => {
  proxy = await startS3FaultProxy(impatient.s3.endpoint);
  // Batch 3 (rows 12-15 with 4 examples a batch) can never store its result.
  proxy.fail((req) => req.method !== 'GET' && req.method !== 'HEAD' && req.url.includes('batch-000003.arrow'));
  const viaProxy = { AWS_ENDPOINT_URL: proxy.endpoint };
  impatient.spawn('coordinator', ['--threads', '1'], viaProxy);
  const worker = impatient.spawn('worker', ['--threads', '1'], viaProxy);
  const id = await submit(impatient, 'poisoned', 4);
  const conn = await impatient.connection();
  const lastTry = await worker.waitFor('batch failed', 60_000, (l) => Number(l.deliveries) === 4);
  assert.match(String(lastTry.err), /ServiceUnavailable|503/);
  // The server's advisory is kept while nobody listens, and the other batches are done.
  const waitUntil = async (what: string, check: () => Promise<boolean>) => {
    const deadline = Date.now() + 30_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  };
  await waitUntil('the advisory to be kept', async () => (await conn.jsm.streams.info(STREAMS.deadLetters)).state.messages === 1);
  await waitUntil('the other batches', async () => worker.lines.filter((l) => l.msg === 'batch scored').length === RECORDS / 4 - 1);
  assert.equal((await conn.jobs.status(id))?.state, 'running');

  const reducer = impatient.spawn('reducer');
  const status = await impatient.waitForJob(id, 60_000);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  assert.equal(status.batches.deadLetters, 1);
  await reducer.waitFor('batch dead-lettered');
  // The job can complete a moment before the reducer deletes the batch and acks the advisory.
  await waitUntil('the advisory to be consumed', async () => (await conn.jsm.streams.info(STREAMS.deadLetters)).state.messages === 0);
  await waitUntil('the dead batch to leave the queue', async () => (await conn.jsm.streams.info(STREAMS.batches)).state.messages === 0);
  await assertMatchesBaseline(await impatient.download(id, 'poisoned'), [12, 13, 14, 15]);
});

test('a job the coordinator cannot plan within max_deliver (its corpus answers 503s) ends failed with the last error, and status showed the retries', async () => {
  proxy = await startS3FaultProxy(impatient.s3.endpoint);
  proxy.fail((req) => req.url.includes('/data/corpus.jsonl'));
  impatient.spawn('reducer');
  impatient.spawn('coordinator', ['--threads', '1'], { AWS_ENDPOINT_URL: proxy.endpoint });
  const id = await submit(impatient, 'unplannable', 4);
  let retrying = '';
  for (let i = 0; i < 100 && retrying === ''; i++) {
    const shown = await impatient.cli(['status', id]);
    retrying = /retrying: (.*)/.exec(shown.stdout)?.[1] ?? '';
    if (retrying === '') await sleep(200);
  }
  assert.match(retrying, /^delivery \d: .*corpus\.jsonl.*HTTP 503/);
  const status = await impatient.waitForJob(id, 60_000);
  assert.equal(status.state, 'failed', JSON.stringify(status));
  assert.match(status.error ?? '', /^planning failed 4 times \(max_deliver\); last error: delivery 4: .*corpus\.jsonl/);
  assert.equal(status.retrying, null);
  const shown = await impatient.cli(['status', id]);
  assert.match(shown.stdout, /failed/);
});
