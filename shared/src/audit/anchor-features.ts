import { readCorpusWith } from '../corpus/read-corpus.ts';
import { localFiles, type ByteSourceOpener } from '../corpus/local-sources.ts';
import type { Example, RecordError } from '../corpus/example.ts';
import { ConfigError, SafesiftError } from '../errors.ts';
import type { FeatureModel } from '../features/feature-model.ts';
import type { BatchLimits } from '../features/featurize-batches.ts';
import { isRendered, type PromptTokenizer } from '../prompt/prompt-tokenizer.ts';
import type { AnchorSetSpec, AnchorSetVectors } from '../scoring/anchor-sets.ts';
import { featurizeWithCache } from '../feature-cache/cached-featurize.ts';
import { renderDigest } from '../feature-cache/render-digest.ts';
import type { FeatureCache } from '../feature-cache/feature-cache.ts';

export interface AnchorFeatures {
  representation: AnchorSetVectors[];
  gradient: AnchorSetVectors[];
  /** Anchors used per set, in the order of the specs. */
  counts: number[];
}

export interface AnchorFeatureOptions {
  maxTokens: number;
  anchorTokens: number;
  batch: BatchLimits;
  maxRecordBytes: number;
  /** Anchor features cached by content (its key must name anchorTokens as the response token limit). */
  featureCache?: FeatureCache;
}

/**
 * Features of every anchor of every set (method.md §5: all records of a file). Anchors count only
 * their first `anchorTokens` response tokens. Bad anchor records are reported like corpus records;
 * a set left with no usable anchor stops the audit.
 */
export async function computeAnchorFeatures(
  specs: readonly AnchorSetSpec[],
  tokenizer: PromptTokenizer,
  model: FeatureModel,
  options: AnchorFeatureOptions,
  reportError: (error: RecordError) => void,
  opener: ByteSourceOpener = localFiles,
): Promise<AnchorFeatures> {
  const result: AnchorFeatures = { representation: [], gradient: [], counts: [] };
  for (const spec of specs) {
    const examples: Example[] = [];
    for await (const item of readCorpusWith(opener, spec.source, { maxRecordBytes: options.maxRecordBytes })) {
      if (item.kind === 'error') reportError(item.error);
      else examples.push(item.example);
    }
    // Anchors are few: every one is tokenized, so a bad anchor is reported on every run.
    const report = (i: number, error: SafesiftError) => reportError({ source: spec.source, row: examples[i]!.row, reason: error.message });
    const rendered = tokenizer.renderMany(examples.map((e) => e.content)).flatMap((texts, i) => {
      if (isRendered(texts)) return [{ i, texts }];
      report(i, texts);
      return [];
    });
    const encoded = await tokenizer.encodeRendered(
      rendered.map((r) => r.texts),
      { maxTokens: options.maxTokens, responseTokenLimit: options.anchorTokens },
    );
    const usable = rendered.flatMap(({ i, texts }, n) => {
      const tokenized = encoded[n]!;
      if (!(tokenized instanceof SafesiftError)) return [{ id: examples[i]!.id, digest: renderDigest(texts), tokenized }];
      report(i, tokenized);
      return [];
    });
    if (usable.length === 0) throw new ConfigError(`anchor set ${spec.name} (${spec.source}) has no usable anchor record`);
    const features = await featurizeWithCache(model, usable, options.batch, options.featureCache);
    result.representation.push({ spec, vectors: features.map((f) => f.representation) });
    result.gradient.push({ spec, vectors: features.map((f) => f.gradient) });
    result.counts.push(usable.length);
  }
  await options.featureCache?.flush();
  return result;
}
