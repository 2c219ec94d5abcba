import { readCorpusWith } from '../corpus/read-corpus.ts';
import { localFiles, type ByteSourceOpener } from '../corpus/local-sources.ts';
import type { Example, RecordError } from '../corpus/example.ts';
import { SafesiftError, UnusableInputError } from '../errors.ts';
import type { FeatureModel } from '../features/feature-model.ts';
import type { BatchLimits } from '../features/featurize-batches.ts';
import { isRendered, type PromptTokenizer } from '../prompt/prompt-tokenizer.ts';
import type { AnchorSetSpec, AnchorSetVectors } from '../scoring/anchor-sets.ts';
import { featurizeWithCache } from '../feature-cache/cached-featurize.ts';
import { renderDigest } from '../feature-cache/render-digest.ts';
import type { FeatureCache } from '../feature-cache/feature-cache.ts';
import { toMessages } from '../prompt/chat-template.ts';
import { lastExchange } from '../prompt/last-exchange.ts';
import { preview } from './score-table.ts';

export interface AnchorFeatures {
  representation: AnchorSetVectors[];
  gradient: AnchorSetVectors[];
  /** Per set, each anchor's layer states for the compliance direction (empty vectors without direction layers). */
  layerStates: AnchorSetVectors[];
  /** Anchors used per set, in the order of the specs. */
  counts: number[];
}

/** Anchor features as computed here, with records read and rejected per set (in the order of the specs). */
export interface ComputedAnchorFeatures extends AnchorFeatures {
  sets: AnchorSetReport[];
}

export interface AnchorSetReport {
  name: string;
  source: string;
  records: number;
  used: number;
  rejected: number;
  /** Each usable anchor's file row and request (previewed): what "nearest anchor" columns point at. */
  anchors: AnchorPreview[];
}

export interface AnchorPreview {
  row: number;
  request: string;
}

export interface AnchorFeatureOptions {
  maxTokens: number;
  anchorTokens: number;
  batch: BatchLimits;
  maxRecordBytes: number;
  /** Usable anchors each set needs; undefined: all of its records. */
  minAnchors?: number | undefined;
  /** Anchor features cached by content (its key must name anchorTokens as the response token limit). */
  featureCache?: FeatureCache;
}

/**
 * Features of every anchor of every set (method.md §5: all records of a file). Anchors count only
 * their first `anchorTokens` response tokens. Bad anchor records are reported (to the anchors' own
 * error log); a set with fewer usable anchors than `minAnchors` (default: all) stops the audit.
 */
export async function computeAnchorFeatures(
  specs: readonly AnchorSetSpec[],
  tokenizer: PromptTokenizer,
  model: FeatureModel,
  options: AnchorFeatureOptions,
  reportError: (error: RecordError) => void,
  opener: ByteSourceOpener = localFiles,
): Promise<ComputedAnchorFeatures> {
  const result: ComputedAnchorFeatures = { representation: [], gradient: [], layerStates: [], counts: [], sets: [] };
  for (const spec of specs) {
    const examples: Example[] = [];
    const rejected: RecordError[] = [];
    const reject = (error: RecordError) => {
      rejected.push(error);
      reportError(error);
    };
    let records = 0;
    for await (const item of readCorpusWith(opener, spec.source, { maxRecordBytes: options.maxRecordBytes })) {
      records++;
      if (item.kind === 'error') reject(item.error);
      else examples.push(item.example);
    }
    // Anchors are few: every one is tokenized, so a bad anchor is reported on every run.
    const report = (i: number, error: SafesiftError) => reject({ source: spec.source, row: examples[i]!.row, reason: error.message });
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
      if (!(tokenized instanceof SafesiftError)) return [{ id: examples[i]!.id, digest: renderDigest(texts), tokenized, example: examples[i]! }];
      report(i, tokenized);
      return [];
    });
    checkAnchorCount(spec, records, usable.length, rejected, options.minAnchors);
    const features = await featurizeWithCache(model, usable, options.batch, options.featureCache);
    const rows = usable.map((u) => u.example.row);
    result.representation.push({ spec, vectors: features.map((f) => f.representation), rows });
    result.gradient.push({ spec, vectors: features.map((f) => f.gradient), rows });
    result.layerStates.push({ spec, vectors: features.map((f) => f.layerStates), rows });
    result.counts.push(usable.length);
    const anchors = usable.map(({ example }) => ({ row: example.row, request: preview(lastExchange(toMessages(example.content)).user) }));
    result.sets.push({ name: spec.name, source: spec.source, records, used: usable.length, rejected: records - usable.length, anchors });
  }
  await options.featureCache?.flush();
  return result;
}

function checkAnchorCount(spec: AnchorSetSpec, records: number, usable: number, rejected: readonly RecordError[], minAnchors: number | undefined): void {
  const needed = Math.max(1, minAnchors ?? records);
  if (usable >= needed) return;
  const examples = rejected.slice(0, 3).map((e) => (e.row >= 0 ? `record ${e.row}: ${e.reason}` : e.reason)).join('; ');
  const more = rejected.length > 3 ? ` (+${rejected.length - 3} more in anchor-errors.jsonl)` : '';
  const hint = minAnchors === undefined && usable > 0 ? `; fix them, or pass --min-anchors ${usable} to audit with the usable ones` : '';
  throw new UnusableInputError(
    `anchor set ${spec.name} (${spec.source}): ${usable} of ${records} records usable, ${needed} needed${examples ? ` — ${examples}${more}` : ''}${hint}`,
  );
}
