// `npm run bench [-- --only a,b]`: measures what the issues set targets for and rewrites BENCHMARKS.md.
// Each section sits between `<!-- section:NAME -->` markers; sections not run keep their previous text.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gpuMemoryBytes } from '../shared/src/features/memory-budget.ts';
import { measureAuditMemory, type AuditMemoryRow } from './audit-memory.ts';
import { measureClusterMemory, type ClusterMemoryRow } from './cluster-memory.ts';
import { measureLargeGraphBuild, type LargeGraphResult } from './large-graph.ts';
import { benchModel50m, REPO_ROOT } from './bench-models.ts';
import { incrementalSection } from './incremental-audit.ts';
import { fidelityLargeSection } from './fidelity-large-section.ts';
import { autoProjectionSection, memoryModelSection, sessionLayoutSection } from './execution-sections.ts';
import { longContextSection } from './long-context.ts';
import { featureCostSection } from './feature-cost.ts';
import { featureProfileSection } from './feature-profile.ts';
import { peerSection } from './peer-section.ts';
import type { JobRun } from './bench-cluster.ts';
import { measurePipelineOverhead, type PipelineOverheadResult } from './pipeline-overhead.ts';
import { measurePresetCost, PRESET_COST_CONFIGS, type PresetCostRow } from './preset-cost.ts';
import { measureProbeFidelity, type FidelityResult } from './probe-fidelity.ts';
import { measureReducerMerge, type ReducerMergeRow } from './reducer-merge.ts';
import { CAPPED_HEAP_MIB, measureReportScale } from './report-scale.ts';
import { measureWeightCheck } from './weight-check.ts';
import { replicationSection } from './replication/replicate-table.ts';
import { extraScoresSection } from './extra-scores.ts';

const SECTIONS = ['feature-cost', 'audit-memory', 'fidelity', 'fidelity-large', 'session-layout', 'memory-model', 'auto-projection', 'long-context', 'gpu', 'paper-loop', 'feature-profile', 'preset-cost', 'large-graph', 'pipeline-overhead', 'reducer-merge', 'cluster-memory', 'incremental', 'weight-check', 'report-scale', 'extra-scores', 'replication'] as const;
/** Sections that only format results made elsewhere; run only when named in --only. */
const ON_REQUEST: ReadonlySet<string> = new Set(['replication']);
type Section = (typeof SECTIONS)[number];
/** Headings of reports written before the markers existed, so their text survives a partial run. */
const LEGACY_HEADINGS: Partial<Record<Section, string>> = {
  'feature-cost': '## Feature graph vs plain forward',
  'audit-memory': '## Peak memory of `safesift audit`',
};

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    out: { type: 'string' },
    'fidelity-records': { type: 'string', default: '1000' },
    'paper-loop-records': { type: 'string', default: '200' },
    'peer-rounds': { type: 'string', default: '4' },
    'cost-rounds': { type: 'string', default: '5' },
    'preset-cost-examples': { type: 'string', default: '16' },
    'overhead-records': { type: 'string', default: '48' },
    'report-rows': { type: 'string', default: '10000,1000000' },
    // the replication (npm run replicate, about an hour) is not rerun here: its replication.json is read
    replication: { type: 'string' },
  },
});
const only = new Set(args.only ? args.only.split(',').map((s) => s.trim()).filter(Boolean) : SECTIONS.filter((s) => !ON_REQUEST.has(s)));
for (const name of only) if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only: unknown section '${name}' (known: ${SECTIONS.join(', ')})`);
const outPath = resolve(args.out ?? join(REPO_ROOT, 'BENCHMARKS.md'));
const count = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: expected a positive integer, got '${text}'`);
  return n;
};

