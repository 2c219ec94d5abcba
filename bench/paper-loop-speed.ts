// safesift's default preset against the PyTorch peers at their best configuration of the same cores:
// the paper's batch-size-1 full-gradient loop and a LoGra-style batched, projected loop.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { DEFAULT_PROBE } from '../shared/src/audit/audit-options.ts';
import { openAuditModel, type AuditModel } from '../shared/src/audit/audit-model.ts';
import { featurizeInBatches } from '../shared/src/features/featurize-batches.ts';
import { DEFAULT_PROJECTION_SEED, describeProjection, resolveProjection, type ProjectionSpec } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { GradientScorer } from '../shared/src/scoring/gradient-score.ts';
import { GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, tokenizeAnchorSets, tokenizeCorpus } from './bench-models.ts';
import { pairedRatio } from './paired-ratio.ts';
import { spearman, topOverlap, type AnchorExamples } from './probe-fidelity.ts';
import { featureFlops, type FlopCount } from './roofline.ts';
import { LOGRA_LOOP, PAPER_LOOP, runTorchConfig, sweepTorch, torchConfigs, type TorchRun } from './torch-peers.ts';

export type TorchRunSummary = Omit<TorchRun, 'scores'>;

export interface Interval {
  ratio: number;
  low: number;
  high: number;
}

export interface PeerComparison {
  label: string;
  examples: number;
  sweepExamples: number;
  meanTokens: number;
  /** safesift's default preset on this model (probe, projection), also the LoGra peer's dimensions. */
  preset: string;
  /** safesift's sessions, threads and batches: the audit's plan on this machine. */
  layout: string;
  paper: { runs: TorchRunSummary[]; best: TorchRunSummary };
  logra: { runs: TorchRunSummary[]; best: TorchRunSummary };
  /** Rank agreement with the exact score (the paper loop's): safesift's default and the LoGra peer. */
  fidelity: { safesift: { spearman: number; topOverlap: number }; logra: { spearman: number; topOverlap: number }; topK: number };
  /** safesift's exact `all` against the paper loop's scores: the same computation, so they must agree. */
  exactCheck: { spearman: number; maxAbsDiff: number } | null;
  /** Examples/s per alternating round of the three at their best configurations. */
  rounds: { safesift: number[]; paper: number[]; logra: number[] };
  /** safesift's speed-up over each peer's best configuration: geometric mean of the rounds, 95% interval. */
  vsPaper: Interval;
  vsLogra: Interval;
  /** Mean per example: the paper loop forms exact weight gradients, the other two the projected ones. */
  flops: { exact: FlopCount; projected: FlopCount };
}

export interface PeerSetup {
  label: string;
  modelDir: string;
  records: number;
  /** The sweep runs on the first `sweepRecords` of them: it only has to rank the configurations. */
  sweepRecords: number;
  maxTokens: number;
  /** Alternating rounds of safesift and both peers' best configurations after the sweep. */
  rounds: number;
  /** Also run safesift's exact `all` and check it against the paper loop (small models only). */
  exactCheck: boolean;
  lograBatches: readonly number[];
  python: string;
}

const asRequest = (examples: readonly TokenizedExample[]) => examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) }));
const torchProjectionArg = (p: ProjectionSpec) => ['--proj', p.kind === 'none' ? 'none' : `kron:${p.outDim}x${p.inDim}`, '--seed', String(DEFAULT_PROJECTION_SEED)];
const summary = ({ scores: _scores, ...rest }: TorchRun): TorchRunSummary => rest;

