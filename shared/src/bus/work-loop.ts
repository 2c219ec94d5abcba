import type { Consumer, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { millis } from '@nats-io/transport-node';

/** What the handler decided about one message. */
export type Outcome =
  | { kind: 'ack' }
  /** Redeliver after delayMs (nak with delay); counts towards max_deliver. */
  | { kind: 'retry'; delayMs: number }
  /** Never redeliver (term); the reason goes to onOutcome, since 2.9 servers ignore term(reason). */
  | { kind: 'drop'; reason: string };

export interface WorkContext {
  /** The loop's signal: aborted when the process is draining; finishing the message is still fine. */
  signal: AbortSignal;
  deliveryCount: number;
  /** Extra heartbeat, e.g. before a step known to be long. */
  working(): void;
}

export type WorkHandler = (msg: JsMsg, ctx: WorkContext) => Promise<Outcome> | Outcome;

export interface WorkLoopOptions {
  stream: string;
  consumer: string;
  handler: WorkHandler;
  /**
   * Stop pulling; the in-flight message is finished and settled before runWorkLoop resolves.
   * The open pull is dropped at once, so the server may still hand one message to it: that
   * message comes back after ack_wait (one delivery used).
   */
  signal: AbortSignal;
  /** working() interval while the handler runs; default ack_wait / 3; 0 turns heartbeats off. */
  heartbeatMs?: number;
  /** Handler throws, transport trouble (e.g. while NATS restarts). The loop carries on. */
  onError?: (err: unknown, msg?: JsMsg) => void;
  /** Every settled message, with the outcome applied to it. */
  onOutcome?: (msg: JsMsg, outcome: Outcome) => void;
  /** Retry delay for a handler that throws: retryBaseMs * 2^(deliveries-1), capped at retryMaxMs. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long one pull waits for a message (≥ 1000, a client limit); also bounds idle checks. */
  pullExpiresMs?: number;
}

/** Exponential backoff by delivery count: base, 2·base, 4·base, ... capped at maxMs. */
export function backoffDelay(deliveryCount: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, Math.floor(deliveryCount) - 1);
  return Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 30));
}

function isOutcome(v: unknown): v is Outcome {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as { kind?: unknown; delayMs?: unknown; reason?: unknown };
  if (o.kind === 'ack') return true;
  if (o.kind === 'retry') return typeof o.delayMs === 'number' && Number.isFinite(o.delayMs) && o.delayMs >= 0;
  return o.kind === 'drop' && typeof o.reason === 'string';
}

/** Waits ms, or less if the signal aborts (never rejects). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Pulls one message at a time from a durable pull consumer and settles each by the handler's
 * Outcome. One at a time on purpose: a prefetched message would sit out its ack_wait unworked.
 * Survives NATS restarts (the client reconnects; failed pulls are retried with backoff).
 * Delivery is at-least-once: handlers must be idempotent.
 */
export async function runWorkLoop(js: JetStreamClient, o: WorkLoopOptions): Promise<void> {
  const { signal } = o;
  const retryBaseMs = o.retryBaseMs ?? 1_000;
  const retryMaxMs = o.retryMaxMs ?? 60_000;
  const expires = Math.max(1_000, o.pullExpiresMs ?? 5_000);
  const report = (err: unknown, msg?: JsMsg) => {
    try {
      o.onError?.(err, msg);
    } catch {
      // a failing logger must not stop the loop
    }
  };

  let consumer: Consumer | undefined;
  let heartbeatMs = 0;
  let failures = 0;

  async function settle(msg: JsMsg, outcome: Outcome): Promise<void> {
    try {
      if (outcome.kind === 'ack') {
        // ackAck: the ack has reached the server before a draining loop resolves
        if (!(await msg.ackAck())) throw new Error(`ack of ${o.stream} #${msg.seq} not confirmed`);
      } else if (outcome.kind === 'retry') {
        msg.nak(outcome.delayMs);
      } else {
        msg.term();
      }
    } catch (err) {
      report(err, msg); // unsettled: redelivered after ack_wait
    }
    try {
      o.onOutcome?.(msg, outcome);
    } catch (err) {
      report(err, msg);
    }
  }

  async function handle(msg: JsMsg): Promise<void> {
    const beat = () => {
      try {
        msg.working();
      } catch (err) {
        report(err, msg);
      }
    };
    const timer = heartbeatMs > 0 ? setInterval(beat, heartbeatMs) : undefined;
    let outcome: Outcome;
    try {
      const result = await o.handler(msg, { signal, deliveryCount: msg.info.deliveryCount, working: beat });
      if (!isOutcome(result)) throw new TypeError(`handler returned ${JSON.stringify(result)}, not an Outcome`);
      outcome = result;
    } catch (err) {
      report(err, msg);
      outcome = { kind: 'retry', delayMs: backoffDelay(msg.info.deliveryCount, retryBaseMs, retryMaxMs) };
    } finally {
      clearInterval(timer);
    }
    await settle(msg, outcome);
  }

  while (!signal.aborted) {
    try {
      if (!consumer) {
        consumer = await js.consumers.get(o.stream, o.consumer);
        const ackWaitMs = millis((await consumer.info(true)).config.ack_wait ?? 0);
        heartbeatMs = o.heartbeatMs ?? (ackWaitMs > 0 ? Math.max(50, Math.floor(ackWaitMs / 3)) : 0);
      }
      const batch = await consumer.fetch({ max_messages: 1, expires });
      const stop = () => batch.stop();
      signal.addEventListener('abort', stop, { once: true });
      if (signal.aborted) stop();
      try {
        for await (const msg of batch) {
          // raced with the abort: hand it straight back instead of waiting out ack_wait
          if (signal.aborted) msg.nak();
          else await handle(msg);
        }
      } finally {
        signal.removeEventListener('abort', stop);
      }
      failures = 0;
    } catch (err) {
      if (signal.aborted) break;
      report(err);
      consumer = undefined; // it may have been recreated: look it up again
      failures++;
      await sleep(backoffDelay(failures, 100, 2_000), signal);
    }
  }
}
