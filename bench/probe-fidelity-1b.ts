// Probe fidelity on the 1B-shaped model (506M parameters): its exact full gradient is over the
// graph's 2^26-value cap, so the exact score comes from PyTorch (bench/reference/full_gradient_scores.py)
// fed the very token ids and loss weights safesift uses.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { examplesPerBatch } from '../shared/src/features/featurize-batches.ts';
import { describeProjection } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { llama3Spec } from '../test/helpers/chat-model-checkpoint.ts';
import { benchModel50m, GSM8K_TRAIN, ILLEGAL_ACTIVITIES_ANCHORS, tokenizeAnchorSets } from './bench-models.ts';
import { benchModel1bShaped } from './memory-model.ts';
import { firstEncodable, kron, relativeError, scoreConfig, spread, type FeatureConfig } from './probe-fidelity-large.ts';
import { spearman, topOverlap, type AnchorExamples } from './probe-fidelity.ts';

const FULL_GRADIENT_SCORES = fileURLToPath(new URL('./reference/full_gradient_scores.py', import.meta.url));

/** The default, two wider projections (does more dimension buy fidelity back?), and the cheap probes. */
export const FIDELITY_1B_CONFIGS: readonly FeatureConfig[] = [
  { probe: 'all', projection: kron(64, 128) },
  { probe: 'all', projection: kron(128, 256) },
  { probe: 'all', projection: kron(256, 512) },
  { probe: 'attn-qv', projection: kron(64, 128) },
  { probe: 'lm_head', projection: kron(64, 128) },
];

/** The 1B-shaped checkpoint with the real Llama-3 tokenizer and its special ids (the memory-model section's): GSM8K in realistic token counts. */
export function benchModel1bLlama3(): Promise<string> {
  const spec = llama3Spec();
  return benchModel1bShaped('bench-1b-llama3-v1', { tokenizer: spec.tokenizer!, bosTokenId: spec.bosTokenId!, eosTokenId: spec.eosTokenId! });
}

export interface TorchScores {
  scores: Array<number | null>;
  anchor_seconds: number;
  seconds: number;
  threads: number;
  torch: string;
}

const asRequest = (examples: readonly TokenizedExample[]) => examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) }));

