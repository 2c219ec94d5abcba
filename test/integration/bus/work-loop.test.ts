import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { batchSubject, CONSUMERS, ensureTopology, STREAMS, type TopologyOptions } from '../../../shared/src/bus/topology.ts';
import { backoffDelay, runWorkLoop, type Outcome, type WorkContext, type WorkLoopOptions } from '../../../shared/src/bus/work-loop.ts';
import { startNatsServer } from '../../helpers/nats-server.ts';
import { connectTo, text, waitFor } from './harness.ts';

const HANG_WORKER = fileURLToPath(new URL('./fixtures/hang-worker.ts', import.meta.url));

interface Delivery {
  data: string;
  count: number;
  at: number;
  worker: string;
}

/** A server with the topology; `loop()` starts a work loop on the batches lane on its own connection. */
async function setup(t: { after(fn: () => Promise<void>): void }, topo: TopologyOptions) {
  const server = await startNatsServer();
  const nc = await connectTo(server, 'test');
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
    await nc.close();
    await server.dispose();
  });
  await ensureTopology(nc, topo);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const deliveries: Delivery[] = [];
  const errors: unknown[] = [];

  async function loop(worker: string, handler: (d: Delivery, ctx: WorkContext) => Promise<Outcome> | Outcome, extra: Partial<WorkLoopOptions> = {}) {
    const own = await connectTo(server, worker);
    const ac = new AbortController();
    const done = runWorkLoop(jetstream(own), {
      stream: STREAMS.batches,
      consumer: CONSUMERS.workers,
      signal: ac.signal,
      onError: (err) => errors.push(err),
      pullExpiresMs: 1_000,
      ...extra,
      handler: (msg, ctx) => {
        const d = { data: text(msg.data), count: ctx.deliveryCount, at: Date.now(), worker };
        deliveries.push(d);
        return handler(d, ctx);
      },
    });
    const stop = async () => {
      ac.abort();
      await done;
      await own.close();
    };
    closers.push(stop);
    return { ac, done, stop };
  }
  return { server, js, jsm, deliveries, errors, loop };
}

const publish = (js: JetStreamClient, ...items: string[]) => Promise.all(items.map((d) => js.publish(batchSubject('job'), d)));

test('backoffDelay doubles per delivery and caps', () => {
  assert.deepEqual([1, 2, 3, 4, 10].map((n) => backoffDelay(n, 100, 1_000)), [100, 200, 400, 800, 1_000]);
  assert.equal(backoffDelay(0, 100, 1_000), 100);
});

test('ack, retry (with delay), throw and drop are settled as such', async (t) => {
  const { js, jsm, deliveries, errors, loop } = await setup(t, { ackWaitMs: 5_000, maxDeliver: 5 });
  await publish(js, 'ok', 'retry', 'throw', 'drop');
  await loop('w1', ({ data, count }) => {
    if (data === 'retry' && count < 3) return { kind: 'retry', delayMs: 300 };
    if (data === 'throw' && count < 2) throw new Error('boom');
    if (data === 'drop') return { kind: 'drop', reason: 'poison' };
    return { kind: 'ack' };
  }, { retryBaseMs: 50 });

  await waitFor('all settled', async () => {
    const info = await jsm.consumers.info(STREAMS.batches, CONSUMERS.workers);
    return deliveries.length === 7 && info.num_pending === 0 && info.num_ack_pending === 0;
  });
  const counts = (data: string) => deliveries.filter((d) => d.data === data).map((d) => d.count);
  assert.deepEqual(counts('ok'), [1]);
  assert.deepEqual(counts('retry'), [1, 2, 3]);
  assert.deepEqual(counts('throw'), [1, 2]);
  assert.deepEqual(counts('drop'), [1]);
  const retries = deliveries.filter((d) => d.data === 'retry');
  for (let i = 1; i < retries.length; i++) assert.ok(retries[i]!.at - retries[i - 1]!.at >= 250, 'nak delay honoured');
  assert.ok(errors.some((e) => e instanceof Error && e.message === 'boom'));
  // settled messages leave the work queue; nothing waits for redelivery
  assert.equal((await jsm.streams.info(STREAMS.batches)).state.messages, 0);
  await sleep(300);
  assert.equal(deliveries.length, 7);
});

