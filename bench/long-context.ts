// Peak memory and time of one long example through the feature graph, with attention's
// probabilities stored for the backward and recomputed block by block (attention-mode.ts).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARENA_SLACK, batchBytes, featureMemoryModel } from '../shared/src/features/memory-model.ts';
import { STORED_ATTENTION_MAX_TOKENS, type AttentionMode } from '../shared/src/graph/autodiff/attention-mode.ts';
import { MAX_BLOCK_ROWS } from '../shared/src/graph/autodiff/attention-plan.ts';
import { buildFeatureGraph } from '../shared/src/graph/feature-graph.ts';
import { gradientLayout } from '../shared/src/graph/gradient-features.ts';
import { probedParams } from '../shared/src/graph/probes.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { defaultCacheDir } from '../shared/src/model/cache-dir.ts';
import { BENCH_50M_SPEC, writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../shared/src/model/synthetic-checkpoint.ts';
import { TINY_TOKENIZER_VOCAB_SIZE } from '../shared/src/model/tiny-tokenizer.ts';

/** Small, but with enough heads and layers that stored [T,T] probabilities would dominate memory. */
export const LONG_CONTEXT_SPEC: SyntheticLlamaSpec = {
  hiddenSize: 256,
  intermediateSize: 688,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
  vocabSize: TINY_TOKENIZER_VOCAB_SIZE,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 8192,
  seed: 8192,
};

export interface LongContextRow {
  attention: string;
  tokens: number;
  /** Child RSS with the session open, and its peak (VmHWM) after the runs. */
  sessionMiB: number;
  peakMiB: number;
  secondsPerExample: number;
  finite: boolean;
  /** The memory model's working memory for this example (× the arena slack), for the current attention. */
  estimatedMiB: number;
}

const CHILD = fileURLToPath(new URL('./long-context-child.ts', import.meta.url));
const OPTIONS = { probe: 'all', projection: { kind: 'kron', outDim: 64, inDim: 128, seed: 1 } } as const;
export const STORED_LABEL = 'stored probabilities';
export const RECOMPUTED_LABEL = `recomputed (≤ ${MAX_BLOCK_ROWS} query rows per Loop iteration)`;

/** Each (attention, length) in a fresh child process: build the graph here, run it there. */
export interface LongContextModel {
  /** Names the checkpoint's cache folder. */
  name: string;
  spec: SyntheticLlamaSpec;
}

export const LONG_CONTEXT_MODEL: LongContextModel = { name: 'long-context-v1', spec: LONG_CONTEXT_SPEC };
/** The 58M benchmark model's shape, with positions for long examples: attention is a smaller share of its work. */
export const LONG_CONTEXT_58M: LongContextModel = { name: 'long-context-58m-v1', spec: { ...BENCH_50M_SPEC, maxPositionEmbeddings: 8192 } };

export async function measureLongContext(lengths: number[], storedLengths: number[], runs: number, model: LongContextModel = LONG_CONTEXT_MODEL): Promise<LongContextRow[]> {
  const dir = join(defaultCacheDir(), 'models', `bench-${model.name}`);
  if (!existsSync(join(dir, 'model.safetensors'))) await writeRandomLlamaCheckpoint(dir, model.spec);
  const modes: Array<[string, AttentionMode, number[]]> = [
    [STORED_LABEL, 'stored', storedLengths],
    [RECOMPUTED_LABEL, 'recomputed', lengths],
  ];
  const work = mkdtempSync(join(tmpdir(), 'safesift-long-context-'));
  const rows: LongContextRow[] = [];
  try {
    const checkpoint = await openCheckpoint(dir);
    const gradientDim = gradientLayout(probedParams(checkpoint.config, OPTIONS.probe), OPTIONS.projection).reduce((n, l) => n + l.size, 0);
    for (const [label, attention, modeLengths] of modes) {
      const memory = featureMemoryModel(checkpoint.config, 'float32', gradientDim, 'cpu', attention);
      const estimate = (tokens: number) => (batchBytes(memory, 1, tokens, tokens) * ARENA_SLACK) / 2 ** 20;
      const folder = join(work, attention);
      mkdirSync(folder);
      writeFileSync(join(folder, 'graph.onnx'), await buildFeatureGraph(checkpoint, { ...OPTIONS, attention }, join(folder, 'graph.onnx.data')));
      for (const tokens of modeLengths) {
        console.error(`  ${label}: ${tokens} tokens…`);
        const child = await runChild(join(folder, 'graph.onnx'), tokens, runs);
        rows.push({ attention: label, tokens, ...child, secondsPerExample: child.seconds, estimatedMiB: estimate(tokens) });
      }
    }
    await checkpoint.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

function runChild(graph: string, tokens: number, runs: number): Promise<{ sessionMiB: number; peakMiB: number; seconds: number; finite: boolean }> {
  const args = ['--import', 'tsx', CHILD, graph, String(tokens), String(runs), String(TINY_TOKENIZER_VOCAB_SIZE)];
  return new Promise((done, fail) =>
    execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => (error ? fail(new Error(`${error.message}\n${stderr}`)) : done(JSON.parse(stdout)))),
  );
}

export async function longContextSection(measured: () => string): Promise<string> {
  console.error('long-context memory and time…');
  const rows = await measureLongContext([512, 1024, 2048, 4096, 8192], [512, 1024, 2048, 4096], 2);
  console.error('long-context: the 58M model…');
  const rows58 = await measureLongContext([256, 512, 2048], [256, 512, 2048], 3, LONG_CONTEXT_58M);
  const f = (x: number, digits = 1) => x.toFixed(digits);
  const run = (r: LongContextRow) => r.peakMiB - r.sessionMiB;
  const growth = (label: string, from: number, to: number) => {
    const [a, b] = [rows.find((r) => r.tokens === from && r.attention === label), rows.find((r) => r.tokens === to && r.attention === label)];
    return a && b ? `${f(run(b) / run(a), 2)}×` : 'not measured';
  };
  const modelRatios = rows.filter((r) => r.attention === RECOMPUTED_LABEL).map((r) => run(r) / r.estimatedMiB);
  const s = LONG_CONTEXT_SPEC;
  const m = LONG_CONTEXT_58M.spec;
  return `## Long contexts: attention memory linear in the sequence length

${measured()}

Two attention backwards, side by side (attention-mode.ts): **stored** (4 causal query blocks, every block's softmax probabilities kept for the backward, per layer: T² memory; what audits with \`--max-tokens\` ≤ ${STORED_ATTENTION_MAX_TOKENS} use) and **recomputed** (query blocks of at most ${MAX_BLOCK_ROWS} rows, at least 4, one ONNX Loop iteration each; the forward keeps only q, k, v, the context and float32 log-sum-exps, and the backward recomputes each block's probabilities, FlashAttention's trade; used above ${STORED_ATTENTION_MAX_TOKENS} tokens). One example of each length (labels on its second half), feature graph with probe \`all\` and \`kron:64x128\`, batch size 1, one intra-op thread; each row in a fresh child process: RSS once the session is open, then VmHWM after a warm-up run and the timed runs (the fastest is shown). "Memory model" is memory-model.ts's working memory for that example, × the arena slack.

**Attention-heavy shape** (hidden ${s.hiddenSize}, ${s.numLayers} layers, ${s.numHeads} heads over ${s.numKvHeads} KV heads, tied tiny vocabulary, ${s.maxPositionEmbeddings} positions), 2 timed runs:

${lengthTable(rows)}

Run memory from 2048 to 4096 tokens (2× the length): stored ${growth(STORED_LABEL, 2048, 4096)}, recomputed ${growth(RECOMPUTED_LABEL, 2048, 4096)}; from 4096 to 8192, recomputed ${growth(RECOMPUTED_LABEL, 4096, 8192)} (4× would be quadratic, 2× linear). ${timeRatios(rows)} Measured run memory with recomputed attention is ${f(Math.min(...modelRatios), 2)}–${f(Math.max(...modelRatios), 2)}× the memory model's estimate on this shape${Math.max(...modelRatios) > 1 / 0.85 ? ' (more than the planner\'s headroom: the planner plans 85% of the budget)' : ''}.

**58M shape** (hidden ${m.hiddenSize}, ${m.numLayers} layers, ${m.numHeads} heads, vocabulary ${m.vocabSize}: attention is a smaller share of the work, as in larger models), 3 timed runs:

${lengthTable(rows58)}

${timeRatios(rows58)}`;
}

function lengthTable(rows: LongContextRow[]): string {
  const f = (x: number, digits = 1) => x.toFixed(digits);
  return [
    '| attention | tokens | session RSS (MiB) | peak RSS (MiB) | run memory: peak − session (MiB) | memory model (MiB) | s / example |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.attention} | ${r.tokens} | ${f(r.sessionMiB)} | ${f(r.peakMiB)} | ${f(r.peakMiB - r.sessionMiB)} | ${f(r.estimatedMiB)} | ${f(r.secondsPerExample, 2)}${r.finite ? '' : ' (non-finite gradient!)'} |`,
    ),
  ].join('\n');
}

/** Time of recomputed over stored attention at each length both ran (the price of recomputing probabilities). */
function timeRatios(rows: LongContextRow[]): string {
  const stored = rows.filter((r) => r.attention === STORED_LABEL);
  const pairs = stored.flatMap((b) => {
    const now = rows.find((r) => r.tokens === b.tokens && r.attention === RECOMPUTED_LABEL);
    return now ? [`${b.tokens} tokens ${(now.secondsPerExample / b.secondsPerExample).toFixed(2)}×`] : [];
  });
  return pairs.length ? `Time per example, recomputed over stored: ${pairs.join(', ')}.` : '';
}
