// BENCHMARKS.md section `paper-loop`: safesift against the PyTorch peers at their best, and the roofline.
import { benchModel50m, STORIES260K } from './bench-models.ts';
import { comparePeers, isReferenceBlas, type Interval, type PeerComparison, type TorchRunSummary } from './paper-loop-speed.ts';
import { measureMatmulPeak, type FlopCount } from './roofline.ts';
import { describeTorchConfig } from './torch-peers.ts';
import { chooseOpenblasCore, describeOpenblasChoice, type OpenblasCoreChoice } from './openblas-core.ts';

type Table = (head: string[], rows: string[][]) => string;

export interface PeerSectionOptions {
  table: Table;
  measured: () => string;
  python: string;
  /** GSM8K records on stories260k (the 58M model takes half, of which ~30% fit its 256 tokens); each sweep takes half. */
  records: number;
  rounds: number;
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);
const times = (i: Interval) => `${fmt(i.ratio, 2)}× (95% ${fmt(i.low, 2)}–${fmt(i.high, 2)}×)`;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const gflop = (f: FlopCount) => `${fmt(f.total / 1e9, 3)} (${fmt(f.forward / 1e9, 3)} + ${fmt(f.backward / 1e9, 3)} + ${fmt(f.gradient / 1e9, 3)})`;

export async function peerSection({ table, measured, python, records, rounds }: PeerSectionOptions): Promise<string> {
  console.error("speed vs the PyTorch peers (paper loop, LoGra-style) and the roofline…");
  const blasCore = await chooseOpenblasCore(python);
  console.error(`  PyTorch's BLAS kernels: ${describeOpenblasChoice(blasCore)}`);
  // Every PyTorch process this section starts (peers, matmul peak) inherits the chosen kernel set.
  const previousCore = process.env.OPENBLAS_CORETYPE;
  if (blasCore.chosen === undefined) delete process.env.OPENBLAS_CORETYPE;
  else process.env.OPENBLAS_CORETYPE = blasCore.chosen;
  try {
    return await peerSectionWithBlas({ table, measured, python, records, rounds }, blasCore);
  } finally {
    if (previousCore === undefined) delete process.env.OPENBLAS_CORETYPE;
    else process.env.OPENBLAS_CORETYPE = previousCore;
  }
}

