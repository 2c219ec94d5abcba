import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { ConfigError } from '../errors.ts';

/**
 * safesift's JetStream layout. Jobs flow coordinator -> workers (batches) -> reducer (results);
 * each stream is a work queue with exactly one durable pull consumer, shared by all replicas.
 */
export const STREAMS = {
  jobs: 'SAFESIFT_JOBS',
  batches: 'SAFESIFT_BATCHES',
  results: 'SAFESIFT_RESULTS',
  /** The server's MAX_DELIVERIES advisories of the three lanes, kept until the reducer handles them. */
  deadLetters: 'SAFESIFT_DEAD_LETTERS',
} as const;

export const SUBJECT_ROOTS = {
  jobs: 'safesift.jobs',
  batches: 'safesift.batches',
  results: 'safesift.results',
} as const;

export const CONSUMERS = {
  coordinator: 'coordinator',
  workers: 'workers',
  reducer: 'reducer',
  deadLetters: 'dead-letters',
} as const;

export const JOBS_KV_BUCKET = 'safesift-jobs';

type Lane = Exclude<keyof typeof STREAMS, 'deadLetters'>;
type ConsumerName = (typeof CONSUMERS)[Exclude<keyof typeof CONSUMERS, 'deadLetters'>];

const LANES: { lane: Lane; consumer: ConsumerName }[] = [
  { lane: 'jobs', consumer: CONSUMERS.coordinator },
  { lane: 'batches', consumer: CONSUMERS.workers },
  { lane: 'results', consumer: CONSUMERS.reducer },
];

export interface ConsumerSettings {
  /** Redelivery timeout without an ack or a working() heartbeat. */
  ackWaitMs?: number;
  /** Deliveries before the message is dead-lettered (see runDeadLetterLoop). */
  maxDeliver?: number;
  /**
   * Ack-wait per delivery (1st, 2nd, ...; the last repeats). The server then ignores ackWaitMs and
   * reports backoffMs[0] as ack_wait. Needs maxDeliver > backoffMs.length.
   */
  backoffMs?: number[];
}

export interface TopologyOptions extends ConsumerSettings {
  /** msgID dedupe window. */
  duplicateWindowMs?: number;
  /** Largest message a stream accepts; default the server's max_payload. */
  maxMsgSize?: number;
  /** Per-consumer overrides of ackWaitMs / maxDeliver / backoffMs. */
  consumers?: Partial<Record<ConsumerName, ConsumerSettings>>;
}

export const TOPOLOGY_DEFAULTS = {
  duplicateWindowMs: 2 * 60_000,
  ackWaitMs: 30_000,
  /** With the work loop's retry backoff (1 s doubling to 60 s), about two minutes of transient trouble. */
  maxDeliver: 8,
} as const;

export interface Topology {
  streams: Record<Lane, StreamInfo>;
  consumers: Record<ConsumerName, ConsumerInfo>;
  kv: KV;
  maxMsgSize: number;
}

/** The advisory the server publishes when a message of `stream` used up `consumer`'s max_deliver. */
export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/**
 * Advisories are plain NATS messages, lost when no one listens; this stream keeps them (one
 * subject per lane: a wildcard over the advisory subjects captured nothing on nats-server 2.9).
 */
export function deadLetterStreamConfig(duplicateWindowMs: number): StreamSpec {
  return {
    name: STREAMS.deadLetters,
    subjects: LANES.map(({ lane, consumer }) => maxDeliveriesSubject(STREAMS[lane], consumer)),
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(duplicateWindowMs),
  };
}

/** The reducer's consumer of the dead-letter stream: retried without limit (no advisory of its own). */
export function deadLetterConsumerConfig(ackWaitMs: number): Partial<ConsumerConfig> {
  return {
    durable_name: CONSUMERS.deadLetters,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
  };
}

/** A job id becomes one subject token: no dots, wildcards or whitespace. */
function token(jobId: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(jobId)) {
    throw new ConfigError(`job id ${JSON.stringify(jobId)} must match [A-Za-z0-9_-]+ to be a NATS subject token`);
  }
  return jobId;
}

export const jobSubject = (jobId: string): string => `${SUBJECT_ROOTS.jobs}.${token(jobId)}`;
export const batchSubject = (jobId: string): string => `${SUBJECT_ROOTS.batches}.${token(jobId)}`;
export const resultSubject = (jobId: string): string => `${SUBJECT_ROOTS.results}.${token(jobId)}`;

export type StreamSpec = Partial<StreamConfig> & { name: string };

