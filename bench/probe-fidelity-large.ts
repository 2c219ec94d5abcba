// Probe/projection fidelity where kron:64x128 really compresses: the 58M random Llama, every
// configuration's gradient score against the exact full gradient (58M values per example).
import { examplesPerBatch, type BatchLimits } from '../shared/src/features/featurize-batches.ts';
import type { ExampleContent } from '../shared/src/corpus/example.ts';
import { readCorpus } from '../shared/src/corpus/read-corpus.ts';
import { OnnxFeatureModel } from '../shared/src/features/onnx-feature-model.ts';
import type { Probe } from '../shared/src/graph/probes.ts';
import { DEFAULT_PROJECTION_SEED, describeProjection, type ProjectionSpec, type SketchSpec } from '../shared/src/graph/projection.ts';
import { openCheckpoint, type Checkpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { benchModel50m, GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, tokenizeAnchorSets } from './bench-models.ts';
import { spearman, topOverlap, type AnchorExamples } from './probe-fidelity.ts';
import { streamedScores } from './streaming-gradient-score.ts';

/** A feature configuration as the audit's --probes, --proj and --proj-dim set it. */
export interface FeatureConfig {
  probe: Probe;
  projection: ProjectionSpec;
  sketch?: SketchSpec;
}

/** Opens `config`'s feature model (all cores), scores with it, closes it. */
export async function scoreConfig(
  checkpoint: Checkpoint,
  config: FeatureConfig,
  anchors: AnchorExamples,
  examples: readonly TokenizedExample[],
  limits: BatchLimits,
): Promise<{ scores: Float64Array; seconds: number; anchorSeconds: number; gradientDim: number }> {
  const model = await OnnxFeatureModel.open(checkpoint, { probe: config.probe, projection: config.projection, sketch: config.sketch ?? null });
  try {
    return { ...(await streamedScores(model, anchors, examples, limits)), gradientDim: model.info.gradientDim };
  } finally {
    await model.close();
  }
}

export const kron = (outDim: number, inDim: number): ProjectionSpec => ({ kind: 'kron', outDim, inDim, seed: DEFAULT_PROJECTION_SEED });
/** The default first, then wider and narrower projections, the CountSketch on top, and the cheaper probes. */
export const LARGE_FIDELITY_CONFIGS: readonly FeatureConfig[] = [
  { probe: 'all', projection: kron(64, 128) },
  { probe: 'all', projection: kron(128, 256) },
  { probe: 'all', projection: kron(32, 64) },
  { probe: 'all', projection: kron(64, 128), sketch: { dim: 8192, seed: DEFAULT_PROJECTION_SEED } },
  { probe: 'all-linear', projection: kron(64, 128) },
  { probe: 'attn-qv', projection: kron(64, 128) },
  { probe: 'lm_head', projection: kron(64, 128) },
];

export interface LargeFidelityRow {
  probe: string;
  /** Projection as summary.json names it (`kron:64x128+sketch:8192`). */
  projection: string;
  gradientDim: number;
  spearman: number;
  /** Share of the exact top-k recovered, per k of `LargeFidelityResult.topKs`. */
  overlaps: number[];
  /** RMS difference from the exact scores over their standard deviation: projection noise against the signal it must rank. */
  relativeError: number;
  /** Corpus featurization + scoring (anchors excluded), batch size 1, all cores. */
  examplesPerSecond: number;
}

/** Mean and standard deviation of scores. */
export function spread(scores: ArrayLike<number>): { mean: number; std: number } {
  const xs = Array.from(scores);
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length) };
}

/** RMS(a − exact) / std(exact). */
export function relativeError(a: ArrayLike<number>, exact: ArrayLike<number>): number {
  let sq = 0;
  for (let i = 0; i < exact.length; i++) sq += (a[i]! - exact[i]!) ** 2;
  return Math.sqrt(sq / exact.length) / spread(exact).std;
}

