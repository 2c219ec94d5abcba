import type { RankingMethod } from '../scoring/ranking-method.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FeatureModelInfo } from '../features/feature-model.ts';
import type { RankedEntry } from '../scoring/ranked-entry.ts';
import { featureCacheKey, type FeatureKeyOptions } from './cache-key.ts';
import { openCacheRoot, type CacheRoot } from './cache-root.ts';
import { FeatureCache } from './feature-cache.ts';
import { randomUUID } from 'node:crypto';
import { RunTracker, type RunDiff, type RunRecord } from './run-history.ts';

export interface AuditCacheOptions extends FeatureKeyOptions {
  anchorTokens: number;
  name: string;
  method: RankingMethod;
  k: number;
}

/** summary.json's `cache` field. */
export interface CacheSummary {
  uri: string;
  /** Folder of the corpus features under features/ (a hash of everything that changes them). */
  namespace: string;
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
  private constructor(
    readonly root: CacheRoot,
    readonly corpus: FeatureCache,
    readonly anchors: FeatureCache,
    readonly run: RunTracker,
    private readonly options: AuditCacheOptions,
  ) {}

  static async open(uri: string, info: Pick<FeatureModelInfo, 'fingerprint' | 'probe'>, options: AuditCacheOptions, s3: () => S3Client): Promise<AuditCache> {
    const root = openCacheRoot(uri, s3);
    const [corpus, anchors, run] = await Promise.all([
      FeatureCache.openAt(root, featureCacheKey(info, options)),
      FeatureCache.openAt(root, featureCacheKey(info, options, options.anchorTokens)),
      RunTracker.open(root, options.name, randomUUID()),
    ]);
    return new AuditCache(root, corpus, anchors, run, options);
  }

  /** Every scored entry passes here (any order). */
  observe(entry: RankedEntry): void {
    this.run.observe(entry.id, entry.score);
  }

  /** Writes what is buffered, stores this run as the name's latest, and returns the diff against the previous one. */
  async finish(top: readonly RankedEntry[], counts: RunRecord['counts']): Promise<RunDiff | null> {
    await Promise.all([this.corpus.flush(), this.anchors.flush()]);
    return this.run.finish({ namespace: this.corpus.namespace, method: this.options.method, k: this.options.k, counts, top });
  }

  summary(): CacheSummary {
    return {
      uri: this.root.uri,
      namespace: this.corpus.namespace,
      hits: this.corpus.stats.hits,
      misses: this.corpus.stats.misses,
      anchor_hits: this.anchors.stats.hits,
      anchor_misses: this.anchors.stats.misses,
      gradient_reads: this.corpus.stats.gradientsRead,
    };
  }
}
