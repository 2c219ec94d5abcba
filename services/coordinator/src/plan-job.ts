import { rankingColumnFor } from '@safesift/core/audit/ranking-column.ts';
import { DirectionScorer } from '@safesift/core/scoring/direction-score.ts';
import { headers } from '@nats-io/transport-node';
import { computeAnchorFeatures } from '@safesift/core/audit/anchor-features.ts';
import { buildSummary } from '@safesift/core/audit/audit-summary.ts';
import { openAuditModel } from '@safesift/core/audit/audit-model.ts';
import { batchSubject, STREAMS, SUBJECT_ROOTS } from '@safesift/core/bus/topology.ts';
import type { WorkContext } from '@safesift/core/bus/work-loop.ts';
import { BATCH_HEADERS, batchMessageId } from '@safesift/core/cluster/bus-messages.ts';
import type { ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import type { JobContext } from '@safesift/core/cluster/job-context.ts';
import { now, type PlanRecord } from '@safesift/core/cluster/job-records.ts';
import type { Logger } from '@safesift/core/cluster/logger.ts';
import { workKeys } from '@safesift/core/cluster/work-layout.ts';
import type { CorpusItem, RecordError } from '@safesift/core/corpus/example.ts';
import { readCorpusWith } from '@safesift/core/corpus/read-corpus.ts';
import { encodeAnchorFeatures } from '@safesift/core/distributed/anchor-features-codec.ts';
import { encodeRecordBatch, recordBatchOverheadBytes } from '@safesift/core/distributed/record-batch-codec.ts';
import { ConfigError, InputError } from '@safesift/core/errors.ts';
import { openLocation } from '@safesift/core/storage/location.ts';
import { nameAnchorSets } from '@safesift/core/scoring/anchor-sets.ts';
import { storageByteSources } from '@safesift/core/storage/byte-sources.ts';
import { materializeModel } from '@safesift/core/storage/model-mirror.ts';
import type { ServiceMetrics } from '@safesift/core/observability/metrics.ts';
import { InputBatcher } from './input-batcher.ts';
import { cacheNamespace, featureCacheKey } from '@safesift/core/feature-cache/cache-key.ts';
import { FeatureCache } from '@safesift/core/feature-cache/feature-cache.ts';

export interface PlanSettings {
  cacheDir: string;
  threads?: number;
  /**
   * At most this many batches wait in the stream (default 1000), shared evenly by the jobs being
   * published: publishing keeps pace with the workers, so the stream stays small whatever the
   * corpus size, and a small job queues behind a few of a large job's batches, not all of them.
   */
  maxPendingBatches?: number;
  /**
   * Runs the anchor-feature step, which holds the model in memory; runCoordinator passes one that
   * lets one job at a time in, so planning several jobs at once never holds several models.
   */
  withModel?: <T>(step: () => Promise<T>) => Promise<T>;
  /** Where published batches are counted (runCoordinator passes this process's coordinator metrics). */
  metrics?: ServiceMetrics;
}

const DEFAULT_MAX_PENDING_BATCHES = 1000;
const PENDING_POLL_MS = 200;

/** Room left in a message for NATS headers and Arrow framing beyond the batch's own estimate. */
const MESSAGE_HEADROOM_BYTES = 8 * 1024;
/** How often publishing checks whether the job was cancelled. */
const CANCEL_CHECK_MS = 1000;

/**
 * Plans one job: anchor features once (stored for every worker), then every input read in order
 * and published as numbered batches. Safe to re-run after a crash: anchors already stored are
 * kept, batches below the stored `published` mark are skipped, and the message id of each batch
 * makes JetStream drop a second publish of the ones in between.
 */
export async function planJob(conn: ClusterConnection, job: JobContext, ctx: WorkContext, settings: PlanSettings, log: Logger): Promise<PlanRecord> {
  const { jobs } = conn;
  let plan = await jobs.updatePlan(job.id, (p) => p ?? { state: 'planning', published: 0, batches: null, records: 0, anchorErrors: [], startedAt: now(), updatedAt: now() });
  if (plan.state !== 'planning') return plan;
  const opener = storageByteSources(conn.s3);
  plan = await pinInputVersions(conn, job, plan);

  if ((await job.out.store.head(workKeys.anchors(job.work))) === null) {
    const anchors = () => computeSharedAnchors(conn, job, settings, log);
    const anchorErrors = await (settings.withModel ? settings.withModel(anchors) : anchors());
    plan = await jobs.updatePlan(job.id, (p) => ({ ...(p ?? plan), anchorErrors }));
    ctx.working();
  }

  const maxBytes = conn.maxMsgSize - recordBatchOverheadBytes(job.id) - MESSAGE_HEADROOM_BYTES;
  const batcher = new InputBatcher(job.spec.batchExamples, maxBytes);
  const resumeFrom = plan.published;
  let batch = 0;
  let records = 0;
  let lastCancelCheck = performance.now();
  const publish = async (items: CorpusItem[]) => {
    const index = batch++;
    if (index < resumeFrom) return;
    await waitForRoom(conn, job.id, settings.maxPendingBatches ?? DEFAULT_MAX_PENDING_BATCHES, ctx);
    const started = performance.now();
    const hdrs = headers();
    hdrs.set(BATCH_HEADERS.job, job.id);
    hdrs.set(BATCH_HEADERS.batch, String(index));
    const ack = await conn.js.publish(batchSubject(job.id), encodeRecordBatch({ jobId: job.id, batch: index, items }), { msgID: batchMessageId(job.id, index), headers: hdrs });
    if (ack.duplicate) log.info({ job: job.id, batch: index }, 'batch already published (deduplicated)');
    else settings.metrics?.batch('published', (performance.now() - started) / 1000);
    plan = await jobs.updatePlan(job.id, (p) => ({ ...(p ?? plan), published: index + 1, records }));
    if (performance.now() - lastCancelCheck > CANCEL_CHECK_MS) {
      lastCancelCheck = performance.now();
      if (await jobs.isCancelled(job.id)) throw new JobCancelled();
    }
  };

  try {
    for (const source of job.audit.data) {
      try {
        for await (const item of readCorpusWith(opener, source, { shape: job.audit.recordShape, limit: job.audit.limit, maxRecordBytes: job.audit.maxRecordBytes })) {
          records++;
          const full = batcher.add(item);
          if (full) await publish(full);
        }
      } catch (error) {
        // An unreadable file is reported like a bad record, inside a batch, so it is accounted for.
        if (!(error instanceof InputError)) throw error;
        const full = batcher.add({ kind: 'error', error: { source: error.source, row: error.row, reason: error.reason } });
        if (full) await publish(full);
      }
    }
    const last = batcher.flush();
    if (last) await publish(last);
  } catch (error) {
    if (error instanceof JobCancelled) {
      log.info({ job: job.id }, 'job cancelled while publishing');
      return jobs.updatePlan(job.id, (p) => ({ ...(p ?? plan), state: 'cancelled' }));
    }
    throw error;
  }
  plan = await jobs.updatePlan(job.id, (p) => {
    const { lastError: _retried, ...rest } = p ?? plan;
    return { ...rest, state: 'published', batches: batch, published: batch, records };
  });
  log.info({ job: job.id, batches: batch, records }, 'job planned');
  return plan;
}

class JobCancelled extends Error {}

/**
 * Waits while the job has its fair share or more of the pending window in the stream: `max`
 * split evenly over the jobs with batches waiting (this one counted), at least one each.
 */
async function waitForRoom(conn: ClusterConnection, jobId: string, max: number, ctx: WorkContext): Promise<void> {
  const own = batchSubject(jobId);
  for (;;) {
    const info = await conn.jsm.streams.info(STREAMS.batches, { subjects_filter: `${SUBJECT_ROOTS.batches}.>` });
    const pending = info.state.subjects ?? {};
    if (fairShare(max, pending, own) > (pending[own] ?? 0)) return;
    ctx.working();
    await new Promise((resolve) => setTimeout(resolve, PENDING_POLL_MS));
  }
}

/** A job's share of `max` pending batches, given each job subject's count of waiting batches. */
export function fairShare(max: number, pending: Record<string, number>, own: string): number {
  const others = Object.entries(pending).filter(([subject, n]) => subject !== own && n > 0).length;
  return Math.max(1, Math.floor(max / (others + 1)));
}

/** Anchor features and the model part of summary.json, computed once per job by the coordinator. */
async function computeSharedAnchors(conn: ClusterConnection, job: JobContext, settings: PlanSettings, log: Logger): Promise<RecordError[]> {
  const started = performance.now();
  const modelDir = job.audit.model === 'tiny' ? 'tiny' : (await materializeModel(job.audit.model, { cacheDir: settings.cacheDir, s3: conn.s3 })).dir;
  const opened = await openAuditModel(modelDir, { ...job.audit, ...(settings.threads ? { threads: settings.threads } : {}) });
  const audit = { ...job.audit, projection: opened.projection };
  try {
    const anchorErrors: RecordError[] = [];
    const specs = nameAnchorSets(job.audit.harmful, job.audit.safe, job.audit.weights);
    // With a feature cache, last night's anchor features are reused.
    const featureCache = job.audit.cache === undefined ? undefined : await FeatureCache.open(job.audit.cache, featureCacheKey(opened.model.info, audit, audit.anchorTokens), conn.s3);
    const anchors = await computeAnchorFeatures(specs, opened.tokenizer, opened.model, { ...job.audit, batch: opened.batch, ...(featureCache ? { featureCache } : {}) }, (e) => anchorErrors.push(e), storageByteSources(conn.s3));
    const dirScorer = new DirectionScorer(anchors.layerStates, opened.directionLayers, opened.checkpoint.config.hiddenSize);
    const base = buildSummary({
      options: audit,
      rankingColumn: rankingColumnFor(job.audit.method, dirScorer),
      directions: dirScorer.directions,
      modelDir: opened.synthetic ? 'tiny' : job.audit.model,
      synthetic: opened.synthetic,
      checkpoint: opened.checkpoint,
      featureInfo: opened.model.info,
      specs,
      anchorCounts: anchors.counts,
      anchorSets: anchors.sets,
      inputs: [],
      errors: 0,
      topCount: 0,
      timings: { setupMs: 0, anchorsMs: performance.now() - started, corpusMs: 0, writeMs: 0, totalMs: 0 },
      outputs: {},
      // The anchors' part of the cache report; the reducer adds the corpus counts and the diff.
      ...(featureCache
        ? {
            cache: {
              uri: featureCache.uri,
              namespace: cacheNamespace(featureCacheKey(opened.model.info, audit)),
              hits: 0,
              misses: 0,
              anchor_hits: featureCache.stats.hits,
              anchor_misses: featureCache.stats.misses,
              gradient_reads: 0,
            },
            diff: null,
          }
        : {}),
    });
    // Summary base first: a stored anchors object means planning got past this step.
    await job.out.store.put(workKeys.summaryBase(job.work), JSON.stringify(base));
    await job.out.store.put(workKeys.anchors(job.work), encodeAnchorFeatures(anchors));
    log.info({ job: job.id, anchors: anchors.counts, ms: Math.round(performance.now() - started) }, 'anchor features stored');
    return anchorErrors;
  } finally {
    await opened.close();
  }
}

/**
 * Records each input's etag the first time a job is planned; a re-plan (after a crash) checks them
 * again, so it never publishes the rest of a changed file after batches of its old version.
 */
async function pinInputVersions(conn: ClusterConnection, job: JobContext, plan: PlanRecord): Promise<PlanRecord> {
  const versions: Record<string, string> = {};
  for (const source of job.audit.data) {
    const { store, key } = openLocation(source, conn.s3);
    versions[source] = (await store.head(key))?.etag ?? 'missing';
  }
  const pinned = plan.inputVersions;
  if (pinned === undefined) return conn.jobs.updatePlan(job.id, (p) => ({ ...(p ?? plan), inputVersions: versions }));
  for (const [source, version] of Object.entries(versions)) {
    if (pinned[source] !== undefined && pinned[source] !== version) {
      throw new ConfigError(`job ${job.id}: input ${source} changed since the job was planned (version ${pinned[source]} → ${version}); its batches would mix two versions: resubmit the job`);
    }
  }
  return plan;
}
