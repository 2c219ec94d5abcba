import type { Example, RecordError } from '../corpus/example.ts';
import { SafesiftError } from '../errors.ts';
import type { FeatureModel } from '../features/feature-model.ts';
import type { Row } from '../output/parquet-table-writer.ts';
import { toMessages } from '../prompt/chat-template.ts';
import { lastExchange } from '../prompt/last-exchange.ts';
import { isRendered, type PromptTokenizer, type RenderedTexts } from '../prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { AnchorSetSpec } from '../scoring/anchor-sets.ts';
import type { GradientScorer } from '../scoring/gradient-score.ts';
import type { RepresentationScorer } from '../scoring/representation-score.ts';
import type { DirectionScorer } from '../scoring/direction-score.ts';
import { selfInfluence } from '../scoring/self-influence.ts';
import { featurizeProjected, type LateTokenizer } from '../feature-cache/cached-featurize.ts';
import { renderDigest } from '../feature-cache/render-digest.ts';
import type { FeatureCache } from '../feature-cache/feature-cache.ts';
import type { BatchLimits } from '../features/featurize-batches.ts';
import type { RankedEntry } from '../scoring/ranked-entry.ts';
import { preview, scoreRow } from './score-table.ts';

/** Everything needed to turn examples into scores; the same in the local audit and in a worker. */
export interface ScoringContext {
  tokenizer: PromptTokenizer;
  model: FeatureModel;
  repScorer: RepresentationScorer;
  gradScorer: GradientScorer;
  dirScorer: DirectionScorer;
  specs: readonly AnchorSetSpec[];
  maxTokens: number;
  batch: BatchLimits;
  /** scores.parquet column the ranking uses (rankingColumn of --method). */
  rankingColumn: string;
  /** Features cached by example content: only misses are featurized (same results as without). */
  cache?: FeatureCache;
  /** Examples finished, after each model batch (and for cache hits). */
  onFeaturized?: (done: number) => void;
  /** Stops scoring between model batches. */
  signal?: AbortSignal;
}

export interface ScoredExamples {
  /** scores.parquet rows of the examples that scored, in input order. */
  rows: Row[];
  /** The ranking entry of each row (same order), without previews. */
  entries: RankedEntry[];
  /** The example behind each row (same order). */
  examples: Example[];
  /** Examples that could not be scored (e.g. nothing left to learn after truncation). */
  errors: RecordError[];
}

/**
 * Render → tokenize → featurize → score, for one window or bus batch of examples. With a cache,
 * only the examples it lacks are tokenized and featurized: a hit is found by its rendered texts,
 * and its token count comes from the cache.
 */
export async function scoreExamples(window: readonly Example[], ctx: ScoringContext): Promise<ScoredExamples> {
  const { usable, failed } = await prepareExamples(window, ctx);
  // Gradients are only ever needed projected onto the anchor targets, which the cache also keeps.
  const requests = usable.map((u) => ({ id: u.example.id, digest: u.digest, tokenized: u.tokenized }));
  const features = await featurizeProjected(ctx.model, requests, ctx.batch, ctx.cache, ctx.gradScorer, lateTokenizer(usable, ctx), {
    ...(ctx.onFeaturized ? { onBatch: ctx.onFeaturized } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const errors: RecordError[] = [...failed].sort(([a], [b]) => a - b).map(([position, reason]) => ({ source: window[position]!.source, row: window[position]!.row, reason }));
  const result: ScoredExamples = { rows: [], entries: [], examples: [], errors };
  usable.forEach(({ example }, i) => {
    const f = features[i]!;
    const rep = ctx.repScorer.score(f.representation);
    const grad = ctx.gradScorer.scoreProjection(f.projection);
    const gradNearest = ctx.gradScorer.nearest(f.projection);
    // projection[0] is ‖g‖² of the unnormalised gradient (GradientScorer.project).
    const selfInf = selfInfluence(f.projection[0]!, f.labels);
    const direction = ctx.dirScorer.score(f.layerStates);
    const row = scoreRow({ example, tokens: f.tokens, truncated: f.truncated, responseTokens: f.labels, loss: f.loss, rep, grad, gradNearest, selfInf, direction }, ctx.specs, ctx.dirScorer.columns());
    result.rows.push(row);
    result.entries.push(rankedEntry(example, row, ctx.rankingColumn));
    result.examples.push(example);
  });
  return result;
}

interface PreparedExample {
  example: Example;
  rendered: RenderedTexts;
  digest: string;
  /** Null for an expected cache hit: not tokenized. */
  tokenized: TokenizedExample | null;
}

/** The examples that render and tokenize (expected hits skip tokenizing), and why the others failed, by window position. */
async function prepareExamples(window: readonly Example[], ctx: ScoringContext): Promise<{ usable: PreparedExample[]; failed: Map<number, string> }> {
  const failed = new Map<number, string>();
  const candidates = ctx.tokenizer.renderMany(window.map((e) => e.content)).flatMap((rendered, position) => {
    if (!isRendered(rendered)) {
      failed.set(position, rendered.message);
      return [];
    }
    return [{ position, example: window[position]!, rendered, digest: renderDigest(rendered) }];
  });
  const toTokenize = candidates.filter((c) => !ctx.cache?.has(c.example.id, c.digest));
  const encoded = await ctx.tokenizer.encodeRendered(toTokenize.map((c) => c.rendered), { maxTokens: ctx.maxTokens });
  const tokens = new Map(toTokenize.map((c, n) => [c.position, encoded[n]!]));
  const usable = candidates.flatMap(({ position, ...c }) => {
    const tokenized = tokens.get(position) ?? null;
    if (tokenized instanceof SafesiftError) {
      failed.set(position, tokenized.message);
      return [];
    }
    return [{ ...c, tokenized }];
  });
  return { usable, failed };
}

/** Tokenizes expected hits whose cached segment failed after all (they are then featurized). */
function lateTokenizer(usable: readonly PreparedExample[], ctx: ScoringContext): LateTokenizer {
  return async (positions) => {
    const encoded = await ctx.tokenizer.encodeRendered(positions.map((p) => usable[p]!.rendered), { maxTokens: ctx.maxTokens });
    return encoded.map((tokenized, n) => {
      if (!(tokenized instanceof SafesiftError)) return tokenized;
      const { example } = usable[positions[n]!]!;
      throw new SafesiftError(`${example.source} row ${example.row}: ${tokenized.message}`);
    });
  };
}

function rankedEntry(example: Example, row: Row, column: string): RankedEntry {
  const value = row[column];
  return {
    // An empty score (e.g. a degenerate direction) is not ranked, like a NaN one.
    score: typeof value === 'number' ? value : NaN,
    id: example.id,
    source: example.source,
    row: example.row,
    repScore: row.rep_score as number,
    gradScore: row.grad_score as number,
    promptPreview: '',
    responsePreview: '',
  };
}

/** The record's own request and answer (not the template around them): what a reviewer reads. */
export function addPreviews(entry: RankedEntry, example: Example): void {
  const { user, assistant } = lastExchange(toMessages(example.content));
  entry.promptPreview = preview(user);
  entry.responsePreview = preview(assistant);
}
