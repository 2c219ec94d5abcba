// What the distributed runtime adds to the feature computation itself: one worker's wall time
// from submit to summary.json vs the feature model alone on the same examples, then 2 workers vs 1.
import { openAuditModel } from '../shared/src/audit/audit-model.ts';
import { examplesPerBatch, featurizeInBatches } from '../shared/src/features/featurize-batches.ts';
import { DEFAULT_PROJECTION_SEED, parseProjection } from '../shared/src/graph/projection.ts';
import { readJsonLines } from '../test/helpers/fixtures.ts';
import { runJob, startBenchCluster, stopBenchCluster, type BenchInputs, type JobRun } from './bench-cluster.ts';
import { pairedRatio } from './paired-ratio.ts';
import { benchModel50m, GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, tokenizeAnchorSets, tokenizeCorpus } from './bench-models.ts';

export interface PipelineOverheadSetup {
  records: number;
  maxTokens: number;
  /** Examples per bus batch. */
  batchExamples: number;
  /** Records of the warm-up job run before anything is timed. */
  warmupRecords?: number;
  /** Rounds of (a) and (b) in ABBA order: at least `minRounds` (default 3), then more until the overhead's 95% interval is narrower than `targetWidth`, at most `maxRounds`. */
  minRounds?: number;
  maxRounds?: number;
  /** Width (high − low) the overhead's interval must get under, as a fraction (default 0.05: the 5% target). */
  targetWidth?: number;
}

export interface FeatureOnly {
  examples: number;
  meanTokens: number;
  /** The anchors' features (the audit computes them before the corpus). */
  anchorSeconds: number;
  anchorCpuSeconds: number;
  /** The corpus's features. */
  corpusSeconds: number;
  /** Anchors + corpus: the audit's whole feature computation. */
  seconds: number;
  /** CPU seconds of this process (every thread) over the same span. */
  cpuSeconds: number;
}

export interface PipelineOverheadResult {
  setup: PipelineOverheadSetup;
  /** (a): the mean of its rounds. */
  featureOnly: FeatureOnly;
  /** (b): the mean of its rounds. */
  oneWorker: JobRun;
  /** Wall seconds of each round of (a) and of (b), in order. */
  rounds: { featureOnly: number[]; oneWorker: number[] };
  twoWorkers: JobRun;
  /** (b − a) / a with b the 1-worker wall time: geometric mean of the paired rounds' b/a, minus 1, and its 95% interval. */
  overhead: number;
  overheadInterval: { low: number; high: number };
  /** Whether the interval got narrower than the target width within maxRounds. */
  intervalNarrowEnough: boolean;
  /** (t1 / t2) / 2 on wall times. */
  efficiency: number;
}

const PROBES = 'all';
const PROJ = 'kron:64x128';

/** (a): the audit's feature model (same probes, projection, one thread, batch size 1) on the same anchors and examples. */
export async function measureFeatureOnly(modelDir: string, corpusPath: string, records: number, maxTokens: number): Promise<FeatureOnly> {
  const opened = await openAuditModel(modelDir, { format: 'paper-llama2', probes: PROBES, projection: parseProjection(PROJ, DEFAULT_PROJECTION_SEED), sketch: null, dtype: 'float32', maxTokens, threads: 1 });
  try {
    const anchors = (await tokenizeAnchorSets(opened.tokenizer, ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens, anchorTokens: 10 })).flatMap((set) => set.examples);
    const examples = await tokenizeCorpus(opened.tokenizer, corpusPath, records, { maxTokens });
    await opened.model.featurize(examples.slice(0, 1)); // warm-up, as the worker's first job did
    const timed = async (work: () => Promise<unknown>) => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      await work();
      const used = process.cpuUsage(cpu);
      return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
    };
    const anchorRun = await timed(() => featurizeInBatches(opened.model, anchors, examplesPerBatch(1)));
    const corpusRun = await timed(() => featurizeInBatches(opened.model, examples, examplesPerBatch(1)));
    return {
      examples: examples.length,
      meanTokens: examples.reduce((n, e) => n + e.ids.length, 0) / examples.length,
      anchorSeconds: anchorRun.seconds,
      anchorCpuSeconds: anchorRun.cpuSeconds,
      corpusSeconds: corpusRun.seconds,
      seconds: anchorRun.seconds + corpusRun.seconds,
      cpuSeconds: anchorRun.cpuSeconds + corpusRun.cpuSeconds,
    };
  } finally {
    await opened.close();
  }
}

