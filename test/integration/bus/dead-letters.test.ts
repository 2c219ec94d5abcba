import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { runDeadLetterLoop, type DeadLetter } from '../../../shared/src/bus/dead-letters.ts';
import { batchSubject, CONSUMERS, ensureTopology, jobSubject, STREAMS } from '../../../shared/src/bus/topology.ts';
import { runWorkLoop, type WorkHandler } from '../../../shared/src/bus/work-loop.ts';
import { startNatsServer } from '../../helpers/nats-server.ts';
import { connectTo, text, waitFor } from './harness.ts';

const failEverything: WorkHandler = (msg) => (text(msg.data) === 'fine' ? { kind: 'ack' } : { kind: 'retry', delayMs: 50 });

test('max_deliver exhaustion reaches the dead-letter loop with the original message, then leaves the queue', async (t) => {
  const server = await startNatsServer();
  const nc = await connectTo(server, 'dead-letters');
  const workerNc = await connectTo(server, 'worker');
  const ac = new AbortController();
  const loops: Promise<void>[] = [];
  const dead: DeadLetter[] = [];
  const loopErrors: unknown[] = [];
  t.after(async () => {
    ac.abort();
    await Promise.all(loops);
    await workerNc.close();
    await nc.close();
    await server.dispose();
  });
  await ensureTopology(nc, { ackWaitMs: 5_000, maxDeliver: 3 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  loops.push(
    runDeadLetterLoop(js, jsm, { signal: ac.signal, retryBaseMs: 100, retryMaxMs: 200, pullExpiresMs: 1_000, onError: (err) => loopErrors.push(err) }, (letter) => {
      if (text(letter.data) === 'undeletable' && loopErrors.length < 2) throw new Error('archive is down');
      dead.push(letter);
    }),
  );

  const h = headers();
  h.set('Safesift-Job', 'job-7');
  h.set('Safesift-Batch', '12');
  const payload = new Uint8Array([0, 1, 2, 250, 255]);
  const poison = await js.publish(batchSubject('job-7'), payload, { headers: h, msgID: 'job-7/12' });
  const deliveries = new Map<string, number[]>();
  loops.push(
    runWorkLoop(jetstream(workerNc), {
      stream: STREAMS.batches,
      consumer: CONSUMERS.workers,
      signal: ac.signal,
      pullExpiresMs: 1_000,
      handler: (msg, ctx) => {
        const key = msg.headers?.get('Safesift-Batch') || text(msg.data);
        deliveries.set(key, [...(deliveries.get(key) ?? []), ctx.deliveryCount]);
        return failEverything(msg, ctx);
      },
    }),
  );

  await waitFor('the dead letter', () => dead.length === 1);
  const [letter] = dead as [DeadLetter];
  assert.equal(letter.stream, STREAMS.batches);
  assert.equal(letter.consumer, CONSUMERS.workers);
  assert.equal(letter.seq, poison.seq);
  assert.equal(letter.subject, 'safesift.batches.job-7');
  assert.deepEqual([...letter.data], [...payload]);
  assert.equal(letter.headers?.get('Safesift-Job'), 'job-7');
  assert.equal(letter.headers?.get('Safesift-Batch'), '12');
  assert.equal(letter.deliveries, 3);
  assert.deepEqual(deliveries.get('12'), [1, 2, 3]);
  await waitFor('the poison message to leave the stream', async () => (await jsm.streams.info(STREAMS.batches)).state.messages === 0);

  // The queue still flows; a failing onDead is retried (the advisory is kept) until it succeeds.
  await js.publish(batchSubject('job-7'), 'fine');
  await js.publish(batchSubject('job-7'), 'undeletable');
  await waitFor('the retried dead letter', () => dead.length === 2, 10_000);
  assert.equal(loopErrors.length, 2);
  assert.match(String(loopErrors[0]), /archive is down/);
  assert.deepEqual(deliveries.get('fine'), [1]);
  assert.deepEqual(deliveries.get('undeletable'), [1, 2, 3]);
  await waitFor('both lanes empty', async () => {
    const [batches, letters] = await Promise.all([jsm.streams.info(STREAMS.batches), jsm.streams.info(STREAMS.deadLetters)]);
    return batches.state.messages === 0 && letters.state.messages === 0;
  });
});

test('an advisory published while no dead-letter loop runs is kept and handled when one starts', async (t) => {
  const server = await startNatsServer();
  const nc = await connectTo(server, 'late-reducer');
  const ac = new AbortController();
  const loops: Promise<void>[] = [];
  t.after(async () => {
    ac.abort();
    await Promise.all(loops);
    await nc.close();
    await server.dispose();
  });
  await ensureTopology(nc, { ackWaitMs: 5_000, maxDeliver: 2 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const notice = await js.publish(jobSubject('job-9'), JSON.stringify({ jobId: 'job-9' }));
  const coordinator = new AbortController();
  const planning = runWorkLoop(js, { stream: STREAMS.jobs, consumer: CONSUMERS.coordinator, signal: coordinator.signal, pullExpiresMs: 1_000, handler: failEverything });
  await waitFor('the advisory to be kept', async () => (await jsm.streams.info(STREAMS.deadLetters)).state.messages === 1);
  coordinator.abort();
  await planning;

  const dead: DeadLetter[] = [];
  loops.push(runDeadLetterLoop(js, jsm, { signal: ac.signal, pullExpiresMs: 1_000 }, (letter) => void dead.push(letter)));
  await waitFor('the late dead letter', () => dead.length === 1);
  assert.equal(dead[0]!.stream, STREAMS.jobs);
  assert.equal(dead[0]!.seq, notice.seq);
  assert.deepEqual(JSON.parse(text(dead[0]!.data)), { jobId: 'job-9' });
  assert.equal(dead[0]!.deliveries, 2);
  await waitFor('the jobs lane and the dead letters empty', async () => {
    const [jobs, letters] = await Promise.all([jsm.streams.info(STREAMS.jobs), jsm.streams.info(STREAMS.deadLetters)]);
    return jobs.state.messages === 0 && letters.state.messages === 0;
  });
});