test('heartbeats keep a handler slower than ack_wait from being redelivered (and without them it is)', async (t) => {
  const { js, jsm, deliveries, loop } = await setup(t, { ackWaitMs: 1_000, maxDeliver: 5 });
  const slow = async (_: Delivery, ctx: WorkContext): Promise<Outcome> => {
    try {
      await sleep(2_500, undefined, { signal: ctx.signal });
      return { kind: 'ack' };
    } catch {
      return { kind: 'retry', delayMs: 0 }; // test teardown
    }
  };
  const a = await loop('a', slow);
  const b = await loop('b', slow);
  await publish(js, 'long batch');
  await waitFor('first delivery', () => deliveries.length === 1);
  await sleep(2_200); // over two ack_waits
  await waitFor('the ack', async () => (await jsm.streams.info(STREAMS.batches)).state.messages === 0);
  assert.deepEqual(deliveries.map((d) => d.count), [1], JSON.stringify(deliveries));

  // control: the same with heartbeats off is redelivered after ack_wait
  await Promise.all([a.stop(), b.stop()]);
  await loop('c', slow, { heartbeatMs: 0 });
  await loop('d', slow, { heartbeatMs: 0 });
  await publish(js, 'no heartbeat');
  // (≥ 2: a pull left open by a stopped loop may swallow one delivery, see runWorkLoop)
  await waitFor('a redelivery', () => deliveries.some((d) => d.data === 'no heartbeat' && d.count >= 2), 6_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(deliveries)}`);
  });
});

test('a worker killed mid-message: the message goes to another worker after ack_wait', async (t) => {
  const { server, js, deliveries, loop } = await setup(t, { ackWaitMs: 1_000, maxDeliver: 5 });
  const child = spawn(process.execPath, ['--import', 'tsx', HANG_WORKER, server.url, STREAMS.batches, CONSUMERS.workers], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  await publish(js, 'precious');
  await waitFor('the child to take it', () => out.includes('started'), 8_000);
  assert.match(out, /started \d+ precious/);
  await sleep(1_200); // its heartbeats keep it there meanwhile
  child.kill('SIGKILL');
  await once(child, 'exit');
  const killedAt = Date.now();
  await loop('survivor', () => ({ kind: 'ack' }));
  await waitFor('redelivery to the survivor', () => deliveries.length === 1, 4_000);
  assert.deepEqual(deliveries.map((d) => [d.data, d.worker]), [['precious', 'survivor']]);
  assert.ok(deliveries[0]!.count >= 2, 'a redelivery');
  assert.ok(deliveries[0]!.at - killedAt < 2_000);
});

test('abort drains: the in-flight handler finishes and acks, nothing more is pulled', async (t) => {
  const { js, jsm, deliveries, loop } = await setup(t, { ackWaitMs: 5_000, maxDeliver: 5 });
  await publish(js, 'first', 'second');
  let finished = false;
  const w = await loop('w', async () => {
    await sleep(500);
    finished = true;
    return { kind: 'ack' };
  }, { pullExpiresMs: 30_000 });
  await waitFor('first delivery', () => deliveries.length === 1);
  const abortedAt = Date.now();
  w.ac.abort();
  await w.done;
  assert.ok(finished, 'handler ran to completion');
  assert.ok(Date.now() - abortedAt < 1_500, 'did not wait out the 30 s pull');
  assert.deepEqual(deliveries.map((d) => d.data), ['first']);
  const info = await jsm.consumers.info(STREAMS.batches, CONSUMERS.workers);
  assert.equal(info.num_ack_pending, 0, 'acked before the loop resolved');
  assert.equal((await jsm.streams.info(STREAMS.batches)).state.messages, 1, 'second left for others');
});
