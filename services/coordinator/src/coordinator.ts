import { checkJobLocations } from '@safesift/core/cluster/location-policy.ts';
import { runWorkLoop, type Outcome } from '@safesift/core/bus/work-loop.ts';
import { CONSUMERS, STREAMS } from '@safesift/core/bus/topology.ts';
import { decodeJson, jobNotice } from '@safesift/core/cluster/bus-messages.ts';
import type { ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { jobContext } from '@safesift/core/cluster/job-context.ts';
import { now } from '@safesift/core/cluster/job-records.ts';
import { isPermanent, messageOf } from '@safesift/core/cluster/failure-kind.ts';
import type { Logger } from '@safesift/core/cluster/logger.ts';
import { processMetrics } from '@safesift/core/observability/metrics.ts';
import { planJob, type PlanSettings } from './plan-job.ts';

/**
 * The coordinator: takes submitted jobs one at a time from the jobs stream and plans each
 * (anchor features, then the corpus as numbered batches). The job message is acked only when
 * every batch is published, so a coordinator that dies mid-job hands the job to its successor.
 */
export async function runCoordinator(conn: ClusterConnection, settings: PlanSettings, signal: AbortSignal, log: Logger): Promise<void> {
  const metrics = settings.metrics ?? processMetrics('coordinator');
  log.info({ nats: conn.description }, 'coordinator ready');
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
        const plan = await planJob(conn, job, ctx, { ...settings, metrics }, log);
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
  log.info('coordinator stopped');
}
