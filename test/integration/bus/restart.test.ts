import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { compileNatsSettings, connectNats } from '../../../shared/src/bus/nats-settings.ts';
import { batchSubject, CONSUMERS, ensureTopology, STREAMS } from '../../../shared/src/bus/topology.ts';
import { runWorkLoop } from '../../../shared/src/bus/work-loop.ts';
import { startNatsServer } from '../../helpers/nats-server.ts';
import { connectTo, text, waitFor } from './harness.ts';

test('NATS stops and restarts mid-stream: file storage keeps every message and the loop resumes', async (t) => {
  const server = await startNatsServer();
  const pub = await connectTo(server, 'publisher');
  const workerNc = await connectNats(compileNatsSettings({ servers: [server.url], name: 'worker' }));
  const ac = new AbortController();
  let loop: Promise<void> | undefined;
  t.after(async () => {
    ac.abort();
    await loop;
    await workerNc.close();
    await pub.close();
    await server.dispose();
  });
  await ensureTopology(pub, { ackWaitMs: 2_000, maxDeliver: 10 });
  const js = jetstream(pub);
  const publish = (from: number, to: number) =>
    Promise.all(Array.from({ length: to - from }, (_, k) => js.publish(batchSubject('job'), `m${from + k}`, { msgID: `m${from + k}` })));
  await publish(0, 20);

  const seen = new Set<string>();
  const errors: unknown[] = [];
  let resolved = false;
  loop = runWorkLoop(jetstream(workerNc), {
    stream: STREAMS.batches,
    consumer: CONSUMERS.workers,
    signal: ac.signal,
    pullExpiresMs: 1_000,
    onError: (err) => errors.push(err),
    handler: async (msg) => {
      await sleep(30);
      seen.add(text(msg.data));
      return { kind: 'ack' };
    },
  }).finally(() => { resolved = true; });

  await waitFor('some progress', () => seen.size >= 5);
  await server.stop();
  const atStop = seen.size;
  assert.ok(atStop < 20, 'the server stopped mid-stream');
  await sleep(500);
  assert.equal(resolved, false, 'the loop outlives the outage');
  await server.restart();

  await waitFor('the publisher to reconnect', async () => {
    try {
      await pub.flush();
      return true;
    } catch {
      return false;
    }
  });
  await publish(20, 30); // new work after the restart
  await waitFor('every message, old and new', () => seen.size === 30, 10_000);
  assert.deepEqual([...seen].sort(), Array.from({ length: 30 }, (_, i) => `m${i}`).sort());
  assert.ok(seen.size > atStop);
  const jsm = await jetstreamManager(pub);
  await waitFor('an empty work queue', async () => (await jsm.streams.info(STREAMS.batches)).state.messages === 0, 5_000);
});
