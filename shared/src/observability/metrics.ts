import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CONSUMERS, STREAMS } from '../bus/topology.ts';
import { RateWindow } from './rate-window.ts';

export type ServiceName = 'coordinator' | 'worker' | 'reducer';
/**
 * What happened to one message. Workers: scored | dead_letter (corrupt, never retried) | retried
 * (failed, redelivered with backoff) | skipped (job closed or unknown, malformed message).
 * Coordinator: published. Reducer: accounted (a result) | dead_letter (accounted as dead).
 */
export type BatchOutcome = 'scored' | 'dead_letter' | 'retried' | 'skipped' | 'published' | 'accounted';
export type FailureKind = 'permanent' | 'transient';
export type FeatureDevice = 'cpu' | 'gpu';
export type FinishedJobState = 'complete' | 'failed' | 'cancelled';
export type PlannedJobState = 'published' | 'cancelled' | 'failed';

/** Every metric safesift exports, documented once: names, types and meanings live only here. */
export const METRICS = {
  batches: { name: 'safesift_batches_total', type: 'counter', help: 'Messages handled, by service and outcome (worker: scored|dead_letter|retried|skipped; coordinator: published; reducer: accounted|dead_letter)' },
  batchDuration: { name: 'safesift_batch_duration_seconds', type: 'histogram', help: 'Time to handle one batch message, by service and outcome' },
  examples: { name: 'safesift_examples_total', type: 'counter', help: 'Examples scored (workers)' },
  examplesPerSecond: { name: 'safesift_examples_per_second', type: 'gauge', help: 'Examples scored per second over the last 60 s (workers)' },
  failures: { name: 'safesift_failures_total', type: 'counter', help: 'Message handling failures: permanent (bad job, corrupt batch) or transient (retried)' },
  featureSeconds: { name: 'safesift_feature_seconds_total', type: 'counter', help: 'Seconds spent computing features, by device (gpu when the first execution provider is cuda or tensorrt, else cpu)' },
  queueLag: { name: 'safesift_queue_lag', type: 'gauge', help: 'Messages waiting for or held by a JetStream consumer (num_pending + num_ack_pending), refreshed on scrape' },
  jobsPlanned: { name: 'safesift_jobs_planned_total', type: 'counter', help: 'Jobs the coordinator finished planning, by resulting plan state (published|cancelled|failed)' },
  jobsFinished: { name: 'safesift_jobs_finished_total', type: 'counter', help: 'Jobs the reducer finished, by final state (complete|failed|cancelled)' },
} as const;

export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((m) => m.name);

/** The work queue each service consumes: the one whose lag it reports. */
export const SERVICE_QUEUES: Record<ServiceName, { stream: string; consumer: string }> = {
  coordinator: { stream: STREAMS.jobs, consumer: CONSUMERS.coordinator },
  worker: { stream: STREAMS.batches, consumer: CONSUMERS.workers },
  reducer: { stream: STREAMS.results, consumer: CONSUMERS.reducer },
};

/** The outcomes and states each service reports, pre-set to 0 so rate() works from the first scrape. */
const OWN_SERIES: Record<ServiceName, { outcomes: BatchOutcome[]; finished: FinishedJobState[]; planned: PlannedJobState[]; features: boolean }> = {
  worker: { outcomes: ['scored', 'dead_letter', 'retried', 'skipped'], finished: [], planned: [], features: true },
  coordinator: { outcomes: ['published'], finished: [], planned: ['published', 'cancelled', 'failed'], features: false },
  reducer: { outcomes: ['accounted', 'dead_letter'], finished: ['complete', 'failed', 'cancelled'], planned: [], features: false },
};

/** The one JetStreamManager call the lag gauge needs (structural, so any jsm fits). */
export interface ConsumerInfoSource {
  consumers: { info(stream: string, consumer: string): Promise<{ num_pending: number; num_ack_pending: number }> };
}

const BATCH_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** A scrape never waits longer than this for NATS; the last known lag is kept instead. */
const LAG_TIMEOUT_MS = 2_000;