const fmt = (x: number, digits = 1) => x.toFixed(digits);
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const ortVersion = (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
const measured = () =>
  `_Measured ${new Date().toISOString()} on ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${fmt(totalmem() / 2 ** 30)} GiB; ` +
  `Node ${process.version}; onnxruntime-node ${ortVersion} (CPU, all cores, graph optimisation 'all')._`;

async function auditMemorySection(): Promise<string> {
  console.error('audit peak memory…');
  const rows: AuditMemoryRow[] = await measureAuditMemory(join(REPO_ROOT, 'demo', 'corpus.jsonl'), [10, 100], mkdtempSync(join(tmpdir(), 'safesift-bench-')), {});
  const body = table(
    ['corpus', 'records', 'peak RSS (MiB)', 'examples/s'],
    rows.map((r) => [`demo corpus × ${r.copies}`, String(r.records), fmt(r.peakRssMiB), fmt(r.examplesPerSecond)]),
  );
  return `## Peak memory of \`safesift audit\` as the corpus grows

${measured()}

The tiny demo model on the demo corpus repeated 10 and 100 times (streaming: memory should not grow with the corpus).

${body}

Peak RSS grows ${fmt(rows[1]!.peakRssMiB / rows[0]!.peakRssMiB, 2)}× for 10× the records.`;
}

async function fidelitySection(): Promise<string> {
  console.error('probe fidelity…');
  const result: FidelityResult = await measureProbeFidelity({ records: count('fidelity-records', args['fidelity-records']) });
  const k = result.topK;
  const body = table(
    ['probe', 'projection', 'gradient dim', 'Spearman vs exact `all`', `top-${k} overlap`, 'examples/s'],
    result.rows.map((r) => [r.probe, r.projection, String(r.gradientDim), fmt(r.spearman, 4), fmt(r.topOverlap, 2), fmt(r.examplesPerSecond)]),
  );
  const passing = result.rows.filter((r) => r.topOverlap >= 0.9).sort((a, b) => b.examplesPerSecond - a.examplesPerSecond);
  return `## Probe fidelity (stories260k, ${result.records} GSM8K)

${measured()}

The first ${result.records} GSM8K records (${result.examples} encodable within 512 tokens) scored with the illegal-activities anchors (harmful +1, two safe sets −1 each; anchors count their first 10 response tokens), for every probe preset × per-parameter Kronecker projection (dimensions capped at each parameter's own size: stories260k has hidden size 64 and vocabulary 512). Each configuration's bi-directional gradient score is compared with the exact full gradient (\`all\`, no projection: the paper's score) by Spearman rank correlation and by the share of the exact top ${k} it recovers. Throughput is featurization only (anchors, warm-up and scoring excluded), batch size ${result.batchSize}. Target: the default preset reaches ≥ 0.9 top-100 overlap.

${body}

Reaching ≥ 0.9 top-${k} overlap, fastest first: ${passing.map((r) => `${r.probe} ${r.projection} (${fmt(r.examplesPerSecond)} ex/s)`).join(', ') || 'none'}.`;
}

async function presetCostSection(): Promise<string> {
  console.error('cost of each probe vs a plain forward…');
  const examples = count('preset-cost-examples', args['preset-cost-examples']);
  const rows: PresetCostRow[] = await measurePresetCost({ modelDir: await benchModel50m(), configs: PRESET_COST_CONFIGS, examples });
  const body = table(
    ['probe', 'projection', 'gradient dim', 'forward ex/s', 'features ex/s', 'features / forward time'],
    rows.map((r) => [r.probe, r.projection, String(r.gradientDim), fmt(r.forwardPerSecond, 2), fmt(r.featuresPerSecond, 2), `${fmt(r.ratio, 2)}×`]),
  );
  const allLinear = rows.filter((r) => r.probe === 'all-linear');
  const worst = Math.max(...allLinear.map((r) => r.ratio));
  return `## Cost of each probe vs a plain forward (58M)

${measured()}

The ~58M-parameter random Llama (hidden 512, 8 layers, vocabulary 32000, stories260k's tokenizer), ${examples} GSM8K examples of up to 256 tokens in length-sorted batches of 8; feature graph and plain forward (logits only) timed alternately, best of 2. Target: ≤ 3.5× for \`all-linear\` projected.

${body}

\`all-linear\` projected: worst ${fmt(worst, 2)}× (${worst <= 3.5 ? 'meets' : 'misses'} the ≤ 3.5× target).`;
}

async function weightCheckSection(): Promise<string> {
  console.error('cost of the non-finite weight check…');
  const r = await measureWeightCheck();
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
  // The check's cost per round, paired with the raw read measured just before it.
  const extra = sorted(r.checked.map((c, i) => c - r.raw[i]!));
  const perBillion = (s: number) => (s * 1e9) / r.parameters;
  return `## Cost of the non-finite weight check

${measured()}

Every tensor of the ~58M random Llama (${(r.parameters / 1e6).toFixed(1)}M float32 values, page cache warm) read ${r.rounds} times, alternating: decoded only, and decoded then scanned for NaN/±Inf as \`openCheckpoint\`'s \`readTensor\` does on every graph build (a cached graph skips both).

| read | median (s) | min–max (s) |
|---|---|---|
| decode only | ${fmt(median(r.raw), 3)} | ${fmt(sorted(r.raw)[0]!, 3)}–${fmt(sorted(r.raw).at(-1)!, 3)} |
| decode + check | ${fmt(median(r.checked), 3)} | ${fmt(sorted(r.checked)[0]!, 3)}–${fmt(sorted(r.checked).at(-1)!, 3)} |

The check adds ${fmt(median(extra), 3)} s per read (paired rounds, range ${fmt(extra[0]!, 3)}–${fmt(extra.at(-1)!, 3)} s): ${fmt(perBillion(median(extra)), 1)} s per billion parameters, i.e. about ${fmt(8 * perBillion(median(extra)), 0)} s for an 8B checkpoint, once per graph build.`;
}

async function largeGraphSection(): Promise<string> {
  console.error('feature graph of a >2 GiB checkpoint…');
  const r: LargeGraphResult = await measureLargeGraphBuild();
  return `## Building the feature graph of a checkpoint over 2 GiB

${measured()}

A random-weight Llama of ${(r.parameters / 1e6).toFixed(0)}M parameters (hidden 2048, 12 layers, vocabulary 32000; \`model.safetensors\` ${fmt(r.checkpointGiB, 2)} GiB), feature graph with probe \`all\` and \`kron:64x128\`, built in a child process from a cold graph cache. Weights are read tensor by tensor and streamed into ONNX external data (${fmt(r.graphDataGiB, 2)} GiB), so the protobuf stays small. Target: builder peak RSS under 1.5 GiB.

| build time (s) | builder peak RSS (MiB) |
|---|---|
| ${fmt(r.buildSeconds)} | ${fmt(r.builderPeakRssMiB)} |

${r.builderPeakRssMiB < 1536 ? 'Meets' : 'Misses'} the 1.5 GiB target.`;
}

async function pipelineOverheadSection(): Promise<string> {
  console.error('distributed pipeline overhead…');
  const r: PipelineOverheadResult = await measurePipelineOverhead({ records: count('overhead-records', args['overhead-records']), maxTokens: 384, batchExamples: 4 });
  const { featureOnly: a, oneWorker: b, twoWorkers: c } = r;
  const runs: Array<[string, JobRun]> = [['(b) 1 worker × 1 thread', b], ['(c) 2 workers × 1 thread', c]];
  const cpuTotal = (run: JobRun) => Object.values(run.cpuSeconds).reduce((x, y) => x + y, 0);
  const wall = table(
    ['run', 'wall (s)', 'anchors (s)', 'model reopen (s)', 'scoring (s)', 'finish (s)'],
    [
      ['(a) feature model alone, 1 thread', fmt(a.seconds), fmt(a.anchorSeconds), '–', fmt(a.corpusSeconds), '–'],
      ...runs.map(([label, j]) => [label, fmt(j.wallSeconds), fmt(j.anchorsSeconds), fmt(j.modelOpenSeconds), fmt(j.scoringSeconds), fmt(j.finishSeconds)]),
    ],
  );
  const cpu = table(
    ['run', 'coordinator: anchors', 'coordinator: rest', 'worker(s): reopen', 'worker(s): scoring', 'reducer', 'nats-server', 'total'],
    [
      ['(a)', fmt(a.anchorCpuSeconds), '–', '–', fmt(a.cpuSeconds - a.anchorCpuSeconds), '–', '–', fmt(a.cpuSeconds)],
      ...runs.map(([label, j]) => [
        label.slice(0, 3),
        fmt(j.cpuPhases.anchors),
        fmt((j.cpuSeconds.coordinator ?? 0) - j.cpuPhases.anchors),
        fmt(j.cpuPhases.reopen),
        fmt(j.cpuPhases.scoring),
        fmt(j.cpuSeconds.reducer ?? 0),
        fmt(j.cpuSeconds.nats ?? 0),
        fmt(cpuTotal(j)),
      ]),
    ],
  );
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${fmt(100 * x)}%`;
  const fixed = b.anchorsSeconds + b.modelOpenSeconds + b.finishSeconds;
  return `## Overhead of the distributed pipeline (58M, 1 and 2 workers)

${measured()}

The ~58M random Llama (probe \`all\`, \`kron:64x128\`, batch size 1), the first ${r.setup.records} GSM8K records (${a.examples} encodable within ${r.setup.maxTokens} tokens, mean ${fmt(a.meanTokens, 0)} tokens), illegal-activities anchors (30 records). (a) is the same audit's pure feature computation: the audit's feature model alone on the anchors, then on the corpus examples (featurization only: no tokenizing, no scoring), one thread, in the benchmark's process. (b) and (c) are real clusters on this machine: nats-server, s3rver holding the corpus, anchors and model, \`safesift coordinator --threads 1\`, \`reducer\`, workers \`--threads 1\`; batches of ${r.setup.batchExamples} examples; timed from submit (spec stored) to summary.json written, by the summary's own timestamps. The processes were started and warmed up first with a ${r.setup.warmupRecords ?? 4}-record job against a single anchor (model copied from S3 into the processes' cache, feature graph built and cached); (a) and (b) ran in ${r.rounds.featureOnly.length} paired rounds in ABBA order (a b, b a, …), so that drift on the shared machine hits both alike, as many as it took the 95% interval of the overhead to get narrower than 5 points (at least 3, at most 12); the tables show their means (rounds: (a) ${r.rounds.featureOnly.map((s) => fmt(s)).join(' s, ')} s; (b) ${r.rounds.oneWorker.map((s) => fmt(s)).join(' s, ')} s). (c) then adds a second worker to the same cluster. Phases, from the processes' logs: anchors = submit → anchor features stored (the coordinator opens the model and computes them, for every job without a feature cache); model reopen = → the last worker's model ready (a worker keeps its model across jobs with the same model and options, so this is the anchors' download and the scorers); scoring = → last batch scored; finish = → summary.json. CPU is user + system seconds of each process (all threads) during the job, split at the same log lines; s3rver is not counted. Other work may share the 2 cores, which stretches wall times unevenly; CPU seconds are much less affected. Targets: (b − a) / a ≤ 5%; 2-worker efficiency (t1 / t2) / 2.

Wall time (s):

${wall}

CPU time (s):

${cpu}

**Overhead (b − a) / a = ${pct(r.overhead)}** on wall time, 95% interval ${pct(r.overheadInterval.low)} to ${pct(r.overheadInterval.high)} over the paired rounds (geometric mean of b / a)${r.intervalNarrowEnough ? '' : ', wider than the 5-point target width after the most rounds allowed'}: ${r.overheadInterval.high <= 0.05 ? 'meets' : r.overheadInterval.low > 0.05 ? 'misses' : 'neither meets nor misses, by this interval,'} the ≤ 5% target. Of (b)'s ${fmt(b.wallSeconds)} s, ${fmt(fixed)} s are per-job fixed costs: the anchor features (${fmt(b.anchorsSeconds)} s wall, ${fmt(b.cpuPhases.anchors)} CPU s, against (a)'s ${fmt(a.anchorSeconds)} s: the coordinator also opens the model), the worker reopening the model (${fmt(b.modelOpenSeconds)} s) and the finish (${fmt(b.finishSeconds)} s). Corpus phase alone, (b − b's anchors − a's corpus) / a's corpus = ${pct((b.wallSeconds - b.anchorsSeconds - a.corpusSeconds) / a.corpusSeconds)}. Per example, in CPU time, the worker's scoring phase (decode, tokenize, featurize, score, store, notify) costs ${pct((b.cpuPhases.scoring - (a.cpuSeconds - a.anchorCpuSeconds)) / (a.cpuSeconds - a.anchorCpuSeconds))} over (a)'s corpus part, and the whole cluster ${pct((cpuTotal(b) - a.cpuSeconds) / a.cpuSeconds)} (anchors included). **2 workers vs 1: efficiency ${fmt(r.efficiency, 2)}** on wall time, ${fmt(b.scoringSeconds / c.scoringSeconds / 2, 2)} on the scoring phase alone. The anchors and the reopen are serial, so they cap the speed-up; and during (c)'s scoring phase the two workers together got ${fmt(c.cpuPhases.scoring / c.scoringSeconds, 2)} cores of the machine's 2 (${fmt(c.cpuPhases.scoring)} CPU s in ${fmt(c.scoringSeconds)} s), the rest going to other work. Per CPU second the split costs little: (c)'s workers spent ${fmt(c.cpuPhases.scoring / b.cpuPhases.scoring, 2)}× (b)'s CPU on the same batches. On a corpus large enough for scoring to dominate, the overhead tends to the scoring phase's.`;
}

async function reducerMergeSection(): Promise<string> {
  console.error('reducer top-k merge…');
  const rows: ReducerMergeRow[] = await measureReducerMerge({ sizes: [1_000_000, 10_000_000], orders: ['random', 'ascending'] });
  const body = table(
    ['score order', 'scores', 'reducer merge (M scores / CPU s)', 'reducer merge (M scores / wall s)', 'worker per-batch top-k (M scores / CPU s)', 'peak RSS (MiB)', 'heap after GC (MiB)'],
    rows.map((r) => [
      r.order,
      `${r.scores / 1e6}M`,
      fmt(r.mergePerCpuSecond / 1e6, 2),
      fmt(r.mergePerSecond / 1e6, 2),
      fmt(r.batchTopPerCpuSecond / 1e6, 2),
      fmt(r.peakRssMiB),
      fmt(r.retainedHeapMiB, 2),
    ]),
  );
  const at = (order: string, scores: number) => rows.find((r) => r.order === order && r.scores === scores)!;
  const random = at('random', 10_000_000);
  const worst = at('ascending', 10_000_000);
  return `## Reducer top-k merge (10M scores into a top-1000)

${measured()}

The reducer's merge path: scores arrive in batches of 64 \`RankedEntry\` items (32-hex ids, previews attached), each batch first reduced to its own top-1000 as the worker does (\`TopK.push\` every entry, \`sorted()\`), then merged into the job's top-1000 as \`finalizeJob\` does (\`top.mergeSorted(result.top)\`). Entries are made 256 batches at a time and dropped after the merge (never more than 16k alive); making them is not timed. \`random\`: scores in no order, as in a real corpus (after the first thousand, almost every score is rejected at the heap's root); \`ascending\`: every score enters the top-k (the worst case: a full sift-down each). Each size in a fresh child process; peak RSS is its VmHWM, heap after GC is what stays live at the end. Rates per CPU second (user + system of the process, GC threads included) are what one core delivers, whatever else shares the machine; the wall rates shrink with that load. Target: ≥ 5M scores/s (checked per CPU second).

${body}

Merging 10M scores in random order: ${fmt(random.mergePerCpuSecond / 1e6, 2)}M scores per CPU second (${random.mergePerCpuSecond >= 5e6 ? 'meets' : 'misses'} the target); in the worst case ${fmt(worst.mergePerCpuSecond / 1e6, 2)}M (${worst.mergePerCpuSecond >= 5e6 ? 'meets' : 'misses'} it). The live heap after GC is ${fmt(at('random', 1_000_000).retainedHeapMiB, 1)} MiB at 1M and ${fmt(random.retainedHeapMiB, 1)} MiB at 10M scores (the top-1000 and the runtime: ${random.retainedHeapMiB <= 1.2 * at('random', 1_000_000).retainedHeapMiB ? 'flat' : '**not flat**'}); peak RSS ${fmt(at('random', 1_000_000).peakRssMiB, 0)} vs ${fmt(random.peakRssMiB, 0)} MiB, which also counts garbage of the made entries that V8 has not collected yet. Each batch's top-k arrives sorted, so \`mergeSorted\` stops at its first entry that misses the top-k: in random order almost every batch costs one comparison. The worst case (every score enters) is bound by \`siftDown\`'s comparator calls (\`compareRanked\` on objects, two per level); real corpora are not sorted by score, so the reducer sees the random case.`;
}

async function clusterMemorySection(): Promise<string> {
  console.error('cluster peak memory…');
  const rows: ClusterMemoryRow[] = await measureClusterMemory({ sizes: [200, 2000] });
  const body = table(
    ['records', 'batches', 'scored', 'job wall (s)', 'coordinator peak RSS (MiB)', 'worker peak RSS (MiB)', 'reducer peak RSS (MiB)'],
    rows.map((r) => [String(r.records), String(r.batches), String(r.scored), fmt(r.wallSeconds), fmt(r.coordinatorPeakMiB), fmt(r.workerPeakMiB), fmt(r.reducerPeakMiB)]),
  );
  const [small, big] = [rows[0]!, rows[rows.length - 1]!];
  const growth = (f: (r: ClusterMemoryRow) => number) => `${fmt(f(big) / f(small), 2)}×`;
  return `## Peak memory of the cluster's processes as the corpus grows

${measured()}

A real cluster on this machine (nats-server, s3rver), the tiny demo model and demo anchors, the demo corpus repeated to ${rows.map((r) => r.records).join(' and ')} records in S3, batches of 64; \`safesift coordinator --threads 1\`, one \`worker\` (all cores), one \`reducer\`, started fresh for each size. Peak RSS is each process's VmHWM, read from /proc once the job is complete, before the process is stopped.

${body}

For ${fmt(big.records / small.records, 0)}× the records, peak RSS grows ${growth((r) => r.coordinatorPeakMiB)} in the coordinator, ${growth((r) => r.workerPeakMiB)} in the worker and ${growth((r) => r.reducerPeakMiB)} in the reducer. ${
    rows.every((r) => [r.coordinatorPeakMiB / small.coordinatorPeakMiB, r.workerPeakMiB / small.workerPeakMiB, r.reducerPeakMiB / small.reducerPeakMiB].every((x) => x <= 1.2))
      ? 'Flat, as designed: the coordinator streams the corpus into batches (one batch in hand), a worker holds one batch, the reducer one batch result plus the top-k.'
      : '**Not flat** (more than 1.2× somewhere): some process holds state that grows with the corpus.'
  }`;
}

/** report.html (issue 13): time and peak RSS against the score table's size, in fresh processes. */
async function reportScaleSection(): Promise<string> {
  const sizes = args['report-rows'].split(',').map((x) => count('report-rows', x.trim()));
  const rows = await measureReportScale(sizes);
  const body = table(
    ['scored rows', 'score table (MB)', 'report (s)', 'peak RSS (MiB)', `report, ${CAPPED_HEAP_MIB} MiB heap (s)`, `peak RSS, ${CAPPED_HEAP_MIB} MiB heap (MiB)`, 'report.html (KB)'],
    rows.map((r) => [r.rows.toLocaleString('en-US'), fmt(r.tableBytes / 1e6), fmt(r.seconds, 2), fmt(r.peakRssMiB, 0), fmt(r.cappedSeconds, 2), fmt(r.cappedPeakRssMiB, 0), fmt(r.pageBytes / 1e3, 0)]),
  );
  return `## report.html: time and memory against the score table's size

${measured()}

\`writeReport\` on synthetic audits (test/helpers/synthetic-audit.ts: scores.parquet in 65,536-row groups with two anchor sets, format tags and the nearest-anchor columns; a top-100), each in a fresh child process (bench/report-scale-child.ts), once with V8's default heap and once with the old space capped at ${CAPPED_HEAP_MIB} MiB: the capped run shows the live memory is bounded (one row group of a few columns, fixed bins, fixed-size reservoirs; shared/src/report/score-pass.ts), the default one what a process shows when V8 collects garbage late. The page is the same size at every corpus size: its charts come from fixed bins and samples.

${body}`;
}

/** GPU execution (issue 10, Build 7): measured on a lent GPU machine, or a line saying there was none. */
async function gpuSection(): Promise<string> {
  const gpu = gpuMemoryBytes(0);
  const what =
    gpu === null
      ? 'No GPU here (`nvidia-smi` finds none), and no GPU machine has been lent to the sessions that built this project so far'
      : `A GPU with ${(gpu / 2 ** 30).toFixed(0)} GiB is visible, but this section has no GPU measurement written yet`;
  return `## GPU execution

${measured()}

${what}: the float16 feature graphs of 1B- and 7B-shaped models under onnxruntime's CUDA provider (tokens/s at batch sizes 1–32 and 512/2048 tokens, peak GPU memory against the memory model, the fraction of the GPU's float16 peak) and the paper-style PyTorch loop beside them are **not measured**. Every GPU figure in the README (batch limits, the 8B float16 on 80 GB arithmetic) is the memory model's estimate, not a measurement.`;
}

const RUNNERS: Record<Section, () => Promise<string>> = {
  incremental: () => incrementalSection(1000, measured),
  'feature-cost': () => featureCostSection({ table, measured, rounds: count('cost-rounds', args['cost-rounds']) }),
  'audit-memory': auditMemorySection,
  fidelity: fidelitySection,
  'fidelity-large': () => fidelityLargeSection(measured),
  'session-layout': () => sessionLayoutSection({ table, measured }),
  'memory-model': () => memoryModelSection({ table, measured }),
  'auto-projection': () => autoProjectionSection({ table, measured }),
  'long-context': () => longContextSection(measured),
  gpu: gpuSection,
  'paper-loop': () =>
    peerSection({
      table,
      measured,
      python: process.env['SAFESIFT_REFERENCE_PYTHON'] ?? '/usr/bin/python3',
      records: count('paper-loop-records', args['paper-loop-records']),
      rounds: count('peer-rounds', args['peer-rounds']),
    }),
  'feature-profile': () => featureProfileSection({ table, measured }),
  'preset-cost': presetCostSection,
  'large-graph': largeGraphSection,
  'pipeline-overhead': pipelineOverheadSection,
  'reducer-merge': reducerMergeSection,
  'cluster-memory': clusterMemorySection,
  'weight-check': weightCheckSection,
  'report-scale': reportScaleSection,
  'extra-scores': () => extraScoresSection(measured),
  replication: async () => replicationSection(args.replication),
};

const begin = (name: Section) => `<!-- section:${name} -->`;
const end = (name: Section) => `<!-- /section:${name} -->`;

/** A section's text in an earlier report: between its markers, else under its legacy heading. */
function previousSection(report: string, name: Section): string | undefined {
  const from = report.indexOf(begin(name));
  const to = report.indexOf(end(name));
  if (from >= 0 && to > from) return report.slice(from + begin(name).length, to).trim();
  const heading = LEGACY_HEADINGS[name];
  const at = heading === undefined ? -1 : report.indexOf(heading);
  if (at < 0) return undefined;
  const next = report.indexOf('\n## ', at + 1);
  return report.slice(at, next < 0 ? undefined : next).trim();
}

const previous = existsSync(outPath) ? readFileSync(outPath, 'utf8') : '';
const sections: string[] = [];
for (const name of SECTIONS) {
  const text = only.has(name)
    ? await RUNNERS[name]()
    : (previousSection(previous, name) ?? `_Section \`${name}\` not measured yet: run \`npm run bench -- --only ${name}\`._`);
  sections.push(`${begin(name)}\n${text}\n${end(name)}`);
}
const report = `# Benchmarks

Written by \`npm run bench\` (\`-- --only ${SECTIONS.join(',')}\` runs some sections and keeps the others' text; \`replication\` only formats the \`npm run replicate\` output given by \`--replication FILE\`). Each section says when and where it was measured; every ratio within a section was measured side by side in one run.

${sections.join('\n\n')}
`;
writeFileSync(outPath, report);
console.error(`wrote ${outPath}`);
