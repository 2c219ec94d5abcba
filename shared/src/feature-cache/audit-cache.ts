import type { S3Client } from '@aws-sdk/client-s3';
import type { FeatureModelInfo } from '../features/feature-model.ts';
import type { RankedEntry } from '../audit/score-table.ts';
import { featureCacheKey, type FeatureKeyOptions } from './cache-key.ts';
import { openCacheRoot, type CacheRoot } from './cache-root.ts';
import { FeatureCache } from './feature-cache.ts';
import { diffRuns, readRunRecord, ScoreStats, writeRunRecord, type RunDiff, type RunRecord } from './run-history.ts';

export interface AuditCacheOptions extends FeatureKeyOptions {
  anchorTokens: number;
  name: string;
  method: 'grad' | 'rep';
  k: number;
}

/** summary.json's `cache` field. */
export interface CacheSummary {
  uri: string;
  hits: number;
  misses: number;
  anchor_hits: number;
  anchor_misses: number;
  /**
   * Cached corpus segments whose gradients were read back. 0 when the anchors are unchanged: each
   * segment stores its gradients projected onto the anchor targets, which is all a score needs.
   */
  gradient_reads: number;
}

/**
 * The cache side of one audit: corpus and anchor features (two namespaces: anchors count only
 * their first --anchor-tokens response tokens), and the run history of the audit's run name.
 */
export class AuditCache {
  private readonly scores = new ScoreStats();
  /** This run's score of each id of the previous top-k, for the diff. */
  private readonly previousTopScores = new Map<string, number>();
  private readonly previousTop: ReadonlySet<string>;

  private constructor(
    readonly root: CacheRoot,
    readonly corpus: FeatureCache,
    readonly anchors: FeatureCache,
    readonly previous: RunRecord | null,
    private readonly options: AuditCacheOptions,
  ) {
    this.previousTop = new Set(previous?.top.map((e) => e.id) ?? []);
  }

  static async open(uri: string, info: Pick<FeatureModelInfo, 'fingerprint' | 'probe'>, options: AuditCacheOptions, s3: () => S3Client): Promise<AuditCache> {
    const root = openCacheRoot(uri, s3);
    const [corpus, anchors, previous] = await Promise.all([
      FeatureCache.openAt(root, featureCacheKey(info, options)),
      FeatureCache.openAt(root, featureCacheKey(info, options, options.anchorTokens)),
      readRunRecord(root, options.name),
    ]);
    return new AuditCache(root, corpus, anchors, previous, options);
  }

  /** Every scored entry passes here (any order). */
  observe(entry: RankedEntry): void {
    this.scores.push(entry.score);
    if (this.previousTop.has(entry.id) && !this.previousTopScores.has(entry.id)) this.previousTopScores.set(entry.id, entry.score);
  }

  /** Writes what is buffered, stores this run as the name's latest, and returns the diff against the previous one. */
  async finish(top: readonly RankedEntry[], counts: RunRecord['counts']): Promise<RunDiff | null> {
    await Promise.all([this.corpus.flush(), this.anchors.flush()]);
    const record: RunRecord = {
      version: 1,
      name: this.options.name,
      finished_at: new Date().toISOString(),
      namespace: this.corpus.namespace,
      method: this.options.method,
      k: this.options.k,
      counts,
      scores: this.scores.summary(),
      top: top.map((e, i) => ({ rank: i + 1, id: e.id, source: e.source, row: e.row, score: e.score })),
    };
    const diff = this.previous === null ? null : diffRuns(this.previous, record, this.previousTopScores);
    await writeRunRecord(this.root, record);
    return diff;
  }

  summary(): CacheSummary {
    return {
      uri: this.root.uri,
      hits: this.corpus.stats.hits,
      misses: this.corpus.stats.misses,
      anchor_hits: this.anchors.stats.hits,
      anchor_misses: this.anchors.stats.misses,
      gradient_reads: this.corpus.stats.gradientsRead,
    };
  }
}
