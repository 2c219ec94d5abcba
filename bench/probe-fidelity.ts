// How well each probe preset × projection ranks a corpus like the paper's exact full-gradient score.
import { examplesPerBatch, featurizeInBatches } from '../shared/src/features/featurize-batches.ts';
import { OnnxFeatureModel } from '../shared/src/features/onnx-feature-model.ts';
import type { Probe } from '../shared/src/graph/probes.ts';
import { DEFAULT_PROJECTION_SEED, describeProjection, type ProjectionSpec } from '../shared/src/graph/projection.ts';
import { openCheckpoint, type Checkpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import type { AnchorSetSpec } from '../shared/src/scoring/anchor-sets.ts';
import { GradientScorer } from '../shared/src/scoring/gradient-score.ts';
import { GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, STORIES260K, tokenizeAnchorSets, tokenizeCorpus } from './bench-models.ts';

export interface ProbeConfig {
  probe: Probe;
  projection: ProjectionSpec;
}

export type AnchorExamples = ReadonlyArray<{ spec: AnchorSetSpec; examples: TokenizedExample[] }>;

/** Corpus examples featurized and scored per window: large enough to batch by length, small enough that gradients never pile up. */
const WINDOW = 256;

/**
 * Bi-directional gradient scores of `examples` under one feature model, streaming: each window's
 * gradients are scored and dropped. `seconds` counts featurization only, or featurization plus
 * scoring with `timeScoring` (to compare with a loop that also normalises and dots).
 */
export async function streamGradientScores(
  model: OnnxFeatureModel,
  anchors: AnchorExamples,
  examples: readonly TokenizedExample[],
  batchSize: number,
  timeScoring = false,
): Promise<{ scores: Float64Array; seconds: number }> {
  const sets = [];
  for (const { spec, examples: anchorExamples } of anchors) {
    sets.push({ spec, vectors: (await featurizeInBatches(model, anchorExamples, examplesPerBatch(batchSize))).map((f) => f.gradient) });
  }
  const scorer = new GradientScorer(sets);
  await model.featurize(examples.slice(0, batchSize)); // warm-up: first-run allocations are not throughput
  const scores = new Float64Array(examples.length);
  let seconds = 0;
  for (let start = 0; start < examples.length; start += WINDOW) {
    const window = examples.slice(start, start + WINDOW);
    const t0 = performance.now();
    const features = await featurizeInBatches(model, window, examplesPerBatch(batchSize));
    const t1 = performance.now();
    features.forEach((f, i) => (scores[start + i] = scorer.score(f.gradient).score));
    seconds += ((timeScoring ? performance.now() : t1) - t0) / 1000;
  }
  return { scores, seconds };
}

/** Ranks 0..n-1 (ascending), ties sharing their average rank. */
function ranks(v: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const r = new Float64Array(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && v[order[j + 1]!] === v[order[i]!]) j++;
    for (let k = i; k <= j; k++) r[order[k]!] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation: Pearson correlation of the (tie-averaged) ranks. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`spearman: ${a.length} vs ${b.length} values`);
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (a.length - 1) / 2;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < ra.length; i++) {
    const x = ra[i]! - mean;
    const y = rb[i]! - mean;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Indices of the k highest scores. */
export function topIndices(scores: ArrayLike<number>, k: number): Set<number> {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return new Set(order.slice(0, k));
}

/** |top_k(a) ∩ top_k(b)| / k. */
export function topOverlap(a: ArrayLike<number>, b: ArrayLike<number>, k: number): number {
  const ta = topIndices(a, k);
  let shared = 0;
  for (const i of topIndices(b, k)) if (ta.has(i)) shared++;
  return shared / k;
}

export interface FidelityRow {
  probe: Probe;
  projection: string;
  gradientDim: number;
  spearman: number;
  topOverlap: number;
  /** Featurization throughput (batch size as set), scoring excluded. */
  examplesPerSecond: number;
}

export interface FidelityResult {
  records: number;
  /** Records that could be encoded (the rest have no response left within max tokens). */
  examples: number;
  topK: number;
  batchSize: number;
  rows: FidelityRow[];
}

export interface FidelitySetup {
  modelDir?: string;
  corpusPath?: string;
  anchorSets?: readonly AnchorSetSpec[];
  /** First N corpus records (default 1000). */
  records?: number;
  probes?: readonly Probe[];
  projections?: readonly ProjectionSpec[];
  /** Top-k overlap size (default 100; capped at a quarter of the examples so small runs still mean something). */
  topK?: number;
  batchSize?: number;
  maxTokens?: number;
  anchorTokens?: number;
}

const kron = (outDim: number, inDim: number): ProjectionSpec => ({ kind: 'kron', outDim, inDim, seed: DEFAULT_PROJECTION_SEED });
export const FIDELITY_PROBES: readonly Probe[] = ['lm_head', 'attn-qv', 'all-linear', 'all'];
export const FIDELITY_PROJECTIONS: readonly ProjectionSpec[] = [{ kind: 'none' }, kron(16, 16), kron(32, 32), kron(64, 64)];

async function scoreConfig(
  checkpoint: Checkpoint,
  config: ProbeConfig,
  anchors: AnchorExamples,
  examples: readonly TokenizedExample[],
  batchSize: number,
): Promise<{ scores: Float64Array; seconds: number; gradientDim: number }> {
  const model = await OnnxFeatureModel.open(checkpoint, config);
  try {
    const { scores, seconds } = await streamGradientScores(model, anchors, examples, batchSize);
    return { scores, seconds, gradientDim: model.info.gradientDim };
  } finally {
    await model.close();
  }
}

/** Spearman and top-k overlap of every probe × projection against the exact `all` score, with throughput. */
export async function measureProbeFidelity(setup: FidelitySetup = {}): Promise<FidelityResult> {
  const modelDir = setup.modelDir ?? STORIES260K;
  const records = setup.records ?? 1000;
  const batchSize = setup.batchSize ?? 8;
  const maxTokens = setup.maxTokens ?? 512;
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const examples = await tokenizeCorpus(tokenizer, setup.corpusPath ?? GSM8K_TRAIN, records, { maxTokens });
  const anchors = await tokenizeAnchorSets(tokenizer, setup.anchorSets ?? ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens, anchorTokens: setup.anchorTokens ?? 10 });
  const topK = Math.max(1, Math.min(setup.topK ?? 100, Math.floor(examples.length / 4)));

  const exact = await scoreConfig(checkpoint, { probe: 'all', projection: { kind: 'none' } }, anchors, examples, batchSize);
  const rows: FidelityRow[] = [];
  for (const probe of setup.probes ?? FIDELITY_PROBES) {
    for (const projection of setup.projections ?? FIDELITY_PROJECTIONS) {
      const isExact = probe === 'all' && projection.kind === 'none';
      const run = isExact ? exact : await scoreConfig(checkpoint, { probe, projection }, anchors, examples, batchSize);
      const row = {
        probe,
        projection: describeProjection(projection),
        gradientDim: run.gradientDim,
        spearman: spearman(run.scores, exact.scores),
        topOverlap: topOverlap(run.scores, exact.scores, topK),
        examplesPerSecond: examples.length / run.seconds,
      };
      rows.push(row);
      console.error(`  fidelity ${probe} ${row.projection}: spearman ${row.spearman.toFixed(4)}, top-${topK} ${row.topOverlap.toFixed(2)}, ${row.examplesPerSecond.toFixed(1)} ex/s`);
    }
  }
  await checkpoint.close();
  return { records, examples: examples.length, topK, batchSize, rows };
}
