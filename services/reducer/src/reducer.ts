import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { checkJobLocations } from '@safesift/core/cluster/location-policy.ts';
import type { JsMsg } from '@nats-io/jetstream';
import { runDeadLetterLoop, type DeadLetter as StoredDeadLetter } from '@safesift/core/bus/dead-letters.ts';
import { batchSubject, CONSUMERS, STREAMS } from '@safesift/core/bus/topology.ts';
import { runWorkLoop, sleep, type Outcome } from '@safesift/core/bus/work-loop.ts';
import { BATCH_HEADERS, decodeJson, jobNotice, resultNotice } from '@safesift/core/cluster/bus-messages.ts';
import type { ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { jobContext, type JobContext } from '@safesift/core/cluster/job-context.ts';
import { now, type ReduceRecord, type SpecRecord } from '@safesift/core/cluster/job-records.ts';
import { isPermanent, messageOf } from '@safesift/core/cluster/failure-kind.ts';
import type { Logger } from '@safesift/core/cluster/logger.ts';
import { workKeys } from '@safesift/core/cluster/work-layout.ts';
import { processMetrics, type ServiceMetrics } from '@safesift/core/observability/metrics.ts';
import { BatchLedger } from './batch-ledger.ts';
import { finalizeJob } from './finalize-job.ts';

export interface ReducerSettings {
  /** How often unfinished jobs are checked (plans completed, cancellations). */
  tickMs?: number;
  /** Rows per scores part. */
  rowsPerPart?: number;
  /** Where accounted batches and finished jobs are counted (default this process's reducer metrics). */
  metrics?: ServiceMetrics;
}

interface TrackedJob {
  job: JobContext;
  spec: SpecRecord;
  ledger: BatchLedger;
  lastProgressWrite: number;
  /** When the ledger was last rebuilt from the stored results, and when a notice last added to it. */
  lastReload: number;
  lastNotice: number;
}

const PROGRESS_WRITE_MS = 250;
/** A job short of batches re-lists its stored results after this long without news (replicas share the notices). */
const LEDGER_RELOAD_MS = 3000;
/** A replica that claimed a job's outputs and went silent this long is taken over. */
const FINALIZE_CLAIM_STALE_MS = 30 * 60_000;

/**
 * The reducer: accounts for every batch of every job (results and dead letters, each counted
 * once by batch number) and, when a job's plan is complete and every batch is accounted for,
 * writes its final outputs. Its state is the stored result objects, so it can restart anywhere.
 */
export async function runReducer(conn: ClusterConnection, settings: ReducerSettings, signal: AbortSignal, log: Logger): Promise<void> {
  const metrics = settings.metrics ?? processMetrics('reducer');
  // Names this replica in finalize claims.
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const tracked = new Map<string, TrackedJob>();
  const finished = new Set<string>();
  const locks = new Map<string, Promise<unknown>>();
  // One operation per job at a time (notices, dead letters and ticks interleave).
  const withJob = <T>(jobId: string, fn: () => Promise<T>): Promise<T> => {
    const run = (locks.get(jobId) ?? Promise.resolve()).then(fn, fn);
    locks.set(jobId, run.catch(() => undefined));
    return run;
  };

  const track = async (jobId: string): Promise<TrackedJob | null> => {
    const known = tracked.get(jobId);
    if (known) return known;
    const spec = await conn.jobs.get(jobId, 'spec');
    if (spec === null) return null;
    const job = jobContext(spec, conn.s3);
    // Never write where the cluster's policy does not allow (the coordinator refused the job).
    try {
      checkJobLocations(jobId, job.audit, conn.locations);
    } catch (error) {
      log.warn({ job: jobId, err: (error as Error).message }, 'results of a refused job ignored');
      return null;
    }
    const entry = { job, spec, ledger: await BatchLedger.load(job), lastProgressWrite: 0, lastReload: performance.now(), lastNotice: 0 };
    tracked.set(jobId, entry);
    return entry;
  };

  const progressRecord = (t: TrackedJob, state: ReduceRecord['state'], extra: Partial<ReduceRecord> = {}): ReduceRecord => ({
    state,
    accounted: t.ledger.accounted,
    scored: t.ledger.scored,
    errors: t.ledger.errors,
    deadLetters: [],
    updatedAt: now(),
    ...extra,
  });

  const writeProgress = async (t: TrackedJob, force = false) => {
    if (!force && performance.now() - t.lastProgressWrite < PROGRESS_WRITE_MS) return;
    t.lastProgressWrite = performance.now();
    await conn.jobs.putReduce(t.job.id, progressRecord(t, 'running'));
  };

  const settle = async (jobId: string) => {
    if (finished.has(jobId)) return;
    const existing = await conn.jobs.get(jobId, 'reduce');
    if (existing && existing.state !== 'running') {
      finished.add(jobId);
      tracked.delete(jobId);
      return;
    }
    const t = await track(jobId);
    if (t === null) return;
    const plan = await conn.jobs.get(jobId, 'plan');
    if (await conn.jobs.isCancelled(jobId)) {
      await conn.jsm.streams.purge(STREAMS.batches, { filter: batchSubject(jobId) }).catch(() => undefined);
      await conn.jobs.putReduce(jobId, progressRecord(t, 'cancelled', { finishedAt: now() }));
      finish(jobId);
      metrics.jobFinished('cancelled');
      log.info({ job: jobId }, 'job cancelled');
      return;
    }
    if (plan?.state === 'failed') {
      await conn.jobs.putReduce(jobId, progressRecord(t, 'failed', { finishedAt: now(), error: plan.error ?? 'planning failed' }));
      finish(jobId);
      metrics.jobFinished('failed');
      return;
    }
    if (plan?.state !== 'published' || plan.batches === null) return;
    if (t.ledger.accounted < plan.batches) {
      // Another replica may have taken some of the notices: once they stop coming, the stored
      // results (the truth) are listed again; not while they flow, so a long job lists rarely.
      const quiet = performance.now() - Math.max(t.lastReload, t.lastNotice);
      if (quiet < LEDGER_RELOAD_MS) return;
      const reloaded = await BatchLedger.load(t.job);
      reloaded.scored = Math.max(reloaded.scored, t.ledger.scored);
      reloaded.errors = Math.max(reloaded.errors, t.ledger.errors);
      t.ledger = reloaded;
      t.lastReload = performance.now();
      if (t.ledger.accounted < plan.batches) return;
    }
    // Of several replicas, one writes the outputs; the others see its reduce record next time.
    if (!(await conn.jobs.claimFinalize(jobId, owner, FINALIZE_CLAIM_STALE_MS))) return;
    log.info({ job: jobId, batches: plan.batches }, 'every batch accounted for: writing outputs');
    try {
      const final = await finalizeJob(t.job, t.spec, plan, t.ledger, { s3: conn.s3, ...(settings.rowsPerPart ? { rowsPerPart: settings.rowsPerPart } : {}) });
      const state = final.failed === null ? 'complete' : 'failed';
      await conn.jobs.putReduce(jobId, {
        ...progressRecord(t, state, { finishedAt: now(), outputs: final.outputs, ...(final.failed === null ? {} : { error: final.failed }) }),
        scored: final.scored,
        errors: final.errors,
        deadLetters: final.deadLetters,
      });
      finish(jobId);
      metrics.jobFinished(state);
      await removeWork(t.job);
      log.info({ job: jobId, scored: final.scored, errors: final.errors, deadLetters: final.deadLetters.length }, `job ${state}`);
    } catch (error) {
      if (!isPermanent(error)) throw error;
      await conn.jobs.putReduce(jobId, progressRecord(t, 'failed', { finishedAt: now(), error: messageOf(error) }));
      finish(jobId);
      metrics.failure('permanent');
      metrics.jobFinished('failed');
    }
  };
  const finish = (jobId: string) => {
    finished.add(jobId);
    tracked.delete(jobId);
  };

  const onNotice = async (msg: JsMsg): Promise<Outcome> => {
    const started = performance.now();
    const notice = decodeJson(resultNotice, msg.data, `result notice on ${msg.subject}`);
    await withJob(notice.jobId, async () => {
      if (finished.has(notice.jobId)) return;
      const t = await track(notice.jobId);
      if (t === null) return;
      if (t.ledger.add(notice.batch, notice.kind === 'dead-letter')) {
        t.lastNotice = performance.now();
        log.debug({ job: notice.jobId, batch: notice.batch, kind: notice.kind }, 'batch accounted');
        t.ledger.scored += notice.scored;
        t.ledger.errors += notice.errors;
        metrics.batch(notice.kind === 'dead-letter' ? 'dead_letter' : 'accounted', (performance.now() - started) / 1000);
      }
      await writeProgress(t);
      await settle(notice.jobId);
    });
    return { kind: 'ack' };
  };

  // Batches that used up max_deliver: record a dead letter, so the job can still finish.
  const onDeadBatch = async (dead: StoredDeadLetter) => {
    const jobId = dead.headers?.get(BATCH_HEADERS.job) ?? '';
    const batch = Number(dead.headers?.get(BATCH_HEADERS.batch) ?? NaN);
    if (jobId === '' || !Number.isInteger(batch)) return;
    await withJob(jobId, async () => {
      const t = await track(jobId);
      if (t === null || finished.has(jobId)) return;
      const reason = `failed ${dead.deliveries} times (max_deliver); see the workers' logs`;
      await t.job.out.store.put(workKeys.deadLetter(t.job.work, batch), JSON.stringify({ batch, reason, deliveries: dead.deliveries }));
      if (t.ledger.add(batch, true)) metrics.batch('dead_letter');
      log.error({ job: jobId, batch, deliveries: dead.deliveries }, 'batch dead-lettered');
      await writeProgress(t, true);
      await settle(jobId);
    });
  };
  // A job the coordinator could not plan in max_deliver tries: it ends failed, not "planning" forever.
  const onDeadJob = async (dead: StoredDeadLetter) => {
    let jobId: string;
    try {
      jobId = decodeJson(jobNotice, dead.data, `job notice ${dead.seq}`).jobId;
    } catch (error) {
      log.warn({ seq: dead.seq, err: messageOf(error) }, 'unreadable job notice dead-lettered');
      return;
    }
    await withJob(jobId, async () => {
      if (finished.has(jobId)) return;
      const existing = await conn.jobs.get(jobId, 'reduce');
      if (existing && existing.state !== 'running') return;
      const plan = await conn.jobs.get(jobId, 'plan');
      if (plan?.state === 'published' || plan?.state === 'failed' || plan?.state === 'cancelled') return; // settled elsewhere
      const last = plan?.lastError ? `; last error: ${plan.lastError}` : '';
      const error = `planning failed ${dead.deliveries} times (max_deliver)${last}`;
      await conn.jobs.putReduce(jobId, {
        state: 'failed',
        accounted: existing?.accounted ?? 0,
        scored: existing?.scored ?? 0,
        errors: existing?.errors ?? 0,
        deadLetters: [],
        updatedAt: now(),
        finishedAt: now(),
        error,
      });
      finish(jobId);
      metrics.jobFinished('failed');
      log.error({ job: jobId, deliveries: dead.deliveries }, error);
    });
  };
  const onDead = async (dead: StoredDeadLetter) => {
    if (dead.stream === STREAMS.batches) await onDeadBatch(dead);
    else if (dead.stream === STREAMS.jobs) await onDeadJob(dead);
    // A result notice that kept failing: the result itself is stored, and the ledger reload finds it.
    else log.warn({ stream: dead.stream, seq: dead.seq }, 'notice dead-lettered; the stored results are re-listed');
  };
  const deadLetters = runDeadLetterLoop(conn.js, conn.jsm, { signal, onError: (e) => log.warn({ err: messageOf(e) }, 'dead letter failed; it will be retried') }, onDead);

  const tick = async () => {
    for (const jobId of await conn.jobs.jobIds()) {
      if (signal.aborted) return;
      if (!finished.has(jobId)) await withJob(jobId, () => settle(jobId));
    }
  };
  const tickMs = settings.tickMs ?? 1000;
  const ticking = (async () => {
    while (!signal.aborted) {
      await tick().catch((error: unknown) => log.warn({ err: messageOf(error) }, 'reducer check failed; retrying'));
      await sleep(tickMs, signal);
    }
  })();

  log.info({ nats: conn.description }, 'reducer ready');
  try {
    await runWorkLoop(conn.js, {
      stream: STREAMS.results,
      consumer: CONSUMERS.reducer,
      signal,
      handler: onNotice,
      onError: (error, msg) => {
        if (msg) metrics.failure(isPermanent(error) ? 'permanent' : 'transient');
        log.warn({ err: messageOf(error) }, 'result notice failed; it will be retried');
      },
    });
  } finally {
    await ticking;
    await deadLetters;
  }
  log.info('reducer stopped');
}

/** The job's intermediate files are no longer needed once its outputs are written. */
async function removeWork(job: JobContext): Promise<void> {
  for await (const info of job.out.store.list(`${job.work}/`)) await job.out.store.delete(info.key);
}
