import { checkJobLocations } from '@safesift/core/cluster/location-policy.ts';
import { hostname } from 'node:os';
import type { JsMsg } from '@nats-io/jetstream';
import { CONSUMERS, resultSubject, STREAMS } from '@safesift/core/bus/topology.ts';
import { runWorkLoop, type Outcome } from '@safesift/core/bus/work-loop.ts';
import { BATCH_HEADERS, encodeJson, resultMessageId, type ResultNotice } from '@safesift/core/cluster/bus-messages.ts';
import type { ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { jobContext, type JobContext } from '@safesift/core/cluster/job-context.ts';
import { isPermanent, messageOf } from '@safesift/core/cluster/failure-kind.ts';
import type { Logger } from '@safesift/core/cluster/logger.ts';
import { workKeys } from '@safesift/core/cluster/work-layout.ts';
import { encodeBatchResult } from '@safesift/core/distributed/batch-result-codec.ts';
import { CorruptBatchError } from '@safesift/core/distributed/corrupt-batch-error.ts';
import { decodeRecordBatch } from '@safesift/core/distributed/record-batch-codec.ts';
import { processMetrics, type ServiceMetrics } from '@safesift/core/observability/metrics.ts';
import { JobScorer } from './job-scorer.ts';

export interface WorkerSettings {
  cacheDir: string;
  threads?: number;
  /** Name in results and logs (default host:pid). */
  name?: string;
  /** Where batches, examples and feature time are counted (default this process's worker metrics). */
  metrics?: ServiceMetrics;
}

/** How long a worker trusts what it knows about a job being open. */
const CANCEL_CACHE_MS = 2000;

/**
 * A worker: pulls record batches one at a time, scores them, stores the result under the job's
 * work prefix and tells the reducer; the batch is acked only after that. A batch that cannot be
 * decoded is dead-lettered at once (retrying cannot fix it); other failures are retried with
 * backoff until max_deliver, after which the reducer's dead-letter watch accounts for the batch.
 */
export async function runWorker(conn: ClusterConnection, settings: WorkerSettings, signal: AbortSignal, log: Logger): Promise<void> {
  const name = settings.name ?? `${hostname()}:${process.pid}`;
  const metrics = settings.metrics ?? processMetrics('worker');
  // One job's model at a time: switching jobs closes the previous one, so memory stays bounded.
  let current: JobScorer | null = null;
  const cancelled = new Map<string, { value: boolean; at: number }>();
  const isClosed = async (jobId: string) => {
    const known = cancelled.get(jobId);
    if (known && (known.value || performance.now() - known.at < CANCEL_CACHE_MS)) return known.value;
    // A cancelled or already finished job: a late (redelivered) batch has nothing left to add.
    const reduce = await conn.jobs.get(jobId, 'reduce');
    const value = (reduce !== null && reduce.state !== 'running') || (await conn.jobs.isCancelled(jobId));
    cancelled.set(jobId, { value, at: performance.now() });
    return value;
  };
  const scorerFor = async (job: JobContext) => {
    if (current?.job.id === job.id) return current;
    const previous = current;
    current = null;
    try {
      current = await JobScorer.open(job, { cacheDir: settings.cacheDir, s3: conn.s3, ...(settings.threads ? { threads: settings.threads } : {}) }, previous);
    } catch (error) {
      await previous?.close(); // a no-op when it had already handed its model over
      throw error;
    }
    log.info({ job: job.id }, 'job model ready');
    return current;
  };

  const notify = async (job: JobContext, notice: ResultNotice) => {
    await conn.js.publish(resultSubject(job.id), encodeJson(notice), { msgID: resultMessageId(job.id, notice.batch) });
  };

  const deadLetter = async (job: JobContext, batch: number, deliveries: number, reason: string, seconds: () => number): Promise<Outcome> => {
    const key = workKeys.deadLetter(job.work, batch);
    await job.out.store.put(key, JSON.stringify({ batch, reason, deliveries, worker: name }));
    await notify(job, { jobId: job.id, batch, kind: 'dead-letter', key, records: 0, scored: 0, errors: 0, worker: name, reason });
    log.error({ job: job.id, batch, reason }, 'batch dead-lettered');
    metrics.batch('dead_letter', seconds());
    metrics.failure('permanent');
    return { kind: 'drop', reason };
  };

  const handle = async (msg: JsMsg): Promise<Outcome> => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const skipped = (outcome: Outcome): Outcome => {
      metrics.batch('skipped', seconds());
      return outcome;
    };
    const jobId = msg.headers?.get(BATCH_HEADERS.job) ?? '';
    const batch = Number(msg.headers?.get(BATCH_HEADERS.batch) ?? NaN);
    if (jobId === '' || !Number.isInteger(batch) || batch < 0) return skipped({ kind: 'drop', reason: `message on ${msg.subject} has no job/batch headers` });
    if (await isClosed(jobId)) return skipped({ kind: 'ack' });
    const record = await conn.jobs.get(jobId, 'spec');
    if (record === null) return skipped({ kind: 'drop', reason: `batch ${batch} of unknown job ${jobId}` });
    const job = jobContext(record, conn.s3);
    // The coordinator refuses such a job before planning it; a batch of one came around it.
    const refused = locationRefusal(jobId, job, conn);
    if (refused !== null) return skipped({ kind: 'drop', reason: refused });
    let decoded;
    try {
      decoded = decodeRecordBatch(msg.data);
      if (decoded.jobId !== jobId || decoded.batch !== batch) throw new CorruptBatchError(`body says job ${decoded.jobId} batch ${decoded.batch}, headers say job ${jobId} batch ${batch}`);
    } catch (error) {
      if (!(error instanceof CorruptBatchError)) throw error;
      // Retrying cannot repair a corrupt body: dead-letter it now, so the job can finish and say so.
      return deadLetter(job, batch, msg.info.deliveryCount, `corrupt batch: ${error.message}`, seconds);
    }
    let scorer: JobScorer;
    let result: Awaited<ReturnType<JobScorer['score']>>;
    try {
      scorer = await scorerFor(job);
      log.info({ job: jobId, batch, items: decoded.items.length, deliveries: msg.info.deliveryCount }, 'batch started');
      result = await scorer.score(batch, decoded.items, name);
    } catch (error) {
      // A model that cannot open, anchors that cannot be used: the same on every delivery and every
      // worker, so the batch is dead-lettered now instead of after max_deliver slow retries.
      if (!isPermanent(error)) throw error;
      return deadLetter(job, batch, msg.info.deliveryCount, `permanent failure: ${messageOf(error)}`, seconds);
    }
    const key = workKeys.result(job.work, batch);
    await job.out.store.put(key, encodeBatchResult(result, scorer.columns));
    await notify(job, { jobId, batch, kind: 'result', key, records: result.records, scored: result.scored, errors: result.errors.length, worker: name });
    log.info({ job: jobId, batch, scored: result.scored, errors: result.errors.length, ms: Math.round(result.featureMs) }, 'batch scored');
    metrics.batch('scored', seconds());
    metrics.examples(result.scored);
    metrics.featureSeconds(result.featureMs / 1000, scorer.device);
    return { kind: 'ack' };
  };

  log.info({ nats: conn.description, worker: name }, 'worker ready');
  try {
    await runWorkLoop(conn.js, {
      stream: STREAMS.batches,
      consumer: CONSUMERS.workers,
      signal,
      handler: async (msg) => {
        const started = performance.now();
        try {
          return await handle(msg);
        } catch (error) {
          metrics.batch('retried', (performance.now() - started) / 1000);
          metrics.failure(isPermanent(error) ? 'permanent' : 'transient');
          // A job that cannot be scored here (bad model, missing anchors) is retried with backoff
          // like any failure: max_deliver then dead-letters the batch instead of losing it.
          log.warn({ subject: msg.subject, deliveries: msg.info.deliveryCount, permanent: isPermanent(error), err: messageOf(error) }, 'batch failed');
          throw error;
        }
      },
      onError: (error) => log.debug({ err: messageOf(error) }, 'work loop error'),
    });
  } finally {
    await (current as JobScorer | null)?.close();
  }
  log.info('worker stopped');
}

function locationRefusal(jobId: string, job: JobContext, conn: ClusterConnection): string | null {
  try {
    checkJobLocations(jobId, job.audit, conn.locations);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}
