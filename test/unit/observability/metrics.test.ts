import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { batchSubject, CONSUMERS, ensureTopology, STREAMS } from '../../../shared/src/bus/topology.ts';
import { resolveMetricsEndpoint } from '../../../shared/src/observability/metrics-endpoint.ts';
import { createServiceMetrics, processMetrics } from '../../../shared/src/observability/metrics.ts';
import { RateWindow } from '../../../shared/src/observability/rate-window.ts';
import { startNatsServer, type NatsTestServer } from '../../helpers/nats-server.ts';
import { sampleValue } from './prom-text.ts';

let nats: NatsTestServer;
let nc: NatsConnection;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  await ensureTopology(nc, { ackWaitMs: 30_000 });
});

after(async () => {
  await nc?.close();
  await nats?.dispose();
});

test('a worker counts batches by outcome, examples, failures and feature time; its own series start at 0', async () => {
  const m = createServiceMetrics('worker');
  const before = await m.metrics();
  for (const outcome of ['scored', 'dead_letter', 'retried', 'skipped']) assert.equal(sampleValue(before, 'safesift_batches_total', { service: 'worker', outcome }), 0, outcome);
  assert.equal(sampleValue(before, 'safesift_failures_total', { service: 'worker', kind: 'transient' }), 0);
  assert.equal(sampleValue(before, 'safesift_batches_total', { service: 'worker', outcome: 'published' }), undefined, 'not a worker outcome');

  m.batch('scored', 0.3);
  m.batch('scored', 1.7);
  m.batch('retried', 0.01);
  m.failure('transient');
  m.failure('permanent');
  m.failure('permanent');
  m.examples(4);
  m.examples(6);
  m.examples(0);
  m.featureSeconds(1.25);
  m.featureSeconds(0.75, 'cpu');
  m.featureSeconds(2, 'gpu');
  const text = await m.metrics();
  assert.equal(sampleValue(text, 'safesift_batches_total', { service: 'worker', outcome: 'scored' }), 2);
  assert.equal(sampleValue(text, 'safesift_batches_total', { service: 'worker', outcome: 'retried' }), 1);
  assert.equal(sampleValue(text, 'safesift_failures_total', { service: 'worker', kind: 'permanent' }), 2);
  assert.equal(sampleValue(text, 'safesift_failures_total', { service: 'worker', kind: 'transient' }), 1);
  assert.equal(sampleValue(text, 'safesift_examples_total', { service: 'worker' }), 10);
  assert.equal(sampleValue(text, 'safesift_feature_seconds_total', { service: 'worker', device: 'cpu' }), 2);
  assert.equal(sampleValue(text, 'safesift_feature_seconds_total', { service: 'worker', device: 'gpu' }), 2);
  // histogram: both scored batches under le=2.5, only the first under le=0.5
  assert.equal(sampleValue(text, 'safesift_batch_duration_seconds_count', { service: 'worker', outcome: 'scored' }), 2);
  assert.equal(sampleValue(text, 'safesift_batch_duration_seconds_bucket', { service: 'worker', outcome: 'scored', le: '0.5' }), 1);
  assert.equal(sampleValue(text, 'safesift_batch_duration_seconds_bucket', { service: 'worker', outcome: 'scored', le: '2.5' }), 2);
  assert.ok(Math.abs(sampleValue(text, 'safesift_batch_duration_seconds_sum', { service: 'worker', outcome: 'scored' })! - 2) < 1e-9);
  // 10 examples just now: the rate divides by the window's age (≥ 1 s), so it is at most 10/s and positive
  const rate = sampleValue(text, 'safesift_examples_per_second', { service: 'worker' })!;
  assert.ok(rate > 0 && rate <= 10, `rate ${rate}`);
});