/** Sweeps both peers, times safesift, then alternates the three at their best for `rounds` rounds. */
export async function comparePeers(setup: PeerSetup): Promise<PeerComparison> {
  const checkpoint = await openCheckpoint(setup.modelDir);
  const tokenizer = await PromptTokenizer.load(setup.modelDir, { format: 'paper-llama2' });
  const examples = await tokenizeCorpus(tokenizer, GSM8K_TRAIN, setup.records, { maxTokens: setup.maxTokens });
  const anchors = await tokenizeAnchorSets(tokenizer, ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens: setup.maxTokens, anchorTokens: 10 });
  const projection = resolveProjection({ kind: 'auto', seed: DEFAULT_PROJECTION_SEED }, checkpoint.config);
  const cores = cpus().length;
  const dir = mkdtempSync(join(tmpdir(), 'safesift-peers-'));
  try {
    const writeRequest = (name: string, subset: readonly TokenizedExample[]) => {
      const path = join(dir, name);
      writeFileSync(
        path,
        JSON.stringify({
          model_dir: setup.modelDir,
          examples: asRequest(subset),
          anchor_sets: anchors.map((a) => ({ weight: a.spec.weight, examples: asRequest(a.examples) })),
        }),
      );
      return path;
    };
    const request = writeRequest('request.json', examples);
    const sweepRequest = writeRequest('sweep.json', examples.slice(0, setup.sweepRecords));
    // Every run shares the anchors, so each peer computes its anchor target once.
    const paperArgs = ['--target-cache', join(dir, 'paper-target.pt')];
    const lograArgs = [...torchProjectionArg(projection), '--target-cache', join(dir, 'logra-target.pt')];
    console.error(`  ${setup.label}: ${examples.length} examples (sweep on the first ${Math.min(setup.sweepRecords, examples.length)})`);
    const paperSweep = await sweepTorch('paper loop', setup.python, PAPER_LOOP, sweepRequest, torchConfigs(cores), paperArgs);
    const lograSweep = await sweepTorch('LoGra-style', setup.python, LOGRA_LOOP, sweepRequest, torchConfigs(cores, setup.lograBatches), lograArgs);
    // The best configurations on every example: the exact scores, and the first round of timings.
    const paper = { ...paperSweep, best: await runTorchConfig(setup.python, PAPER_LOOP, request, paperSweep.best.config, paperArgs) };
    const logra = { ...lograSweep, best: await runTorchConfig(setup.python, LOGRA_LOOP, request, lograSweep.best.config, lograArgs) };
    const exactScores = paper.best.scores;

    let exactCheck: PeerComparison['exactCheck'] = null;
    if (setup.exactCheck) {
      const exact = await SafesiftTimer.open(setup.modelDir, { kind: 'none' }, setup.maxTokens, anchors);
      const { scores } = await exact.time(examples);
      await exact.close();
      exactCheck = { spearman: spearman(scores, exactScores), maxAbsDiff: Math.max(...exactScores.map((s, i) => Math.abs(s - scores[i]!))) };
    }
    const safesift = await SafesiftTimer.open(setup.modelDir, projection, setup.maxTokens, anchors);
    const topK = Math.min(100, Math.floor(examples.length / 4));
    const first = await safesift.time(examples);
    const fidelity = {
      safesift: { spearman: spearman(first.scores, exactScores), topOverlap: topOverlap(first.scores, exactScores, topK) },
      logra: { spearman: spearman(logra.best.scores, exactScores), topOverlap: topOverlap(logra.best.scores, exactScores, topK) },
      topK,
    };

    // Side by side at the best configurations, the order reversed every round so drift hits all alike.
    const rounds = { safesift: [] as number[], paper: [] as number[], logra: [] as number[] };
    const legs: Array<[keyof typeof rounds, () => Promise<number>]> = [
      ['safesift', async () => examples.length / (await safesift.time(examples)).seconds],
      ['paper', async () => (await runTorchConfig(setup.python, PAPER_LOOP, request, paper.best.config, paperArgs)).examplesPerSecond],
      ['logra', async () => (await runTorchConfig(setup.python, LOGRA_LOOP, request, logra.best.config, lograArgs)).examplesPerSecond],
    ];
    for (let r = 0; r < setup.rounds; r++) {
      for (const [name, run] of r % 2 === 0 ? legs : [...legs].reverse()) rounds[name].push(await run());
      console.error(`  round ${r + 1}: safesift ${rounds.safesift.at(-1)!.toFixed(2)}, paper ${rounds.paper.at(-1)!.toFixed(2)}, LoGra ${rounds.logra.at(-1)!.toFixed(2)} ex/s`);
    }
    const layout = safesift.layout;
    await safesift.close();
    // Speed-up = peer's seconds per example over safesift's, paired by round.
    const perExample = (xs: number[]) => xs.map((x) => 1 / x);
    const mean = (f: (e: TokenizedExample) => FlopCount) => {
      const sum = examples.map(f).reduce((a, b) => ({ forward: a.forward + b.forward, backward: a.backward + b.backward, gradient: a.gradient + b.gradient, total: a.total + b.total }));
      return { forward: sum.forward / examples.length, backward: sum.backward / examples.length, gradient: sum.gradient / examples.length, total: sum.total / examples.length };
    };
    return {
      label: setup.label,
      examples: examples.length,
      sweepExamples: Math.min(setup.sweepRecords, examples.length),
      meanTokens: examples.reduce((n, e) => n + e.ids.length, 0) / examples.length,
      preset: `${DEFAULT_PROBE} ${describeProjection(projection)}`,
      layout,
      paper: { runs: paper.runs.map(summary), best: summary(paper.best) },
      logra: { runs: logra.runs.map(summary), best: summary(logra.best) },
      fidelity,
      exactCheck,
      rounds,
      vsPaper: pairedRatio(perExample(rounds.safesift), perExample(rounds.paper)),
      vsLogra: pairedRatio(perExample(rounds.safesift), perExample(rounds.logra)),
      flops: {
        exact: mean((e) => featureFlops(checkpoint.config, e.ids.length, e.labelCount, { kind: 'none' })),
        projected: mean((e) => featureFlops(checkpoint.config, e.ids.length, e.labelCount, projection)),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await checkpoint.close();
  }
}

/** safesift as `safesift audit` runs it: the audit's model, sessions, threads and batch limits (its plan for this machine). */
class SafesiftTimer {
  private constructor(
    private readonly audit: AuditModel,
    private readonly scorer: GradientScorer,
  ) {}

  static async open(modelDir: string, projection: ProjectionSpec, maxTokens: number, anchors: AnchorExamples): Promise<SafesiftTimer> {
    const audit = await openAuditModel(modelDir, { format: 'paper-llama2', probes: DEFAULT_PROBE, projection, sketch: null, dtype: 'float32', maxTokens, directionLayers: 'middle' });
    try {
      const sets = [];
      for (const { spec, examples } of anchors) sets.push({ spec, vectors: (await featurizeInBatches(audit.model, examples, audit.batch)).map((f) => f.gradient) });
      const scorer = new GradientScorer(sets);
      await featurizeInBatches(audit.model, anchors[0]!.examples.slice(0, 2 * audit.plan.sessions), audit.batch); // warm-up
      return new SafesiftTimer(audit, scorer);
    } catch (error) {
      await audit.close();
      throw error;
    }
  }

  /** The audit's plan in words, e.g. "2 sessions × 1 thread, batches of 1". */
  get layout(): string {
    const { sessions, threadsPerSession, batchExamples } = this.audit.plan;
    return `${sessions} session${sessions > 1 ? 's' : ''} × ${threadsPerSession} thread${threadsPerSession > 1 ? 's' : ''}, batches of ${batchExamples}`;
  }

  /** Featurization plus scoring (normalise and dot), as the peers time theirs. */
  async time(examples: readonly TokenizedExample[]): Promise<{ scores: Float64Array; seconds: number }> {
    const scores = new Float64Array(examples.length);
    let seconds = 0;
    // Per window, so exact gradients never pile up.
    for (let start = 0; start < examples.length; start += 256) {
      const t0 = performance.now();
      const features = await featurizeInBatches(this.audit.model, examples.slice(start, start + 256), this.audit.batch);
      features.forEach((f, i) => (scores[start + i] = this.scorer.score(f.gradient).score));
      seconds += (performance.now() - t0) / 1000;
    }
    return { scores, seconds };
  }

  close(): Promise<void> {
    return this.audit.close();
  }
}

/** Debian's default libblas.so.3 (netlib reference BLAS, no OpenBLAS/MKL): far slower than what the paper's setup uses. */
export function isReferenceBlas(blas: string): boolean {
  return !/openblas|mkl|blis|atlas/i.test(blas) && /\/blas\/libblas\.so/.test(blas);
}
