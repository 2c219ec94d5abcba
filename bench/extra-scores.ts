// Issue 16's scores: (1) how well the projected self-influence ranks like the exact one, and (2)
// what the extra columns cost: the feature graph with and without the direction layer's states,
// and the whole `safesift audit` with and without them, in alternating rounds.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_PROBE } from '../shared/src/audit/audit-options.ts';
import { examplesPerBatch, featurizeInBatches } from '../shared/src/features/featurize-batches.ts';
import { OnnxFeatureModel } from '../shared/src/features/onnx-feature-model.ts';
import { DEFAULT_PROJECTION_SEED, describeProjection, resolveProjection, type ProjectionSpec } from '../shared/src/graph/projection.ts';
import { openCheckpoint, type Checkpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { selfInfluence } from '../shared/src/scoring/self-influence.ts';
import { benchModel50m, GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, STORIES260K, tokenizeCorpus } from './bench-models.ts';
import { spearman, topOverlap } from './probe-fidelity.ts';
import { alternate, pairedRatio } from './paired-ratio.ts';

const CLI = fileURLToPath(new URL('../bin/safesift.mjs', import.meta.url));
const AUTO = { kind: 'auto', seed: DEFAULT_PROJECTION_SEED } as const;

export interface SelfInfFidelity {
  examples: number;
  topK: number;
  projection: string;
  gradientDim: number;
  exactDim: number;
  selfInf: { spearman: number; topOverlap: number };
  selfInfN: { spearman: number; topOverlap: number };
  /** Mean of ‖Pg‖² / ‖g‖² and its spread: the estimate's bias and noise. */
  normRatio: { mean: number; sd: number };
}

/** Squared gradient norms and response token counts of every example under one feature configuration. */
async function squaredNorms(checkpoint: Checkpoint, projection: ProjectionSpec, examples: readonly TokenizedExample[]): Promise<{ norms: Float64Array; dim: number; name: string }> {
  const model = await OnnxFeatureModel.open(checkpoint, { probe: DEFAULT_PROBE, projection });
  try {
    const norms = new Float64Array(examples.length);
    for (let start = 0; start < examples.length; start += 256) {
      const features = await featurizeInBatches(model, examples.slice(start, start + 256), examplesPerBatch(8));
      features.forEach((f, i) => (norms[start + i] = f.gradient.reduce((s, x) => s + x * x, 0)));
    }
    return { norms, dim: model.info.gradientDim, name: model.info.projection };
  } finally {
    await model.close();
  }
}

/** self_inf and self_inf_n with the default projection vs the exact full gradient (`--proj none`), stories260k. */
export async function measureSelfInfFidelity(records: number): Promise<SelfInfFidelity> {
  const checkpoint = await openCheckpoint(STORIES260K);
  try {
    const tokenizer = await PromptTokenizer.load(STORIES260K, { format: 'paper-llama2' });
    const examples = await tokenizeCorpus(tokenizer, GSM8K_TRAIN, records, { maxTokens: 512 });
    const labels = examples.map((e) => e.lossWeights.reduce((n, w) => n + (w > 0 ? 1 : 0), 0));
    const exact = await squaredNorms(checkpoint, { kind: 'none' }, examples);
    const projected = await squaredNorms(checkpoint, resolveProjection(AUTO, checkpoint.config), examples);
    const topK = Math.min(100, Math.floor(examples.length / 4));
    const n = (norms: Float64Array) => Float64Array.from(norms, (x, i) => selfInfluence(x, labels[i]!).selfInfN!);
    const ratios = Array.from(exact.norms, (x, i) => projected.norms[i]! / x);
    const mean = ratios.reduce((s, x) => s + x, 0) / ratios.length;
    const sd = Math.sqrt(ratios.reduce((s, x) => s + (x - mean) ** 2, 0) / (ratios.length - 1));
    return {
      examples: examples.length,
      topK,
      projection: projected.name,
      gradientDim: projected.dim,
      exactDim: exact.dim,
      selfInf: { spearman: spearman(projected.norms, exact.norms), topOverlap: topOverlap(projected.norms, exact.norms, topK) },
      selfInfN: { spearman: spearman(n(projected.norms), n(exact.norms)), topOverlap: topOverlap(n(projected.norms), n(exact.norms), topK) },
      normRatio: { mean, sd },
    };
  } finally {
    await checkpoint.close();
  }
}

/** Paired rounds of two variants: seconds per round each, and the ratio's interval. */
export interface PairedTiming {
  label: string;
  rounds: number;
  /** Seconds per round, without and with the extra columns. */
  without: number[];
  with: number[];
  /** Geometric mean of with/without over the rounds, and its 95% t interval. */
  ratio: number;
  low: number;
  high: number;
}

/** The feature model's time on the same examples with no direction layer and with the default (middle) one. */
export async function measureGraphCost(label: string, modelDir: string, options: { examples: number; maxTokens: number; batchSize: number; rounds: number }): Promise<PairedTiming> {
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const examples = (await tokenizeCorpus(tokenizer, GSM8K_TRAIN, options.examples * 2, { maxTokens: options.maxTokens })).slice(0, options.examples);
  const projection = resolveProjection(AUTO, checkpoint.config);
  const middle = Math.floor(checkpoint.config.numLayers / 2);
  const plain = await OnnxFeatureModel.open(checkpoint, { probe: DEFAULT_PROBE, projection });
  const layered = await OnnxFeatureModel.open(checkpoint, { probe: DEFAULT_PROBE, projection, directionLayers: [middle] });
  try {
    const time = (model: OnnxFeatureModel) => async () => {
      const started = performance.now();
      await featurizeInBatches(model, examples, examplesPerBatch(options.batchSize));
      return (performance.now() - started) / 1000;
    };
    await time(plain)(); // warm-up: first-run allocations
    await time(layered)();
    const t = await alternate(options.rounds, time(plain), time(layered));
    console.error(`  ${label}: ${describeProjection(projection)} with/without layer ${middle}: ${pairedRatio(t.a, t.b).ratio.toFixed(4)}`);
    return { label: `${label}, feature graph (${DEFAULT_PROBE}, ${describeProjection(projection)}, batch ${options.batchSize}, ${examples.length} examples)`, rounds: options.rounds, without: t.a, with: t.b, ...pairedRatio(t.a, t.b) };
  } finally {
    await plain.close();
    await layered.close();
    await checkpoint.close();
  }
}

const ANCHOR_FLAGS = ILLEGAL_ACTIVITIES_ANCHORS.flatMap((s) => [s.role === 'harmful' ? '--harmful' : '--safe', s.source]);

async function auditSeconds(args: string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [CLI, 'audit', ...args, '--json'], { maxBuffer: 1 << 26 }, (error, _out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve())),
  );
  return (performance.now() - started) / 1000;
}

