import { runWorkLoop, type Outcome } from '../../../shared/src/bus/work-loop.ts';
import { CONSUMERS, STREAMS } from '../../../shared/src/bus/topology.ts';
import { decodeJson, jobNotice } from '../../../shared/src/cluster/bus-messages.ts';
import type { ClusterConnection } from '../../../shared/src/cluster/cluster-connection.ts';
import { jobContext } from '../../../shared/src/cluster/job-context.ts';
import { now } from '../../../shared/src/cluster/job-records.ts';
import { isPermanent, messageOf } from '../../../shared/src/cluster/failure-kind.ts';
import type { Logger } from '../../../shared/src/cluster/logger.ts';
import { processMetrics } from '../../../shared/src/observability/metrics.ts';
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
        const plan = await planJob(conn, jobContext(record, conn.s3), ctx, { ...settings, metrics }, log);
        log.info({ job: jobId, state: plan.state }, 'job handled');
        if (plan.state === 'published' || plan.state === 'cancelled' || plan.state === 'failed') metrics.jobPlanned(plan.state);
        return { kind: 'ack' };
      } catch (error) {
        if (!isPermanent(error)) throw error;
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
