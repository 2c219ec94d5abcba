import assert from 'node:assert/strict';
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
import { duckRows } from '../helpers/run-cli.ts';
import { runTorchReference } from '../helpers/torch-reference.ts';

// End to end: the scores an audit writes equal the method's scores (method.md §2–3) computed here,
// naively, from PyTorch autograd features of the same tokens.
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

test('scores.parquet equals the paper scores computed from PyTorch features', async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('score-parity-cache');
  const out = tempDir('score-parity-out');
  const modelDir = await testModel();
  await runAudit(
    compileAuditOptions({
      model: modelDir,
      data: [GSM8K_SAMPLE],
      limit: LIMIT,
      harmful: [ANCHOR_FILES.harmful],
      safe: [ANCHOR_FILES.safe1, ANCHOR_FILES.safe2],
      probes: 'lm_head',
      proj: 'none',
      out,
    }),
  );
  const rows = await duckRows(`select * from read_parquet('${join(out, 'scores.parquet')}') order by "row"`);
  assert.equal(rows.length, LIMIT);

  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
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
    want: ['representation', 'grad_lm_head'],
  });
  const features = reference.examples.map((r) => ({ rep: r.representation!.data, grad: r.grad_lm_head!.data }));
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

  corpus.forEach((_, i) => {
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
  });
});
