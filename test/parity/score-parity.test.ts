import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileAuditOptions } from '../../shared/src/audit/audit-options.ts';
import { runAudit } from '../../shared/src/audit/run-audit.ts';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { readJsonLines, tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FILES, GSM8K_SAMPLE } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { ALIGNED_CHAT_MODEL } from '../helpers/aligned-chat-model.ts';
import type { PromptFormat } from '../../shared/src/prompt/prompt-tokenizer.ts';
import { duckRows } from '../helpers/run-cli.ts';
import { runTorchReference } from '../helpers/torch-reference.ts';

// End to end: the scores an audit writes equal the method's scores (method.md §2–3) and the
// beyond-the-paper columns (self-influence, compliance direction: README "Scores") computed here,
// naively, from PyTorch autograd features of the same tokens, on the stories260k-shaped test model
// and the committed aligned chat model.
const LIMIT = 12;

function cos(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

function unit(v: Float32Array): Float64Array {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return Float64Array.from(v, (x) => x / n);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Mean over sets of each set's mean vector (the direction scorer's role mean). */
function meanOfSetMeans(sets: Float32Array[][]): Float64Array {
  const mean = new Float64Array(sets[0]![0]!.length);
  for (const set of sets) for (const v of set) v.forEach((x, j) => (mean[j]! += x / set.length / sets.length));
  return mean;
}

test('scores.parquet equals the scores computed from PyTorch features (stories260k-shaped model)', async () => {
  await checkScores(await testModel(), 'paper-llama2', 'stories');
});

test('scores.parquet equals the scores computed from PyTorch features (aligned chat model)', async () => {
  await checkScores(ALIGNED_CHAT_MODEL, 'chat-template', 'chat');
});

async function checkScores(modelDir: string, format: PromptFormat, name: string): Promise<void> {
  process.env.SAFESIFT_CACHE_DIR = tempDir(`score-parity-cache-${name}`);
  const out = tempDir(`score-parity-out-${name}`);
  await runAudit(
    compileAuditOptions({
      model: modelDir,
      data: [GSM8K_SAMPLE],
      limit: LIMIT,
      harmful: [ANCHOR_FILES.harmful],
      safe: [ANCHOR_FILES.safe1, ANCHOR_FILES.safe2],
      probes: 'lm_head',
      proj: 'none',
      format,
      out,
    }),
  );
  const rows = await duckRows(`select * from read_parquet('${join(out, 'scores.parquet')}') order by "row"`);
  assert.equal(rows.length, LIMIT);

  const layers = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { num_hidden_layers: number };
  const middle = Math.floor(layers.num_hidden_layers / 2); // --direction-layers' default
  const tokenizer = await PromptTokenizer.load(modelDir, { format });
  const encode = async (contents: ExampleContent[], limit?: number): Promise<TokenizedExample[]> => {
    const result: TokenizedExample[] = [];
    for (const c of contents) result.push(await tokenizer.encode(c, { maxTokens: 512, ...(limit ? { responseTokenLimit: limit } : {}) }));
    return result;
  };
  const anchorFile = (path: string) => readJsonLines(path, 1000).map((r) => ({ shape: 'chat', ...(r as object) }) as ExampleContent);
  const sets = [
    { weight: 1, role: 'harmful', examples: await encode(anchorFile(ANCHOR_FILES.harmful), 10) },
    { weight: -1, role: 'safe', examples: await encode(anchorFile(ANCHOR_FILES.safe1), 10) },
    { weight: -1, role: 'safe', examples: await encode(anchorFile(ANCHOR_FILES.safe2), 10) },
  ];
  const corpus = await encode((readJsonLines(GSM8K_SAMPLE, LIMIT) as object[]).map((r) => ({ shape: 'gsm8k', ...r }) as ExampleContent));

  const all = [...sets.flatMap((s) => s.examples), ...corpus];
  const reference = await runTorchReference({
    model_dir: modelDir,
    examples: all.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['representation', 'grad_lm_head', 'layer_states'],
    layers: [middle],
  });
  const features = reference.examples.map((r) => ({ rep: r.representation!.data, grad: r.grad_lm_head!.data, states: r.layer_states!.data }));
  let offset = 0;
  const anchorFeatures = sets.map((s) => {
    const slice = features.slice(offset, offset + s.examples.length);
    offset += s.examples.length;
    return slice;
  });
  const targets = anchorFeatures.map((set) => {
    const target = new Float64Array(set[0]!.grad.length);
    for (const f of set) unit(f.grad).forEach((x, i) => (target[i]! += x / set.length));
    return target;
  });

  // The compliance direction per position: harmful role mean − safe role mean, normalised. Harmful
  // and safe anchors share their requests, so at the last prompt token it is zero up to rounding.
  const D = features[0]!.rep.length;
  const harmfulMean = meanOfSetMeans([anchorFeatures[0]!.map((f) => f.states)]);
  const safeMean = meanOfSetMeans([anchorFeatures[1]!.map((f) => f.states), anchorFeatures[2]!.map((f) => f.states)]);
  const direction = (p: number) => {
    const d = Float64Array.from({ length: D }, (_, j) => harmfulMean[p * D + j]! - safeMean[p * D + j]!);
    const n = Math.sqrt(dot(d, d));
    return { unit: d.map((x) => x / n), relative: n / Math.sqrt(dot(harmfulMean.subarray(p * D, (p + 1) * D), harmfulMean.subarray(p * D, (p + 1) * D))) };
  };
  const [promptDir, responseDir] = [direction(0), direction(1)];
  assert.ok(promptDir.relative < 1e-4, `the prompt-position direction is degenerate (relative norm ${promptDir.relative})`);
  assert.ok(responseDir.relative > 1e-2, `the response-mean direction is not (relative norm ${responseDir.relative})`);

  corpus.forEach((example, i) => {
    const f = features[offset + i]!;
    const row = rows[i]!;
    const g = unit(f.grad);
    const perSetGrad = targets.map((t) => g.reduce((s, x, j) => s + x * t[j]!, 0));
    const gradScore = perSetGrad.reduce((s, x, j) => s + sets[j]!.weight * x, 0);
    const maxCos = (set: typeof features) => Math.max(...set.map((a) => cos(f.rep, a.rep)));
    const repHarmful = maxCos(anchorFeatures[0]!);
    const repSafe = maxCos([...anchorFeatures[1]!, ...anchorFeatures[2]!]);
    const close = (actual: unknown, expected: number, what: string) =>
      assert.ok(Math.abs((actual as number) - expected) < 1e-4, `row ${i} ${what}: ${actual} vs ${expected}`);
    close(row.grad_score, gradScore, 'grad_score');
    close(row.grad_harmful, perSetGrad[0]!, 'grad_harmful');
    close(row.grad_safe2, perSetGrad[2]!, 'grad_safe2');
    close(row.rep_harmful, repHarmful, 'rep_harmful');
    close(row.rep_safe, repSafe, 'rep_safe');
    close(row.rep_score, repHarmful - repSafe, 'rep_score');

    // Self-influence on the exact (--proj none) gradient; relative, as ‖g‖² has no fixed scale.
    const squaredNorm = dot(f.grad, f.grad);
    const responseTokens = example.lossWeights.reduce((n, w) => n + (w > 0 ? 1 : 0), 0);
    assert.equal(row.response_tokens, responseTokens, `row ${i} response_tokens`);
    assert.ok(Math.abs((row.self_inf as number) - squaredNorm) <= 1e-4 * squaredNorm, `row ${i} self_inf: ${row.self_inf} vs ${squaredNorm}`);
    close(row.self_inf_n, Math.log1p(squaredNorm) + Math.log1p(responseTokens), 'self_inf_n');

    assert.equal(row[`dir_${middle}_prompt`], null, `row ${i}: the degenerate prompt direction leaves its column empty`);
    close(row[`dir_${middle}_response`], dot(f.states.subarray(D, 2 * D), responseDir.unit), `dir_${middle}_response`);
  });
}