export function streamConfig(lane: Lane, duplicateWindowMs: number, maxMsgSize: number): StreamSpec {
  return {
    name: STREAMS[lane],
    subjects: [`${SUBJECT_ROOTS[lane]}.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(duplicateWindowMs),
    max_msg_size: maxMsgSize,
  };
}

type ResolvedConsumerSettings = { ackWaitMs: number; maxDeliver: number; backoffMs?: number[] | undefined };

export function consumerConfig(lane: Lane, name: ConsumerName, s: ResolvedConsumerSettings): Partial<ConsumerConfig> {
  if (!Number.isInteger(s.maxDeliver) || s.maxDeliver < 1) throw new ConfigError(`${name}: maxDeliver must be a positive integer`);
  if (!(s.ackWaitMs >= 1)) throw new ConfigError(`${name}: ackWaitMs must be at least 1 ms`);
  const cfg: Partial<ConsumerConfig> = {
    durable_name: name,
    filter_subject: `${SUBJECT_ROOTS[lane]}.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(s.ackWaitMs),
    max_deliver: s.maxDeliver,
  };
  if (s.backoffMs && s.backoffMs.length > 0) {
    // the server's own rule, checked here so the error names our option
    if (s.maxDeliver <= s.backoffMs.length) throw new ConfigError(`${name}: maxDeliver must exceed the number of backoffMs steps`);
    cfg.backoff = s.backoffMs.map((ms) => nanos(ms));
  }
  return cfg;
}

const STREAM_NAME_IN_USE = 10058;

/** Create, or update when another config exists; concurrent callers with equal configs all succeed. */
async function upsertStream(jsm: JetStreamManager, cfg: StreamSpec): Promise<StreamInfo> {
  try {
    return await jsm.streams.add(cfg);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE) return jsm.streams.update(cfg.name, cfg);
    throw err;
  }
}

/**
 * Creates or updates every stream, consumer and the jobs KV bucket. Idempotent and safe to run
 * concurrently from every process at start-up (the server treats an equal re-add as a no-op and a
 * durable re-add with new settings as an update).
 */
export async function ensureTopology(nc: NatsConnection, options: TopologyOptions = {}): Promise<Topology> {
  const jsm = await jetstreamManager(nc);
  const duplicateWindowMs = options.duplicateWindowMs ?? TOPOLOGY_DEFAULTS.duplicateWindowMs;
  const maxMsgSize = options.maxMsgSize ?? nc.info?.max_payload;
  if (maxMsgSize === undefined) throw new ConfigError('maxMsgSize: not given and the server did not report max_payload');
  if (!Number.isInteger(maxMsgSize) || maxMsgSize < 1) throw new ConfigError('maxMsgSize must be a positive integer (bytes)');
  if (!(duplicateWindowMs > 0)) throw new ConfigError('duplicateWindowMs must be positive');

  // build (and validate) every config before touching the server
  const plan = LANES.map(({ lane, consumer }) => {
    const own = options.consumers?.[consumer] ?? {};
    const settings = {
      ackWaitMs: own.ackWaitMs ?? options.ackWaitMs ?? TOPOLOGY_DEFAULTS.ackWaitMs,
      maxDeliver: own.maxDeliver ?? options.maxDeliver ?? TOPOLOGY_DEFAULTS.maxDeliver,
      backoffMs: own.backoffMs ?? options.backoffMs,
    };
    return { lane, consumer, stream: streamConfig(lane, duplicateWindowMs, maxMsgSize), config: consumerConfig(lane, consumer, settings) };
  });

  const streams = {} as Record<Lane, StreamInfo>;
  const consumers = {} as Record<ConsumerName, ConsumerInfo>;
  await Promise.all(
    plan.map(async ({ lane, consumer, stream, config }) => {
      streams[lane] = await upsertStream(jsm, stream);
      consumers[consumer] = await jsm.consumers.add(stream.name, config);
    }),
  );
  // Before any job can run, so no advisory is published while nothing keeps it.
  await upsertStream(jsm, deadLetterStreamConfig(duplicateWindowMs));
  await jsm.consumers.add(STREAMS.deadLetters, deadLetterConsumerConfig(options.ackWaitMs ?? TOPOLOGY_DEFAULTS.ackWaitMs));
  const kv = await new Kvm(nc).create(JOBS_KV_BUCKET, { storage: StorageType.File, history: 1 });
  return { streams, consumers, kv, maxMsgSize };
}

/** The job-state bucket; ensureTopology must have created it. */
export function openJobsKv(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).open(JOBS_KV_BUCKET);
}