/** Exact full-gradient scores from PyTorch (float32, batch size 1, all cores). */
export async function torchFullGradientScores(modelDir: string, anchors: AnchorExamples, examples: readonly TokenizedExample[]): Promise<TorchScores> {
  const dir = mkdtempSync(join(tmpdir(), 'safesift-fidelity-1b-'));
  try {
    const request = join(dir, 'request.json');
    const out = join(dir, 'scores.json');
    writeFileSync(
      request,
      JSON.stringify({ model_dir: modelDir, examples: asRequest(examples), anchor_sets: anchors.map((a) => ({ weight: a.spec.weight, examples: asRequest(a.examples) })) }),
    );
    const python = process.env['SAFESIFT_REFERENCE_PYTHON'] ?? '/usr/bin/python3';
    await new Promise<void>((resolve, reject) =>
      execFile(python, [FULL_GRADIENT_SCORES, request, out], { maxBuffer: 1 << 24 }, (error, _stdout, stderr) =>
        error ? reject(new Error(`${FULL_GRADIENT_SCORES} failed: ${error.message}\n${stderr}`)) : resolve(),
      ),
    );
    return JSON.parse(readFileSync(out, 'utf8')) as TorchScores;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const finite = (scores: ReadonlyArray<number | null>): Float64Array => {
  if (scores.some((s) => s === null)) throw new Error('PyTorch gave an example a zero gradient');
  return Float64Array.from(scores as number[]);
};

export interface Fidelity1bRow {
  probe: string;
  projection: string;
  gradientDim: number;
  spearman: number;
  topOverlap: number;
  relativeError: number;
  examplesPerSecond: number;
}

export interface Fidelity1bResult {
  records: number;
  examples: number;
  meanTokens: number;
  maxTokens: number;
  topK: number;
  exactSpread: { mean: number; std: number };
  torch: Omit<TorchScores, 'scores'>;
  rows: Fidelity1bRow[];
  /** The PyTorch script on the 58M model against safesift's exact `all` there (same score twice). */
  check: { examples: number; spearman: number; maxAbsDiff: number; maxScore: number };
  seconds: number;
}

/**
 * Checks the PyTorch script where safesift can compute the exact score itself (the 58M model),
 * then compares safesift's probes on the 1B-shaped model against PyTorch's exact score.
 */
export async function measureFidelity1b(
  check58m: { scores: Float64Array; examples: readonly TokenizedExample[] },
  setup: { examples?: number; maxTokens?: number; checkExamples?: number } = {},
): Promise<Fidelity1bResult> {
  const started = performance.now();
  const maxTokens = setup.maxTokens ?? 256;

  const dir50m = await benchModel50m();
  const tok50m = await PromptTokenizer.load(dir50m, { format: 'paper-llama2' });
  const checkCount = Math.min(setup.checkExamples ?? 16, check58m.examples.length);
  const torch50m = await torchFullGradientScores(dir50m, await tokenizeAnchorSets(tok50m, ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens, anchorTokens: 10 }), check58m.examples.slice(0, checkCount));
  const checkScores = finite(torch50m.scores);
  const reference = check58m.scores.subarray(0, checkCount);
  const check = {
    examples: checkCount,
    spearman: spearman(checkScores, reference),
    maxAbsDiff: Math.max(...checkScores.map((s, i) => Math.abs(s - reference[i]!))),
    maxScore: Math.max(...reference.map(Math.abs)),
  };
  console.error(`  fidelity-large PyTorch vs safesift exact (58M, ${checkCount} examples): spearman ${check.spearman.toFixed(6)}, max diff ${check.maxAbsDiff.toExponential(2)}`);

  const dir = await benchModel1bLlama3();
  const tokenizer = await PromptTokenizer.load(dir, { format: 'paper-llama2' });
  const { examples, records } = await firstEncodable(tokenizer, GSM8K_TRAIN, setup.examples ?? 40, maxTokens);
  const anchors = await tokenizeAnchorSets(tokenizer, ILLEGAL_ACTIVITIES_ANCHORS, { maxTokens, anchorTokens: 10 });
  const { scores: torchScores, ...torch } = await torchFullGradientScores(dir, anchors, examples);
  const exact = finite(torchScores);
  console.error(`  fidelity-large PyTorch exact (1B-shaped): ${(examples.length / torch.seconds).toFixed(3)} ex/s`);

  const topK = Math.min(10, Math.floor(examples.length / 4));
  const checkpoint = await openCheckpoint(dir);
  const rows: Fidelity1bRow[] = [];
  for (const config of FIDELITY_1B_CONFIGS) {
    const run = await scoreConfig(checkpoint, config, anchors, examples, examplesPerBatch(1));
    const row = {
      probe: config.probe,
      projection: describeProjection(config.projection, config.sketch ?? null),
      gradientDim: run.gradientDim,
      spearman: spearman(run.scores, exact),
      topOverlap: topOverlap(run.scores, exact, topK),
      relativeError: relativeError(run.scores, exact),
      examplesPerSecond: examples.length / run.seconds,
    };
    console.error(`  fidelity-large 1B ${row.probe} ${row.projection}: spearman ${row.spearman.toFixed(4)}, top-${topK} ${row.topOverlap.toFixed(2)}, ${row.examplesPerSecond.toFixed(3)} ex/s`);
    rows.push(row);
  }
  await checkpoint.close();
  return {
    records,
    examples: examples.length,
    meanTokens: examples.reduce((s, e) => s + e.ids.length, 0) / examples.length,
    maxTokens,
    topK,
    exactSpread: spread(exact),
    torch,
    rows,
    check,
    seconds: (performance.now() - started) / 1000,
  };
}