/** The whole CLI audit (process start to exit) on stories260k, default options vs `--direction-layers none`. */
export async function measureAuditCost(records: number, rounds: number): Promise<PairedTiming> {
  const work = mkdtempSync(join(tmpdir(), 'safesift-bench-extra-scores-'));
  const corpus = join(work, 'corpus.jsonl');
  writeFileSync(corpus, `${readFileSync(GSM8K_TRAIN, 'utf8').split('\n').filter((l) => l.trim()).slice(0, records).join('\n')}\n`);
  const common = ['--model', STORIES260K, '--data', corpus, ...ANCHOR_FLAGS];
  let run = 0;
  const audit = (extra: string[]) => () => auditSeconds([...common, ...extra, '--out', join(work, `out-${run++}`)]);
  // Untimed: builds (or finds) both feature graphs.
  await audit(['--limit', '2'])();
  await audit(['--limit', '2', '--direction-layers', 'none'])();
  const t = await alternate(rounds, audit(['--direction-layers', 'none']), audit([]));
  console.error(`  audit with/without: ${pairedRatio(t.a, t.b).ratio.toFixed(4)}`);
  return { label: `stories260k, \`safesift audit\` of ${records} GSM8K records (process start to exit)`, rounds, without: t.a, with: t.b, ...pairedRatio(t.a, t.b) };
}

export interface ExtraScoresResult {
  fidelity: SelfInfFidelity;
  costs: PairedTiming[];
}

