import { rankingColumnFor } from '@safesift/core/audit/ranking-column.ts';
import { DirectionScorer } from '@safesift/core/scoring/direction-score.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { openAuditModel, type AuditModel } from '@safesift/core/audit/audit-model.ts';
import { scoreColumns } from '@safesift/core/audit/score-table.ts';
import { addPreviews, scoreExamples, type ScoringContext } from '@safesift/core/audit/score-examples.ts';
import type { JobContext } from '@safesift/core/cluster/job-context.ts';
import { workKeys } from '@safesift/core/cluster/work-layout.ts';
import type { CorpusItem, Example, RecordError } from '@safesift/core/corpus/example.ts';
import { decodeAnchorFeatures } from '@safesift/core/distributed/anchor-features-codec.ts';
import { featureCacheKey } from '@safesift/core/feature-cache/cache-key.ts';
import { FeatureCache, type FeatureCacheStats } from '@safesift/core/feature-cache/feature-cache.ts';
import type { BatchCacheStats, BatchResult } from '@safesift/core/distributed/batch-result-codec.ts';
import type { ColumnSpec } from '@safesift/core/output/parquet-table-writer.ts';
import { GradientScorer } from '@safesift/core/scoring/gradient-score.ts';
import { RepresentationScorer } from '@safesift/core/scoring/representation-score.ts';
import { TopK } from '@safesift/core/scoring/top-k.ts';
import type { RankedEntry } from '@safesift/core/scoring/ranked-entry.ts';
import { materializeModel } from '@safesift/core/storage/model-mirror.ts';

export interface JobScorerSettings {
  cacheDir: string;
  threads?: number;
  s3: () => S3Client;
}

/**
 * Everything a worker needs to score one job's batches: the model (mirrored from S3 into the
 * local cache), and scorers built from the anchor features the coordinator stored for the job.
 */
export class JobScorer {
  /** Whether close() closes the model (false once handed on to the next job's scorer). */
  private ownsModel = true;

  private constructor(
    readonly job: JobContext,
    readonly modelKey: string,
    private readonly opened: AuditModel,
    private readonly context: ScoringContext,
    readonly columns: ColumnSpec[],
    /** The job's feature cache (its `cache` field), if any. */
    readonly cache: FeatureCache | undefined,
  ) {}

  /**
   * Opens a job's scorer. A `previous` scorer whose model and feature options are the same hands
   * its open model over (nightly jobs reuse one model: no reload, no new feature threads);
   * otherwise the previous scorer is closed.
   */
  static async open(job: JobContext, settings: JobScorerSettings, previous: JobScorer | null = null): Promise<JobScorer> {
    const anchors = decodeAnchorFeatures(await job.out.store.get(workKeys.anchors(job.work)));
    const a = job.audit;
    // Everything the feature graph and its plan depend on: a job that matches reuses the open model.
    const modelKey = JSON.stringify([a.model, a.format, a.probes, a.projection, a.sketch, a.dtype, a.directionLayers, a.maxTokens, a.batchSize ?? null, a.batchTokens ?? null, settings.threads ?? null]);
    let opened: AuditModel;
    if (previous !== null && previous.modelKey === modelKey) {
      previous.ownsModel = false;
      opened = previous.opened;
    } else {
      await previous?.close();
      const modelDir = job.audit.model === 'tiny' ? 'tiny' : (await materializeModel(job.audit.model, { cacheDir: settings.cacheDir, s3: settings.s3 })).dir;
      opened = await openAuditModel(modelDir, { ...job.audit, ...(settings.threads ? { threads: settings.threads } : {}) });
    }
    try {
      if (opened.model.info.gradientDim !== anchors.gradient[0]?.vectors[0]?.length) {
        throw new Error(`job ${job.id}: stored anchor gradients do not match this worker's feature graph (model or options changed?)`);
      }
      const specs = anchors.gradient.map((s) => s.spec);
      // Every worker of the job opens the same cache; each writes its own segments.
      const cache = job.audit.cache === undefined ? undefined : await FeatureCache.open(job.audit.cache, featureCacheKey(opened.model.info, { ...job.audit, projection: opened.projection }), settings.s3);
      const dirScorer = new DirectionScorer(anchors.layerStates, opened.directionLayers, opened.checkpoint.config.hiddenSize);
      const context: ScoringContext = {
        tokenizer: opened.tokenizer,
        model: opened.model,
        repScorer: new RepresentationScorer(anchors.representation, { topN: job.audit.topN }),
        gradScorer: new GradientScorer(anchors.gradient),
        specs,
        maxTokens: job.audit.maxTokens,
        batch: opened.batch,
        dirScorer,
        rankingColumn: rankingColumnFor(job.audit.method, dirScorer),
        ...(cache ? { cache } : {}),
      };
      return new JobScorer(job, modelKey, opened, context, scoreColumns(specs, dirScorer.columns()), cache);
    } catch (error) {
      await opened.close();
      throw error;
    }
  }

  /** Scores one batch: every example's row, the batch's own top-k and bottom-k, every bad record. */
  /** Where this worker's features run (the metrics' device label). */
  get device(): 'cpu' | 'gpu' {
    return this.opened.plan.device;
  }

  async score(batch: number, items: readonly CorpusItem[], worker: string): Promise<BatchResult> {
    const started = performance.now();
    const examples: Example[] = [];
    const errors: RecordError[] = [];
    for (const item of items) {
      if (item.kind === 'example') examples.push(item.example);
      else errors.push(item.error);
    }
    const before = this.cache === undefined ? undefined : { ...this.cache.stats };
    const scored = await scoreExamples(examples, this.context);
    // Written before the result is stored: a redelivered batch then finds its features.
    await this.cache?.flush();
    const top = new TopK<RankedEntry>(this.job.audit.k, 'top');
    const bottom = new TopK<RankedEntry>(this.job.audit.bottomK, 'bottom');
    scored.entries.forEach((entry, i) => {
      // Previews only for the entries a top-k or bottom-k keeps (one object may sit in both).
      const kept = [top.push(entry), bottom.push(entry)].some(Boolean);
      if (kept) addPreviews(entry, scored.examples[i]!);
    });
    return {
      kind: 'result',
      jobId: this.job.id,
      batch,
      worker,
      rows: scored.rows,
      top: top.sorted(),
      bottom: bottom.sorted(),
      errors: [...errors, ...scored.errors],
      records: items.length,
      scored: scored.rows.length,
      featureMs: performance.now() - started,
      ...(this.cache && before ? { cache: statsSince(before, this.cache.stats) } : {}),
    };
  }

  async close(): Promise<void> {
    if (this.ownsModel) await this.opened.close();
    this.ownsModel = false;
  }
}

/** What a cache served between two readings of its stats. */
function statsSince(before: FeatureCacheStats, now: FeatureCacheStats): BatchCacheStats {
  return { hits: now.hits - before.hits, misses: now.misses - before.misses, gradientReads: now.gradientsRead - before.gradientsRead };
}
