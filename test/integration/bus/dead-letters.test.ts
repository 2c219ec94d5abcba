import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { watchDeadLetters, type DeadLetter } from '../../../shared/src/bus/dead-letters.ts';
import { batchSubject, CONSUMERS, ensureTopology, STREAMS } from '../../../shared/src/bus/topology.ts';
import { runWorkLoop } from '../../../shared/src/bus/work-loop.ts';
import { startNatsServer } from '../../helpers/nats-server.ts';
import { connectTo, text, waitFor } from './harness.ts';

test('max_deliver exhaustion reaches watchDeadLetters with the original message, then leaves the queue', async (t) => {
  const server = await startNatsServer();
  const nc = await connectTo(server, 'dead-letters');
  const workerNc = await connectTo(server, 'worker');
  const ac = new AbortController();
  let loop: Promise<void> | undefined;
  const dead: DeadLetter[] = [];
  const watchErrors: [unknown, number | undefined][] = [];
  const jsm = await jetstreamManager(nc);
  const watch = watchDeadLetters(
    nc,
    jsm,
    { stream: STREAMS.batches, consumer: CONSUMERS.workers, onError: (err, seq) => watchErrors.push([err, seq]) },
    (letter) => {
      if (text(letter.data) === 'undeletable') throw new Error('archive is down');
      dead.push(letter);
    },
  );
  t.after(async () => {
    ac.abort();
    await loop;
    await watch.stop();
    await workerNc.close();
    await nc.close();
    await server.dispose();
  });
  await ensureTopology(nc, { ackWaitMs: 5_000, maxDeliver: 3 });
  const js = jetstream(nc);

  const h = headers();
  h.set('Safesift-Job', 'job-7');
  h.set('Safesift-Batch', '12');
  const payload = new Uint8Array([0, 1, 2, 250, 255]);
  const poison = await js.publish(batchSubject('job-7'), payload, { headers: h, msgID: 'job-7/12' });
  const deliveries = new Map<string, number[]>();
  loop = runWorkLoop(jetstream(workerNc), {
    stream: STREAMS.batches,
    consumer: CONSUMERS.workers,
    signal: ac.signal,
    pullExpiresMs: 1_000,
    handler: (msg, ctx) => {
      const key = msg.headers?.get('Safesift-Batch') || text(msg.data);
      deliveries.set(key, [...(deliveries.get(key) ?? []), ctx.deliveryCount]);
      return text(msg.data) === 'fine' ? { kind: 'ack' } : { kind: 'retry', delayMs: 50 };
    },
  });

  await waitFor('the dead letter', () => dead.length === 1);
  const [letter] = dead as [DeadLetter];
  assert.equal(letter.seq, poison.seq);
  assert.equal(letter.subject, 'safesift.batches.job-7');
  assert.deepEqual([...letter.data], [...payload]);
  assert.equal(letter.headers?.get('Safesift-Job'), 'job-7');
  assert.equal(letter.headers?.get('Safesift-Batch'), '12');
  assert.equal(letter.deliveries, 3);
  assert.deepEqual(deliveries.get('12'), [1, 2, 3]);
  await waitFor('the poison message to leave the stream', async () => (await jsm.streams.info(STREAMS.batches)).state.messages === 0);

  // the queue still flows; a failing onDead keeps the message for later inspection
  await js.publish(batchSubject('job-7'), 'fine');
  const kept = await js.publish(batchSubject('job-7'), 'undeletable');
  await waitFor('onError for the failed dead letter', () => watchErrors.length === 1);
  assert.equal(watchErrors[0]![1], kept.seq);
  assert.match(String(watchErrors[0]![0]), /archive is down/);
  assert.deepEqual(deliveries.get('fine'), [1]);
  assert.deepEqual(deliveries.get('undeletable'), [1, 2, 3]);
  const info = await jsm.streams.info(STREAMS.batches);
  assert.equal(info.state.messages, 1);
  assert.equal(info.state.first_seq, kept.seq);
  assert.equal(dead.length, 1);
});
