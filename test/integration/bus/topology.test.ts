import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import {
  batchSubject,
  CONSUMERS,
  ensureTopology,
  jobSubject,
  openJobsKv,
  resultSubject,
  STREAMS,
  TOPOLOGY_DEFAULTS,
} from '../../../shared/src/bus/topology.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import { startNatsServer } from '../../helpers/nats-server.ts';
import { connectTo } from './harness.ts';

test('subject helpers put the job id in one token and refuse wildcards', () => {
  assert.equal(jobSubject('j-1'), 'safesift.jobs.j-1');
  assert.equal(batchSubject('j_2'), 'safesift.batches.j_2');
  assert.equal(resultSubject('J3'), 'safesift.results.J3');
  for (const bad of ['', 'a.b', '*', '>', 'a b']) assert.throws(() => batchSubject(bad), ConfigError);
});

test('ensureTopology creates everything, is idempotent, concurrent-safe, and applies updates', async (t) => {
  const server = await startNatsServer({ maxPayload: '8MB' });
  const ncs = await Promise.all([0, 1, 2, 3].map((i) => connectTo(server, `topo-${i}`)));
  t.after(async () => {
    await Promise.all(ncs.map((nc) => nc.close()));
    await server.dispose();
  });
  const [nc] = ncs as [(typeof ncs)[0]];

  // every process at start-up, at once
  const all = await Promise.all(ncs.map((c) => ensureTopology(c, { ackWaitMs: 5_000, maxDeliver: 4 })));
  const topo = all[0]!;
  assert.equal(topo.maxMsgSize, 8 * 1024 * 1024);

  const jsm = await jetstreamManager(nc);
  const names = (await jsm.streams.names().next()).sort();
  assert.deepEqual(names, [STREAMS.batches, STREAMS.jobs, STREAMS.results, STREAMS.deadLetters, 'KV_safesift-jobs'].sort());
  for (const lane of ['jobs', 'batches', 'results'] as const) {
    const name = STREAMS[lane];
    const { config } = await jsm.streams.info(name);
    assert.deepEqual(config.subjects, [`safesift.${lane}.>`]);
    assert.equal(config.retention, RetentionPolicy.Workqueue);
    assert.equal(config.storage, StorageType.File);
    assert.equal(config.duplicate_window, nanos(120_000));
    assert.equal(config.max_msg_size, 8 * 1024 * 1024);
  }
  const workers = await jsm.consumers.info(STREAMS.batches, CONSUMERS.workers);
  assert.equal(workers.config.ack_wait, nanos(5_000));
  assert.equal(workers.config.max_deliver, 4);
  assert.equal((await jsm.consumers.info(STREAMS.jobs, CONSUMERS.coordinator)).config.filter_subject, 'safesift.jobs.>');
  assert.equal((await jsm.consumers.info(STREAMS.results, CONSUMERS.reducer)).config.ack_policy, 'explicit');
  // The lanes' MAX_DELIVERIES advisories are kept until the reducer handles them.
  const letters = await jsm.streams.info(STREAMS.deadLetters);
  assert.deepEqual(letters.config.subjects, [
    '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.SAFESIFT_JOBS.coordinator',
    '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.SAFESIFT_BATCHES.workers',
    '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.SAFESIFT_RESULTS.reducer',
  ]);
  assert.equal((await jsm.consumers.info(STREAMS.deadLetters, CONSUMERS.deadLetters)).config.max_deliver, -1);

  // state survives a re-run; changed options update streams and consumers in place
  await jetstream(nc).publish(batchSubject('keep'), 'x');
  await ensureTopology(nc, {
    duplicateWindowMs: 30_000,
    maxMsgSize: 1024,
    ackWaitMs: 5_000,
    consumers: { coordinator: { ackWaitMs: 2_000 }, workers: { maxDeliver: 6, backoffMs: [1_000, 3_000] } },
  });
  const batches = await jsm.streams.info(STREAMS.batches);
  assert.equal(batches.state.messages, 1);
  assert.equal(batches.config.duplicate_window, nanos(30_000));
  assert.equal(batches.config.max_msg_size, 1024);
  const updated = await jsm.consumers.info(STREAMS.batches, CONSUMERS.workers);
  assert.equal(updated.config.max_deliver, 6);
  assert.deepEqual(updated.config.backoff, [nanos(1_000), nanos(3_000)]);
  const coordinator = await jsm.consumers.info(STREAMS.jobs, CONSUMERS.coordinator);
  assert.equal(coordinator.config.ack_wait, nanos(2_000));
  assert.equal(coordinator.config.max_deliver, TOPOLOGY_DEFAULTS.maxDeliver); // back to the default
  await assert.rejects(jetstream(nc).publish(batchSubject('big'), new Uint8Array(2048))); // max_msg_size enforced

  await assert.rejects(ensureTopology(nc, { maxDeliver: 2, backoffMs: [1, 2, 3] }), ConfigError);

  // the jobs bucket keeps one revision per key
  const kv = await openJobsKv(nc);
  await kv.put('job-1', 'queued');
  await kv.put('job-1', 'running');
  assert.equal((await kv.get('job-1'))?.string(), 'running');
  assert.equal((await kv.status()).history, 1);
  assert.equal((await topo.kv.get('job-1'))?.string(), 'running');
});

test('msgID dedupe on the batches stream', async (t) => {
  const server = await startNatsServer();
  const nc = await connectTo(server);
  t.after(async () => {
    await nc.close();
    await server.dispose();
  });
  await ensureTopology(nc, { duplicateWindowMs: 60_000 });
  const js = jetstream(nc);
  const first = await js.publish(batchSubject('job-a'), 'batch 0', { msgID: 'job-a/0' });
  const again = await js.publish(batchSubject('job-a'), 'batch 0 (resent)', { msgID: 'job-a/0' });
  const other = await js.publish(batchSubject('job-a'), 'batch 1', { msgID: 'job-a/1' });
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.equal(again.seq, first.seq);
  assert.equal(other.duplicate, false);
  const jsm = await jetstreamManager(nc);
  assert.equal((await jsm.streams.info(STREAMS.batches)).state.messages, 2);
  assert.equal((await jsm.streams.getMessage(STREAMS.batches, { seq: first.seq }))?.string(), 'batch 0');
});