export interface LargeFidelityResult {
  records: number;
  examples: number;
  meanTokens: number;
  truncated: number;
  maxTokens: number;
  topKs: number[];
  exactSpread: { mean: number; std: number };
  /** Wall seconds of the whole measurement. */
  seconds: number;
  exact: LargeFidelityRow;
  rows: LargeFidelityRow[];
  /** Exact scores, in example order (the PyTorch cross-check reuses them). */
  exactScores: Float64Array;
  examplesUsed: TokenizedExample[];
}

/** The first `count` corpus records that can be encoded, and how many records that took. */
export async function firstEncodable(
  tokenizer: PromptTokenizer,
  path: string,
  count: number,
  maxTokens: number,
): Promise<{ examples: TokenizedExample[]; records: number }> {
  const examples: TokenizedExample[] = [];
  let records = 0;
  const chunk: ExampleContent[] = [];
  const flush = async () => {
    for (const e of await tokenizer.encodeMany(chunk.splice(0), { maxTokens })) {
      records++;
      if (!(e instanceof Error) && examples.length < count) examples.push(e);
      if (examples.length === count) return true;
    }
    return false;
  };
  for await (const item of readCorpus(path, {})) {
    if (item.kind !== 'example') continue;
    chunk.push(item.example.content);
    if (chunk.length === 64 && (await flush())) return { examples, records };
  }
  await flush();
  return { examples, records };
}

export interface LargeFidelitySetup {
  /** Encodable examples scored (default 200). */
  examples?: number;
  maxTokens?: number;
  configs?: readonly FeatureConfig[];
}

export async function measureLargeFidelity(setup: LargeFidelitySetup = {}): Promise<LargeFidelityResult> {
  const started = performance.now();
  const maxTokens = setup.maxTokens ?? 256;
  const dir = await benchModel50m();
  const checkpoint = await openCheckpoint(dir);
  const tokenizer = await PromptTokenizer.load(dir, { format: 'paper-llama2' });
  const { examples, records } = await firstEncodable(tokenizer, GSM8K_TRAIN, setup.examples ?? 200, maxTokens);
  const anchors = await tokenizeAnchorSets(tokenizer, ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens, anchorTokens: 10 });
  const topKs = [...new Set([100, Math.round(examples.length / 10)])].filter((k) => k < examples.length).sort((a, b) => b - a);
  // Batches of one: every example is near the token cap, and batch 1 was fastest for exact and projected gradients here.
  const limits = examplesPerBatch(1);

  const measure = async (config: FeatureConfig, reference?: Float64Array) => {
    const run = await scoreConfig(checkpoint, config, anchors, examples, limits);
    const ref = reference ?? run.scores;
    const row: LargeFidelityRow = {
      probe: config.probe,
      projection: describeProjection(config.projection, config.sketch ?? null),
      gradientDim: run.gradientDim,
      spearman: spearman(run.scores, ref),
      overlaps: topKs.map((k) => topOverlap(run.scores, ref, k)),
      relativeError: relativeError(run.scores, ref),
      examplesPerSecond: examples.length / run.seconds,
    };
    console.error(`  fidelity-large ${row.probe} ${row.projection}: spearman ${row.spearman.toFixed(4)}, overlaps ${row.overlaps.map((o) => o.toFixed(2)).join('/')}, ${row.examplesPerSecond.toFixed(2)} ex/s`);
    return { row, scores: run.scores };
  };
  const exact = await measure({ probe: 'all', projection: { kind: 'none' } });
  const rows: LargeFidelityRow[] = [];
  for (const config of setup.configs ?? LARGE_FIDELITY_CONFIGS) rows.push((await measure(config, exact.scores)).row);
  await checkpoint.close();
  return {
    records,
    examples: examples.length,
    meanTokens: examples.reduce((s, e) => s + e.ids.length, 0) / examples.length,
    truncated: examples.filter((e) => e.truncated).length,
    maxTokens,
    topKs,
    exactSpread: spread(exact.scores),
    seconds: (performance.now() - started) / 1000,
    exact: exact.row,
    rows,
    exactScores: exact.scores,
    examplesUsed: examples,
  };
}
