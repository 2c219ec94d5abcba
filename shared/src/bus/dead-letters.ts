import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { CONSUMERS, STREAMS } from './topology.ts';
import { runWorkLoop, type Outcome } from './work-loop.ts';

export interface DeadLetter {
  /** The stream the message is in (one of the three lanes) and its sequence there. */
  stream: string;
  consumer: string;
  seq: number;
  subject: string;
  headers?: MsgHdrs;
  data: Uint8Array;
  deliveries: number;
}

export interface DeadLetterOptions {
  /** Stop taking dead letters; the one in hand is finished first. */
  signal: AbortSignal;
  /** onDead threw or a stream could not be read; the advisory is retried with backoff. */
  onError?: (err: unknown) => void;
  /** Retry backoff of the loop (see runWorkLoop). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  pullExpiresMs?: number;
}

/** The server's MAX_DELIVERIES advisory (io.nats.jetstream.advisory.v1.max_deliver). */
interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

function isAdvisory(value: unknown): value is MaxDeliveriesAdvisory {
  const a = value as Partial<MaxDeliveriesAdvisory> | null;
  return typeof a?.stream === 'string' && typeof a.consumer === 'string' && Number.isInteger(a.stream_seq) && Number.isInteger(a.deliveries);
}

/**
 * Dead-letters messages that used up max_deliver. A work-queue stream keeps such a message but
 * never delivers it again; the server's advisory about it is kept in the dead-letter stream (see
 * ensureTopology), so one published while no reducer ran is handled when one starts. Each is
 * handled once: the message is read by sequence, handed to onDead, deleted, then the advisory acked.
 */
export function runDeadLetterLoop(
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: DeadLetterOptions,
  onDead: (letter: DeadLetter) => Promise<void> | void,
): Promise<void> {
  const handler = async (msg: { data: Uint8Array; json<T>(): T }): Promise<Outcome> => {
    let advisory: unknown;
    try {
      advisory = msg.json<unknown>();
    } catch {
      return { kind: 'drop', reason: 'not a JSON advisory' };
    }
    if (!isAdvisory(advisory)) return { kind: 'drop', reason: 'not a max_deliver advisory' };
    const { stream, consumer, stream_seq: seq, deliveries } = advisory;
    const stored = await jsm.streams.getMessage(stream, { seq });
    if (!stored) return { kind: 'ack' }; // already handled (or deleted) before a crash
    const letter: DeadLetter = { stream, consumer, seq, subject: stored.subject, data: stored.data, deliveries };
    if (stored.header && [...stored.header.keys()].length > 0) letter.headers = stored.header;
    await onDead(letter);
    // erase=false: a plain delete is enough and much cheaper than overwriting the block
    await jsm.streams.deleteMessage(stream, seq, false);
    return { kind: 'ack' };
  };
  return runWorkLoop(js, {
    stream: STREAMS.deadLetters,
    consumer: CONSUMERS.deadLetters,
    signal: options.signal,
    handler,
    ...(options.onError ? { onError: (err: unknown) => options.onError?.(err) } : {}),
    ...(options.retryBaseMs === undefined ? {} : { retryBaseMs: options.retryBaseMs }),
    ...(options.retryMaxMs === undefined ? {} : { retryMaxMs: options.retryMaxMs }),
    ...(options.pullExpiresMs === undefined ? {} : { pullExpiresMs: options.pullExpiresMs }),
  });
}
