// safesift's in-graph per-example gradients vs the paper's PyTorch batch-size-1 loop, same model, data and CPU.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { examplesPerBatch, featurizeInBatches } from '../shared/src/features/featurize-batches.ts';
import type { FeatureModel } from '../shared/src/features/feature-model.ts';
import { PooledFeatureModel } from '../shared/src/features/pooled-feature-model.ts';
import type { Probe } from '../shared/src/graph/probes.ts';
import { describeProjection } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, STORIES260K, tokenizeAnchorSets, tokenizeCorpus } from './bench-models.ts';
import { GradientScorer } from '../shared/src/scoring/gradient-score.ts';
import { spearman, topOverlap, type AnchorExamples, type ProbeConfig } from './probe-fidelity.ts';

const PAPER_LOOP = fileURLToPath(new URL('./reference/paper_loop.py', import.meta.url));

export interface TorchLoopResult {
  examples: number;
  seconds: number;
  examples_per_s: number;
  threads: number;
  /** BLAS libraries the loop's matmuls ran on. */
  blas: string;
  torch: string;
  scores: number[];
}

export interface PaperLoopRow {
  probe: Probe;
  projection: string;
  examplesPerSecond: number;
  /** safesift examples/s ÷ the PyTorch loop's. */
  speedup: number;
  /** Agreement of this configuration's scores with the paper's (the PyTorch loop's). */
  spearmanVsPaper: number;
  topOverlapVsPaper: number;
}

export interface PaperLoopResult {
  examples: number;
  batchSize: number;
  /** Worker threads of safesift's pooled feature model (one session, one intra-op thread each). */
  workers: number;
  torch: Omit<TorchLoopResult, 'scores'>;
  rows: PaperLoopRow[];
  /** k of the top-k overlap column. */
  topK: number;
  /** The exact `all` scores against the loop's: both compute the same score, so these must agree. */
  check: { spearman: number; maxAbsDiff: number };
}

export interface PaperLoopSetup {
  /** safesift configurations to time; the exact `all` (the loop's own computation) is always added first. */
  configs: readonly ProbeConfig[];
  modelDir?: string;
  corpusPath?: string;
  /** First N corpus records (default 200). */
  records?: number;
  /** Examples per batch (default 1: with a worker per core, padding-free batches of one were fastest). */
  batchSize?: number;
  maxTokens?: number;
  /** Python with torch (default $SAFESIFT_REFERENCE_PYTHON or /usr/bin/python3). */
  python?: string;
}

/** Debian's default libblas.so.3 (netlib reference BLAS, no OpenBLAS/MKL): far slower than what the paper's setup uses. */
export function isReferenceBlas(blas: string): boolean {
  return !/openblas|mkl|blis|atlas/i.test(blas) && /\/blas\/libblas\.so/.test(blas);
}

const asRequest = (examples: readonly TokenizedExample[]) => examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) }));

function runPython(python: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(python, args, { maxBuffer: 1 << 28 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${python} ${args.join(' ')} failed: ${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

/** Runs the PyTorch loop, then each safesift config, one after the other in this process (never concurrently). */
export async function measurePaperLoop(setup: PaperLoopSetup): Promise<PaperLoopResult> {
  const modelDir = setup.modelDir ?? STORIES260K;
  const batchSize = setup.batchSize ?? 1;
  const maxTokens = setup.maxTokens ?? 512;
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const examples = await tokenizeCorpus(tokenizer, setup.corpusPath ?? GSM8K_TRAIN, setup.records ?? 200, { maxTokens });
  const anchors = await tokenizeAnchorSets(tokenizer, ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens, anchorTokens: 10 });

  const dir = mkdtempSync(join(tmpdir(), 'safesift-paper-loop-'));
  let torch: TorchLoopResult;
  try {
    const request = join(dir, 'request.json');
    writeFileSync(
      request,
      JSON.stringify({
        model_dir: modelDir,
        examples: asRequest(examples),
        anchor_sets: anchors.map((a) => ({ weight: a.spec.weight, examples: asRequest(a.examples) })),
      }),
    );
    torch = JSON.parse(await runPython(setup.python ?? process.env['SAFESIFT_REFERENCE_PYTHON'] ?? '/usr/bin/python3', [PAPER_LOOP, request])) as TorchLoopResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.error(`  paper loop (PyTorch ${torch.torch}, ${torch.threads} threads, BLAS ${torch.blas}): ${torch.examples_per_s.toFixed(2)} ex/s`);
  if (isReferenceBlas(torch.blas)) console.error('  warning: PyTorch ran on the unoptimised reference BLAS: install libopenblas0-pthread for a fair baseline');

  const exact: ProbeConfig = { probe: 'all', projection: { kind: 'none' } };
  const configs = [exact, ...setup.configs.filter((c) => !(c.probe === 'all' && c.projection.kind === 'none'))];
  const rows: PaperLoopRow[] = [];
  const topK = Math.min(100, Math.floor(examples.length / 4));
  let check = { spearman: NaN, maxAbsDiff: NaN };
  let workers = 0;
  for (const config of configs) {
    // As the audit runs it: a worker thread per core, each with its own single-threaded session.
    const model = await PooledFeatureModel.open(checkpoint, config);
    workers = model.concurrency;
    const { scores, seconds } = await timedScores(model, anchors, examples, batchSize);
    await model.close();
    if (config === exact) {
      check = { spearman: spearman(scores, torch.scores), maxAbsDiff: Math.max(...torch.scores.map((s, i) => Math.abs(s - scores[i]!))) };
    }
    const examplesPerSecond = examples.length / seconds;
    rows.push({
      probe: config.probe,
      projection: describeProjection(config.projection),
      examplesPerSecond,
      speedup: examplesPerSecond / torch.examples_per_s,
      spearmanVsPaper: spearman(scores, torch.scores),
      topOverlapVsPaper: topOverlap(scores, torch.scores, topK),
    });
    console.error(`  safesift ${config.probe} ${describeProjection(config.projection)}: ${examplesPerSecond.toFixed(2)} ex/s (${(examplesPerSecond / torch.examples_per_s).toFixed(1)}×)`);
  }
  await checkpoint.close();
  const { scores: _scores, ...torchSummary } = torch;
  return { examples: examples.length, batchSize, workers, torch: torchSummary, rows, topK, check };
}

/** Scores of `examples`, timed like the loop: featurization plus normalise-and-dot (anchors and warm-up excluded). */
async function timedScores(
  model: FeatureModel,
  anchors: AnchorExamples,
  examples: readonly TokenizedExample[],
  batchSize: number,
): Promise<{ scores: Float64Array; seconds: number }> {
  const sets = [];
  for (const { spec, examples: anchorExamples } of anchors) {
    sets.push({ spec, vectors: (await featurizeInBatches(model, anchorExamples, examplesPerBatch(batchSize))).map((f) => f.gradient) });
  }
  const scorer = new GradientScorer(sets);
  await featurizeInBatches(model, examples.slice(0, 2 * (model.concurrency ?? 1)), examplesPerBatch(batchSize)); // warm-up: first-run allocations
  const scores = new Float64Array(examples.length);
  let seconds = 0;
  // Per window, so exact gradients never pile up.
  for (let start = 0; start < examples.length; start += 256) {
    const t0 = performance.now();
    const features = await featurizeInBatches(model, examples.slice(start, start + 256), examplesPerBatch(batchSize));
    features.forEach((f, i) => (scores[start + i] = scorer.score(f.gradient).score));
    seconds += (performance.now() - t0) / 1000;
  }
  return { scores, seconds };
}