test('the reducer reports jobs finished by state; registries of two services do not share counts', async () => {
  const reducer = createServiceMetrics('reducer');
  const coordinator = createServiceMetrics('coordinator');
  reducer.jobFinished('complete');
  reducer.jobFinished('complete');
  reducer.jobFinished('cancelled');
  reducer.batch('accounted');
  coordinator.batch('published', 0.001);
  coordinator.jobPlanned('published');
  const r = await reducer.metrics();
  const c = await coordinator.metrics();
  assert.equal(sampleValue(r, 'safesift_jobs_finished_total', { state: 'complete' }), 2);
  assert.equal(sampleValue(r, 'safesift_jobs_finished_total', { state: 'cancelled' }), 1);
  assert.equal(sampleValue(r, 'safesift_jobs_finished_total', { state: 'failed' }), 0);
  assert.equal(sampleValue(r, 'safesift_batches_total', { service: 'reducer', outcome: 'accounted' }), 1);
  assert.equal(sampleValue(r, 'safesift_batches_total', { service: 'coordinator', outcome: 'published' }), undefined);
  assert.equal(sampleValue(c, 'safesift_batches_total', { service: 'coordinator', outcome: 'published' }), 1);
  assert.equal(sampleValue(c, 'safesift_jobs_planned_total', { state: 'published' }), 1);
  assert.equal(processMetrics('worker'), processMetrics('worker'), 'one registry per process and service');
});

test('queue lag is num_pending + num_ack_pending of the real JetStream consumer, read at scrape time', async () => {
  const m = createServiceMetrics('worker');
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const untrack = m.trackQueueLag(jsm, STREAMS.batches, CONSUMERS.workers);
  const lag = async () => sampleValue(await m.metrics(), 'safesift_queue_lag', { stream: STREAMS.batches, consumer: CONSUMERS.workers });
  assert.equal(await lag(), 0);
  for (let i = 0; i < 3; i++) await js.publish(batchSubject('lagjob'), new Uint8Array([i]));
  assert.equal(await lag(), 3, 'three pending');
  const consumer = await js.consumers.get(STREAMS.batches, CONSUMERS.workers);
  const msg = await consumer.next({ expires: 2_000 });
  assert.ok(msg);
  assert.equal(await lag(), 3, 'two pending + one delivered, not acked');
  assert.ok(await msg.ackAck());
  assert.equal(await lag(), 2, 'acked: gone from the work queue');
  untrack();
  await jsm.streams.purge(STREAMS.batches);
  assert.equal(await lag(), 2, 'untracked: the last value stays, nothing is read');
});

test('a sliding rate window: events per second over the last N seconds, by a controlled clock', () => {
  let now = 0;
  const w = new RateWindow(10, () => now);
  now = 500;
  w.add(5);
  assert.equal(w.perSecond(), 5, 'window younger than 1 s divides by 1 s');
  now = 4_000;
  w.add(15);
  assert.equal(w.perSecond(), 20 / 4, '20 events over a 4 s old window');
  now = 12_000;
  assert.equal(w.perSecond(), 15 / 10, 'the events of second 0 left the 10 s window');
  now = 30_000;
  assert.equal(w.perSecond(), 0);
});

test('the metrics endpoint is off unless a port is given by flag or environment', () => {
  assert.equal(resolveMetricsEndpoint({}, {}), null);
  assert.deepEqual(resolveMetricsEndpoint({ port: 9464 }, {}), { port: 9464, host: '0.0.0.0' });
  assert.deepEqual(resolveMetricsEndpoint({}, { SAFESIFT_METRICS_PORT: '0', SAFESIFT_METRICS_HOST: '127.0.0.1' }), { port: 0, host: '127.0.0.1' });
  assert.deepEqual(resolveMetricsEndpoint({ port: 1234, host: '::' }, { SAFESIFT_METRICS_PORT: '9464' }), { port: 1234, host: '::' });
  assert.throws(() => resolveMetricsEndpoint({}, { SAFESIFT_METRICS_PORT: 'http' }), { name: 'ConfigError' });
  assert.throws(() => resolveMetricsEndpoint({ port: 70_000 }, {}), { name: 'ConfigError' });
});