export interface ServiceMetrics {
  readonly service: string;
  readonly registry: Registry;
  /** One handled message; seconds (when known) also goes to the duration histogram. */
  batch(outcome: BatchOutcome, seconds?: number): void;
  examples(count: number): void;
  featureSeconds(seconds: number, device?: FeatureDevice): void;
  failure(kind: FailureKind): void;
  jobPlanned(state: PlannedJobState): void;
  jobFinished(state: FinishedJobState): void;
  /** Reports this consumer's lag on every scrape (until untrack is called). */
  trackQueueLag(jsm: ConsumerInfoSource, stream: string, consumer: string): () => void;
  /** The Prometheus text exposition (same as registry.metrics()). */
  metrics(): Promise<string>;
  readonly contentType: string;
}

/**
 * A fresh registry with safesift's metrics and prom-client's default process metrics (CPU,
 * memory, event-loop lag, GC). Long-running processes share one through processMetrics().
 */
export function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const batches = new Counter({ ...doc('batches'), labelNames: ['service', 'outcome'] as const, registers });
  const duration = new Histogram({ ...doc('batchDuration'), labelNames: ['service', 'outcome'] as const, buckets: BATCH_BUCKETS, registers });
  const examples = new Counter({ ...doc('examples'), labelNames: ['service'] as const, registers });
  const window = new RateWindow(60);
  new Gauge({
    ...doc('examplesPerSecond'),
    labelNames: ['service'] as const,
    registers,
    collect() {
      this.set({ service }, window.perSecond());
    },
  });
  const failures = new Counter({ ...doc('failures'), labelNames: ['service', 'kind'] as const, registers });
  const features = new Counter({ ...doc('featureSeconds'), labelNames: ['service', 'device'] as const, registers });
  const lagSources = new Map<string, { jsm: ConsumerInfoSource; stream: string; consumer: string }>();
  new Gauge({
    ...doc('queueLag'),
    labelNames: ['stream', 'consumer'] as const,
    registers,
    async collect() {
      await Promise.all(
        [...lagSources.values()].map(async ({ jsm, stream, consumer }) => {
          const info = await withTimeout(jsm.consumers.info(stream, consumer), LAG_TIMEOUT_MS).catch(() => null);
          if (info) this.set({ stream, consumer }, info.num_pending + info.num_ack_pending);
        }),
      );
    },
  });
  const planned = new Counter({ ...doc('jobsPlanned'), labelNames: ['state'] as const, registers });
  const finished = new Counter({ ...doc('jobsFinished'), labelNames: ['state'] as const, registers });

  const own = OWN_SERIES[service as ServiceName];
  if (own) {
    for (const outcome of own.outcomes) batches.inc({ service, outcome }, 0);
    for (const state of own.planned) planned.inc({ state }, 0);
    for (const state of own.finished) finished.inc({ state }, 0);
    if (own.features) features.inc({ service, device: 'cpu' }, 0);
  }
  examples.inc({ service }, 0);
  for (const kind of ['permanent', 'transient'] as const) failures.inc({ service, kind }, 0);

  return {
    service,
    registry,
    batch(outcome, seconds) {
      batches.inc({ service, outcome });
      if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) duration.observe({ service, outcome }, seconds);
    },
    examples(count) {
      if (!(count > 0)) return;
      examples.inc({ service }, count);
      window.add(count);
    },
    featureSeconds(seconds, device = 'cpu') {
      if (seconds > 0 && Number.isFinite(seconds)) features.inc({ service, device }, seconds);
    },
    failure(kind) {
      failures.inc({ service, kind });
    },
    jobPlanned(state) {
      planned.inc({ state });
    },
    jobFinished(state) {
      finished.inc({ state });
    },
    trackQueueLag(jsm, stream, consumer) {
      const key = `${stream}\u0000${consumer}`;
      lagSources.set(key, { jsm, stream, consumer });
      return () => {
        lagSources.delete(key);
      };
    },
    metrics: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

const shared = new Map<string, ServiceMetrics>();

/** This process's metrics for a service: runService serves them, the loops record into them. */
export function processMetrics(service: string): ServiceMetrics {
  let metrics = shared.get(service);
  if (!metrics) shared.set(service, (metrics = createServiceMetrics(service)));
  return metrics;
}

function doc(key: keyof typeof METRICS): { name: string; help: string } {
  return { name: METRICS[key].name, help: METRICS[key].help };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
