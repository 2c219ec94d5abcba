import type { JetStreamManager } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';

export interface DeadLetter {
  seq: number;
  subject: string;
  headers?: MsgHdrs;
  data: Uint8Array;
  deliveries: number;
}

export interface DeadLetterWatch {
  /** Stops listening and waits for the dead letter in hand to be finished. */
  stop(): Promise<void>;
}

export interface DeadLetterOptions {
  stream: string;
  consumer: string;
  /** Replicas in one queue group share the advisories instead of each handling all. */
  queue?: string;
  /** onDead threw or the stream could not be read; the message stays in the stream. */
  onError?: (err: unknown, seq?: number) => void;
}

/** The server's MAX_DELIVERIES advisory (io.nats.jetstream.advisory.v1.max_deliver). */
interface MaxDeliveriesAdvisory {
  stream: string;
  consumer: string;
  stream_seq: number;
  deliveries: number;
}

export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/**
 * Dead-letters messages that used up max_deliver. A work-queue stream keeps such a message but
 * never delivers it again, so: read it by sequence, hand it to onDead, then delete it.
 * Advisories are plain NATS messages: one published while no watcher listens is not replayed.
 */
export function watchDeadLetters(
  nc: NatsConnection,
  jsm: JetStreamManager,
  options: DeadLetterOptions,
  onDead: (msg: DeadLetter) => Promise<void> | void,
): DeadLetterWatch {
  const { stream, consumer } = options;
  const sub = nc.subscribe(maxDeliveriesSubject(stream, consumer), {
    queue: options.queue ?? `safesift-dead-letters.${stream}.${consumer}`,
  });
  const report = (err: unknown, seq?: number) => {
    try {
      options.onError?.(err, seq);
    } catch {
      // keep watching
    }
  };

  async function handle(advisory: MaxDeliveriesAdvisory): Promise<void> {
    const seq = advisory.stream_seq;
    const stored = await jsm.streams.getMessage(stream, { seq });
    if (!stored) return; // already handled (or deleted) elsewhere
    const letter: DeadLetter = { seq, subject: stored.subject, data: stored.data, deliveries: advisory.deliveries };
    if (stored.header && [...stored.header.keys()].length > 0) letter.headers = stored.header;
    await onDead(letter);
    // erase=false: a plain delete is enough and much cheaper than overwriting the block
    await jsm.streams.deleteMessage(stream, seq, false);
  }

  const done = (async () => {
    for await (const m of sub) {
      let advisory: MaxDeliveriesAdvisory | undefined;
      try {
        advisory = m.json<MaxDeliveriesAdvisory>();
        await handle(advisory);
      } catch (err) {
        report(err, advisory?.stream_seq);
      }
    }
  })();

  return {
    async stop() {
      // drain: advisories already received are still handled
      if (!sub.isClosed()) await sub.drain().catch(() => sub.unsubscribe());
      await done;
    },
  };
}
