import { checkJobLocations } from '@safesift/core/cluster/location-policy.ts';
import { runWorkLoop, type Outcome } from '@safesift/core/bus/work-loop.ts';
import { CONSUMERS, STREAMS } from '@safesift/core/bus/topology.ts';
import { decodeJson, jobNotice } from '@safesift/core/cluster/bus-messages.ts';
import type { ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { jobContext } from '@safesift/core/cluster/job-context.ts';
import { now } from '@safesift/core/cluster/job-records.ts';
import { isPermanent, messageOf } from '@safesift/core/cluster/failure-kind.ts';
import type { Logger } from '@safesift/core/cluster/logger.ts';
import { processMetrics, type ServiceMetrics } from '@safesift/core/observability/metrics.ts';
import { ConfigError } from '@safesift/core/errors.ts';
import { planJob, type PlanSettings } from './plan-job.ts';

export interface CoordinatorSettings extends PlanSettings {
  /** Jobs planned at once (default 4); their anchor steps still take turns (one model in memory). */
  maxConcurrentJobs?: number;
}

const DEFAULT_MAX_CONCURRENT_JOBS = 4;

/**
 * The coordinator: takes submitted jobs from the jobs stream, several at once, and plans each
 * (anchor features, then the corpus as numbered batches, each job publishing its fair share of
 * the pending window). The job message is acked only when every batch is published, so a
 * coordinator that dies mid-job hands the job to its successor.
 */
export async function runCoordinator(conn: ClusterConnection, settings: CoordinatorSettings, signal: AbortSignal, log: Logger): Promise<void> {
  const metrics = settings.metrics ?? processMetrics('coordinator');
  const slots = settings.maxConcurrentJobs ?? DEFAULT_MAX_CONCURRENT_JOBS;
  if (!Number.isInteger(slots) || slots < 1) throw new ConfigError(`--max-concurrent-jobs must be a positive integer, got ${slots}`);
  const withModel = oneAtATime();
  log.info({ nats: conn.description, maxConcurrentJobs: slots }, 'coordinator ready');
  await Promise.all(Array.from({ length: slots }, () => planLoop(conn, { ...settings, withModel, metrics }, signal, log)));
  log.info('coordinator stopped');
}

/** Serialises the steps given to it: each starts when the previous one has settled. */
function oneAtATime(): <T>(step: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return <T>(step: () => Promise<T>) => {
    const run = last.then(step, step);
    last = run.catch(() => undefined);
    return run;
  };
}

/** One job at a time from the jobs stream; runCoordinator runs several of these side by side. */
async function planLoop(conn: ClusterConnection, settings: PlanSettings & { metrics: ServiceMetrics }, signal: AbortSignal, log: Logger): Promise<void> {
  const { metrics } = settings;
  await runWorkLoop(conn.js, {
    stream: STREAMS.jobs,
    consumer: CONSUMERS.coordinator,
    signal,
    onError: (error, msg) => {
      if (msg) metrics.failure(isPermanent(error) ? 'permanent' : 'transient');
      log.warn({ err: messageOf(error) }, 'job message failed; it will be retried');
    },
    handler: async (msg, ctx): Promise<Outcome> => {
      const { jobId } = decodeJson(jobNotice, msg.data, 'job notice');
      const record = await conn.jobs.get(jobId, 'spec');
      if (record === null) return { kind: 'drop', reason: `job ${jobId} has no stored spec` };
      if (await conn.jobs.isCancelled(jobId)) return { kind: 'ack' };
      try {
        const job = jobContext(record, conn.s3);
        checkJobLocations(jobId, job.audit, conn.locations);
        const plan = await planJob(conn, job, ctx, settings, log);
        log.info({ job: jobId, state: plan.state }, 'job handled');
        if (plan.state === 'published' || plan.state === 'cancelled' || plan.state === 'failed') metrics.jobPlanned(plan.state);
        return { kind: 'ack' };
      } catch (error) {
        if (!isPermanent(error)) {
          // Shown by `status` while the job is retried; the reducer quotes it if retries run out.
          const lastError = `delivery ${ctx.deliveryCount}: ${messageOf(error)}`;
          if ((await conn.jobs.get(jobId, 'plan').catch(() => null)) !== null) {
            await conn.jobs.updatePlan(jobId, (p) => ({ ...p!, lastError })).catch(() => undefined);
          }
          throw error;
        }
        log.error({ job: jobId, err: messageOf(error) }, 'job failed');
        metrics.failure('permanent');
        metrics.jobPlanned('failed');
        await conn.jobs.updatePlan(jobId, (p) => ({
          ...(p ?? { published: 0, batches: null, records: 0, anchorErrors: [], startedAt: now(), updatedAt: now() }),
          state: 'failed',
          error: messageOf(error),
        }));
        return { kind: 'drop', reason: messageOf(error) };
      }
    },
  });
}
