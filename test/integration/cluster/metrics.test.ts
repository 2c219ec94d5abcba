/**
 * Metrics and health endpoints of real running services (nats-server, s3rver and the safesift
 * coordinator, worker and reducer as child processes): Prometheus text with the documented names,
 * counts that follow a real job, readiness that follows the NATS connection.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONSUMERS, STREAMS } from '../../../shared/src/bus/topology.ts';
import { METRIC_NAMES } from '../../../shared/src/observability/metrics.ts';
import { ClusterHarness, type ServiceProcess } from '../../helpers/cluster-harness.ts';
import { readJsonLines } from '../../helpers/fixtures.ts';
import { ANCHOR_FLAGS, GSM8K_SAMPLE } from '../../helpers/test-data.ts';
import { testModel } from '../../helpers/test-model.ts';
import { declaredMetrics, sampleValue } from '../../unit/observability/prom-text.ts';

const RECORDS = 8;
const BATCH_EXAMPLES = 4;
let cluster: ClusterHarness;

before(async () => {
  cluster = await ClusterHarness.start();
});

after(async () => {
  await cluster?.dispose();
});

async function portOf(service: ServiceProcess): Promise<number> {
  const line = await service.waitFor('metrics listening');
  assert.equal(typeof line.port, 'number', JSON.stringify(line));
  return line.port as number;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

const statusOf = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(200);
  }
}

test('a running worker, coordinator and reducer serve /metrics, /healthz and /readyz; counts follow a real job', async () => {
  const worker = cluster.spawn('worker', ['--threads', '1', '--metrics-port', '0', '--metrics-host', '127.0.0.1']);
  const coordinator = cluster.spawn('coordinator', ['--threads', '1', '--metrics-port', '0', '--metrics-host', '127.0.0.1']);
  const reducer = cluster.spawn('reducer', ['--metrics-port', '0', '--metrics-host', '127.0.0.1']);
  const [wPort, cPort, rPort] = await Promise.all([portOf(worker), portOf(coordinator), portOf(reducer)]);

  for (const port of [wPort, cPort, rPort]) {
    assert.equal(await statusOf(port, '/healthz'), 200);
    assert.equal(await statusOf(port, '/readyz'), 200, 'connected and the loop running');
  }
  const idle = await scrape(wPort);
  const declared = declaredMetrics(idle);
  for (const name of METRIC_NAMES) assert.ok(declared.has(name), `${name} missing from the worker's /metrics`);
  assert.ok(declared.has('process_resident_memory_bytes'), 'default process metrics');
  assert.equal(sampleValue(idle, 'safesift_batches_total', { service: 'worker', outcome: 'scored' }), 0);
  assert.equal(sampleValue(idle, 'safesift_queue_lag', { stream: STREAMS.batches, consumer: CONSUMERS.workers }), 0);

  const corpus = join(cluster.dir, 'gsm8k.jsonl');
  writeFileSync(corpus, readJsonLines(GSM8K_SAMPLE, RECORDS).map((r) => JSON.stringify(r)).join('\n') + '\n');
  const submitted = await cluster.cli([
    'submit', '--model', await testModel(), '--data', corpus, ...ANCHOR_FLAGS,
    '--k', '3', '--out', join(cluster.dir, 'out'), '--name', 'metrics', '--batch-examples', String(BATCH_EXAMPLES), '--json',
  ]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = (JSON.parse(submitted.stdout) as { id: string }).id;
  const status = await cluster.waitForJob(id);
  assert.equal(status.state, 'complete', JSON.stringify(status));
  await reducer.waitFor('job complete');

  const batches = RECORDS / BATCH_EXAMPLES;
  const w = await scrape(wPort);
  assert.equal(sampleValue(w, 'safesift_batches_total', { service: 'worker', outcome: 'scored' }), batches);
  assert.equal(sampleValue(w, 'safesift_batches_total', { service: 'worker', outcome: 'retried' }), 0);
  assert.equal(sampleValue(w, 'safesift_examples_total', { service: 'worker' }), RECORDS);
  assert.equal(sampleValue(w, 'safesift_batch_duration_seconds_count', { service: 'worker', outcome: 'scored' }), batches);
  assert.ok(sampleValue(w, 'safesift_feature_seconds_total', { service: 'worker', device: 'cpu' })! > 0, 'feature time counted');
  assert.ok(sampleValue(w, 'safesift_examples_per_second', { service: 'worker' })! > 0, 'recent throughput');
  assert.equal(sampleValue(w, 'safesift_queue_lag', { stream: STREAMS.batches, consumer: CONSUMERS.workers }), 0, 'every batch taken and acked');
  assert.equal(sampleValue(w, 'safesift_failures_total', { service: 'worker', kind: 'transient' }), 0);

  const c = await scrape(cPort);
  assert.equal(sampleValue(c, 'safesift_batches_total', { service: 'coordinator', outcome: 'published' }), batches);
  assert.equal(sampleValue(c, 'safesift_jobs_planned_total', { state: 'published' }), 1);
  assert.equal(sampleValue(c, 'safesift_queue_lag', { stream: STREAMS.jobs, consumer: CONSUMERS.coordinator }), 0);

  const r = await scrape(rPort);
  assert.equal(sampleValue(r, 'safesift_batches_total', { service: 'reducer', outcome: 'accounted' }), batches);
  assert.equal(sampleValue(r, 'safesift_jobs_finished_total', { state: 'complete' }), 1);
  assert.equal(sampleValue(r, 'safesift_jobs_finished_total', { state: 'failed' }), 0);

  // Readiness follows the NATS connection; liveness does not (a restart would not bring NATS back).
  await cluster.nats.stop();
  await eventually('worker not ready while NATS is down', async () => (await statusOf(wPort, '/readyz')) === 503);
  assert.equal(await statusOf(wPort, '/healthz'), 200);
  await cluster.nats.restart();
  await eventually('worker ready again after NATS is back', async () => (await statusOf(wPort, '/readyz')) === 200);

  // SIGTERM: the worker drains, closes the endpoint and exits cleanly.
  await worker.stop('SIGTERM');
  assert.equal(await worker.exited, 0, worker.tail());
  await assert.rejects(fetch(`http://127.0.0.1:${wPort}/healthz`));
});

test('without --metrics-port (or $SAFESIFT_METRICS_PORT) no endpoint is opened', async () => {
  const worker = cluster.spawn('worker', ['--threads', '1']);
  await worker.waitFor('worker ready');
  assert.equal(worker.lines.some((l) => l.msg === 'metrics listening'), false);
  await worker.stop('SIGTERM');
});