async function peerSectionWithBlas({ table, measured, python, records, rounds }: PeerSectionOptions, blasCore: OpenblasCoreChoice): Promise<string> {
  const peak = await measureMatmulPeak(python);
  const models: PeerComparison[] = [
    await comparePeers({ label: 'stories260k', modelDir: STORIES260K, records, sweepRecords: Math.ceil(records / 2), maxTokens: 512, rounds, exactCheck: true, lograBatches: [1, 4, 16], python }),
    await comparePeers({
      label: 'random Llama 58M',
      modelDir: await benchModel50m(),
      records: Math.max(16, Math.round(records / 2)),
      sweepRecords: Math.max(8, Math.round(records / 4)),
      maxTokens: 256,
      rounds,
      exactCheck: false,
      lograBatches: [1, 4, 16],
      python,
    }),
  ];
  const peakAfter = await measureMatmulPeak(python);
  const roof = Math.max(peak.roof, peakAfter.roof);
  const blas = models[0]!.paper.best.blas;
  const peakTable = table(
    ['runtime', 'n', 'threads', 'GFLOP/s before', 'GFLOP/s after'],
    peak.runs.map((r, i) => [r.runtime, String(r.n), String(r.threads), fmt(r.gflops), fmt(peakAfter.runs[i]!.gflops)]),
  );

  const sweepRows = models.flatMap((m) => {
    const rows = (peer: string, runs: readonly TorchRunSummary[]) => {
      const top = Math.max(...runs.map((r) => r.examplesPerSecond));
      return runs.map((run) => [
        m.label,
        peer,
        describeTorchConfig(run.config),
        fmt(run.examplesPerSecond, 2),
        run.examplesPerSecond === top ? '**best**' : `${fmt(run.examplesPerSecond / top, 2)}× best`,
      ]);
    };
    return [...rows('paper loop', m.paper.runs), ...rows('LoGra-style', m.logra.runs)];
  });
  const sweep = table(['model', 'peer', 'configuration', 'examples/s', 'vs best'], sweepRows);

  const speed = table(
    ['model', 'examples (mean tokens)', 'safesift default ex/s', 'paper loop best ex/s', 'LoGra-style best ex/s', 'safesift ÷ paper loop', 'safesift ÷ LoGra-style'],
    models.map((m) => [
      `${m.label} (${m.preset})`,
      `${m.examples} (${fmt(m.meanTokens, 0)})`,
      fmt(mean(m.rounds.safesift), 2),
      `${fmt(mean(m.rounds.paper), 2)} (${describeTorchConfig(m.paper.best.config)})`,
      `${fmt(mean(m.rounds.logra), 2)} (${describeTorchConfig(m.logra.best.config)})`,
      times(m.vsPaper),
      times(m.vsLogra),
    ]),
  );
  const fidelity = table(
    ['model', 'safesift default: Spearman vs exact', `top-k overlap`, 'LoGra-style: Spearman vs exact', 'top-k overlap', 'k'],
    models.map((m) => [m.label, fmt(m.fidelity.safesift.spearman, 4), fmt(m.fidelity.safesift.topOverlap, 2), fmt(m.fidelity.logra.spearman, 4), fmt(m.fidelity.logra.topOverlap, 2), String(m.fidelity.topK)]),
  );
  const achieved = (flops: number, exPerS: number) => (flops * exPerS) / 1e9;
  const rooflineRows = models.flatMap((m) => [
    [m.label, 'safesift default', gflop(m.flops.projected), fmt(achieved(m.flops.projected.total, mean(m.rounds.safesift)), 2), `${fmt((100 * achieved(m.flops.projected.total, mean(m.rounds.safesift))) / roof)}%`],
    [m.label, 'paper loop (exact gradients)', gflop(m.flops.exact), fmt(achieved(m.flops.exact.total, mean(m.rounds.paper)), 2), `${fmt((100 * achieved(m.flops.exact.total, mean(m.rounds.paper))) / roof)}%`],
    [m.label, 'LoGra-style', gflop(m.flops.projected), fmt(achieved(m.flops.projected.total, mean(m.rounds.logra)), 2), `${fmt((100 * achieved(m.flops.projected.total, mean(m.rounds.logra))) / roof)}%`],
  ]);
  const roofline = table(['model', 'implementation', 'GFLOP per example (forward + backward + gradient)', 'achieved GFLOP/s', 'of the matmul peak'], rooflineRows);

  const [small, large] = models as [PeerComparison, PeerComparison];
  const verdict = (name: string, i: Interval, target: number) =>
    `${name}: ${times(i)} — ${i.ratio >= target ? (i.low >= target ? 'meets' : 'meets at the point estimate, not across the interval,') : 'misses'} the ≥ ${target}× target`;
  const largeFraction = achieved(large.flops.projected.total, mean(large.rounds.safesift)) / roof;
  const check = small.exactCheck;

  return `## Speed vs the PyTorch peers at their best, and the roofline

${measured()}

The first GSM8K records (stories260k: ${small.examples} examples up to 512 tokens; the ~58M random Llama with stories260k's tokenizer: ${large.examples} examples up to 256 tokens), illegal-activities anchors (harmful +1, two safe −1, first 10 response tokens), all on this machine's ${peak.cores} cores. Two PyTorch ${small.paper.best.torch} peers, float32:

- **paper loop** (\`bench/reference/paper_loop.py\`), the paper's approach: batch size 1, forward, \`loss.backward()\` over every parameter, flatten all gradients, L2-normalise, dot with the combined anchor target: the exact score.
- **LoGra-style** (\`bench/reference/logra_loop.py\`), what a speed-aware PyTorch user writes: examples sorted by length in right-padded batches, one backward of the summed losses to the activations only (no weight gradients), each linear layer's inputs x and output gradients δ captured, per-example gradients projected per layer as (P_out δ)(P_in x)ᵀ with safesift's default dimensions (a side is projected only when larger than its target; RMSNorm and embedding blocks as safesift forms them), normalise, dot.

Each peer runs every split of the cores — 1…${peak.cores} threads in one process, and 2…${peak.cores} processes of one thread over interleaved shards of the same examples, released together after loading (wall time = the slowest shard's loop) — and the LoGra-style one at batch sizes 1, 4 and 16, on the first ${small.sweepExamples} (stories260k) and ${large.sweepExamples} (58M) examples; the fastest configuration then ran on all of them (its scores are the exact ones below). Only the loop over the examples is timed (model load and the anchor target excluded), as for safesift: its default preset opened by the audit's own code with the audit's plan for this machine (stories260k: ${small.layout}; 58M: ${large.layout}; the default middle direction layer included), featurization plus scoring. After the sweep, safesift and both peers' best configurations ran ${small.rounds.safesift.length} alternating rounds (order reversed every round); the speed-ups are the geometric means of the per-round ratios with 95% Student t intervals.

Sweep (single runs on the sweep's examples):

${sweep}

Side by side at the best configurations:

${speed}

- ${verdict('stories260k, safesift ÷ best paper loop', small.vsPaper, 3)}.
- ${verdict('58M, safesift ÷ best paper loop', large.vsPaper, 1.5)}.
- ${verdict('stories260k, safesift ÷ best LoGra-style', small.vsLogra, 1.3)}; ${verdict('58M', large.vsLogra, 1.3)}.

Scores (rank agreement with the exact score, which is the paper loop's; the LoGra-style peer uses its own random matrices, so only this is comparable):

${fidelity}

${check ? `safesift's exact \`all\` and the paper loop compute the same score on stories260k: Spearman ${fmt(check.spearman, 6)}, largest difference ${check.maxAbsDiff.toExponential(2)}. ` : ''}PyTorch's BLAS: \`${blas}\`${isReferenceBlas(blas) ? ' — **the unoptimised reference BLAS: these baselines are unfairly slow; install libopenblas0-pthread and rerun**' : ''}, with its fastest kernel set on this CPU, chosen before the sweep and used by every PyTorch process of this section: ${describeOpenblasChoice(blasCore)}. A pinned OPENBLAS_CORETYPE in the environment (Haswell on this machine kind) halves its matmul rate on an AVX-512 CPU.

**Roofline.** The machine's float32 matrix-multiply peak, measured in the same run before and after the models: an n×n MatMul (n = ${peak.runs.map((r) => r.n).filter((n, i, a) => a.indexOf(n) === i).join(', ')}; onnxruntime with B a constant initializer, pre-packed as the feature graph's weights are; PyTorch \`torch.mm\`) on 1 thread and on all ${peak.cores} cores, best of 5 slices each (PyTorch's thread count also set as OPENBLAS_NUM_THREADS: \`torch.set_num_threads\` does not reach Debian's OpenBLAS, whose "1-thread" matmul otherwise runs on every core; the PyTorch peers are started the same way):

${peakTable}

The roof is the larger of the best all-core rate (${fmt(Math.max(peak.allCores, peakAfter.allCores))} GFLOP/s) and the best single-thread rate × ${peak.cores} cores (${fmt(Math.max(peak.perCoreTimesCores, peakAfter.perCoreTimesCores))} GFLOP/s): **${fmt(roof)} GFLOP/s**. FLOPs per example are counted analytically from the config and each example's token count (bench/roofline.ts): matmuls only, 2 per multiply-add; forward = every linear at every position and the LM head at the response (label) positions, plus the two T×T attention products (the loss has zero weight elsewhere: safesift skips those logits, the peers compute them, and that extra work is not counted); backward to the activations = the linears' input gradients plus four attention products; gradient = the exact weight gradients (paper loop) or the projections and k_out×k_in outer products (safesift, LoGra-style). Elementwise work (norms, softmax, SiLU, RoPE), the paper loop's flatten and dot, and padding are not counted: the fractions are useful work over peak.

${roofline}

safesift's default on the 58M model reaches ${fmt(100 * largeFraction)}% of the measured peak (${largeFraction >= 0.4 ? 'meets' : 'misses'} the ≥ 40% target).`;
}