export async function measureExtraScores(): Promise<ExtraScoresResult> {
  console.error('  self-influence: projected vs exact…');
  const fidelity = await measureSelfInfFidelity(1000);
  const costs = [
    await measureGraphCost('stories260k', STORIES260K, { examples: 64, maxTokens: 512, batchSize: 8, rounds: 10 }),
    await measureGraphCost('random Llama 58M', await benchModel50m(), { examples: 16, maxTokens: 256, batchSize: 8, rounds: 8 }),
    await measureAuditCost(200, 8),
  ];
  return { fidelity, costs };
}

/** The section's text; `measured` is the run's machine line. */
export async function extraScoresSection(measured: () => string): Promise<string> {
  console.error('self-influence fidelity and the cost of the extra columns…');
  const r = await measureExtraScores();
  const f = r.fidelity;
  const pct = (x: number) => `${((x - 1) * 100).toFixed(1)}%`;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const worstHigh = Math.max(...r.costs.map((c) => c.high));
  const worstRatio = Math.max(...r.costs.map((c) => c.ratio));
  const rows = r.costs.map((c) => `| ${c.label} | ${c.rounds} | ${median(c.without).toFixed(2)} | ${median(c.with).toFixed(2)} | ${pct(c.ratio)} | ${pct(c.low)} to ${pct(c.high)} |`);
  return `## Self-influence and the compliance direction: fidelity and cost (issue 16)

${measured()}

**Projected vs exact self-influence.** The first 1000 GSM8K records (${f.examples} encodable within 512 tokens) on stories260k, default probe \`${DEFAULT_PROBE}\`: \`self_inf\` = ‖g‖² from the default projection (\`auto\` → \`${f.projection}\`, ${f.gradientDim} values; the projection is capped at each parameter's size, so on this small model it compresses only the larger tensors) against the exact full gradient (\`--proj none\`, ${f.exactDim} values).

| score | Spearman vs exact | top-${f.topK} overlap |
|---|---|---|
| \`self_inf\` | ${f.selfInf.spearman.toFixed(4)} | ${f.selfInf.topOverlap.toFixed(2)} |
| \`self_inf_n\` | ${f.selfInfN.spearman.toFixed(4)} | ${f.selfInfN.topOverlap.toFixed(2)} |

‖Pg‖² / ‖g‖² per example: mean ${f.normRatio.mean.toFixed(4)}, sd ${f.normRatio.sd.toFixed(4)} (the projection keeps squared norms in expectation; its noise is what the rank correlation loses). On larger models \`auto\` compresses every matrix, so expect lower agreement there (not measured: the exact full gradient of the 58M model is 58M values per example); use \`--proj none\` with a small probe, or a wider projection, when \`self_inf\` must be exact.

**Cost of the extra columns.** \`self_inf\` and \`self_inf_n\` reuse the squared norm the gradient scorer already computes, so their cost is a logarithm per example; the direction columns need the residual states of the direction layer (default the middle one) at the last prompt token and averaged over the response, which the feature graph outputs as one extra [B,2,T]×[B,T,D] MatMul per layer, outside the backward, plus a D-long dot product per column in the scorer. Measured in alternating rounds (ABBA order), without (\`--direction-layers none\`) and with (the default); the ratio is the geometric mean of the per-round ratios with a 95% Student t interval. Target: ≤ 3% over the default audit.

| what | rounds | median without (s) | median with (s) | extra time | 95% interval |
|---|---|---|---|---|---|
${rows.join('\n')}

Worst point estimate ${pct(worstRatio)} (${worstRatio <= 1.03 ? 'within' : 'over'} the ≤ 3% target); worst upper bound of the 95% intervals ${pct(worstHigh)}${worstHigh <= 1.03 ? ', so the target holds at this confidence' : ': at this confidence the measurement cannot exclude a cost just above 3%, mostly from the whole process\'s start-to-exit noise (compare the feature-graph rows, where the extra work is)'}. Memory: the states add 2·D float32 values per direction layer and example in flight (graph output and its copy) and in each cache entry: 32 KiB per example on an 8B model (D = 4096), against about 28 MiB for its projected gradient (\`kron:128x256\` on 7 matrices × 32 layers).`;
}