export async function measurePipelineOverhead(setup: PipelineOverheadSetup): Promise<PipelineOverheadResult> {
  const modelDir = await benchModel50m();
  const { cluster, anchors } = await startBenchCluster();
  try {
    const lines = readJsonLines(GSM8K_TRAIN, setup.records).map((r) => JSON.stringify(r));
    const corpus = await cluster.writeLocal('gsm8k.jsonl', `${lines.join('\n')}\n`);
    const warmupCorpus = await cluster.writeLocal('warmup.jsonl', `${lines.slice(0, setup.warmupRecords ?? 4).join('\n')}\n`);
    const inputs: BenchInputs = { model: await cluster.uploadDir(modelDir, 'models/bench-50m'), ...anchors };
    const data = await cluster.uploadFile(corpus, 'data/gsm8k.jsonl');
    const warmupData = await cluster.uploadFile(warmupCorpus, 'data/warmup.jsonl');
    // One harmful anchor is enough to warm up with: the graph does not depend on the anchors.
    const firstAnchor = readJsonLines(ILLEGAL_ACTIVITIES_ANCHORS[0]!.source, 1).map((r) => JSON.stringify(r));
    const warmupInputs: BenchInputs = { model: inputs.model, harmful: await cluster.uploadText(`${firstAnchor.join('\n')}\n`, 'anchors/warmup.jsonl'), safe: [] };
    const flags = ['--max-tokens', String(setup.maxTokens), '--probes', PROBES, '--proj', PROJ, '--batch-examples', String(setup.batchExamples), '--k', '10'];

    cluster.spawn('reducer');
    cluster.spawn('coordinator', ['--threads', '1']);
    cluster.spawn('worker', ['--threads', '1', '--name', 'w1']);
    // Warm-up: the model is mirrored from S3 into the processes' cache and its feature graph built and cached.
    console.error('  warm-up job (model download, graph build)…');
    await runJob(cluster, warmupInputs, warmupData, 'warmup-1', flags);

    const featureRuns: FeatureOnly[] = [];
    const workerRuns: JobRun[] = [];
    const legA = async (round: number) => {
      const a = await measureFeatureOnly(modelDir, corpus, setup.records, setup.maxTokens);
      featureRuns.push(a);
      console.error(`  round ${round}: (a) feature model alone: ${a.examples} examples in ${a.seconds.toFixed(1)} s`);
    };
    const legB = async (round: number) => {
      const b = await runJob(cluster, inputs, data, `one-worker-${round}`, flags);
      workerRuns.push(b);
      console.error(`  round ${round}: (b) 1 worker: ${b.wallSeconds.toFixed(1)} s submit → summary.json`);
    };
    const interval = () => pairedRatio(featureRuns.map((a) => a.seconds), workerRuns.map((b) => b.wallSeconds));
    const [minRounds, maxRounds, targetWidth] = [setup.minRounds ?? 3, setup.maxRounds ?? 12, setup.targetWidth ?? 0.05];
    for (let round = 1; round <= maxRounds; round++) {
      // ABBA: a drift on the shared machine hits both alike.
      if (round % 2 === 1) {
        await legA(round);
        await legB(round);
      } else {
        await legB(round);
        await legA(round);
      }
      const { low, high } = interval();
      if (round >= minRounds && high - low < targetWidth) break;
    }
    const paired = interval();
    const featureOnly = meanOf(featureRuns);
    const oneWorker = meanOf(workerRuns);

    // No second warm-up: w2 shares the processes' cache (model copy, graph), and every job reopens the model anyway.
    await cluster.spawn('worker', ['--threads', '1', '--name', 'w2']).waitFor('worker ready');
    const twoWorkers = await runJob(cluster, inputs, data, 'two-workers', flags);
    console.error(`  (c) 2 workers: ${twoWorkers.wallSeconds.toFixed(1)} s`);
    return {
      setup,
      featureOnly,
      oneWorker,
      rounds: { featureOnly: featureRuns.map((a) => a.seconds), oneWorker: workerRuns.map((b) => b.wallSeconds) },
      twoWorkers,
      overhead: paired.ratio - 1,
      overheadInterval: { low: paired.low - 1, high: paired.high - 1 },
      intervalNarrowEnough: paired.high - paired.low < (setup.targetWidth ?? 0.05),
      efficiency: oneWorker.wallSeconds / twoWorkers.wallSeconds / 2,
    };
  } finally {
    await stopBenchCluster(cluster);
  }
}

/** The mean of runs of one shape: numbers averaged field by field (nested too); anything else taken from the last run. */
function meanOf<T>(runs: readonly T[]): T {
  const last = runs.at(-1);
  if (last === undefined) throw new Error('meanOf: no runs');
  if (typeof last === 'number') return ((runs as readonly number[]).reduce((x, y) => x + y, 0) / runs.length) as T;
  if (typeof last !== 'object' || last === null || Array.isArray(last)) return last;
  const keys = Object.keys(last) as Array<keyof T>;
  return Object.fromEntries(keys.map((key) => [key, meanOf(runs.map((run) => run[key]))])) as T;
}

