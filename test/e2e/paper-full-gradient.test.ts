import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { readJsonLines, tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FILES, ANCHOR_FLAGS, GSM8K_SAMPLE, GSM8K_SAMPLE_RECORDS } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { duckRows, runCli } from '../helpers/run-cli.ts';
import { runTorchPaperScores } from '../helpers/torch-reference.ts';

const RECORDS = GSM8K_SAMPLE_RECORDS;
const K = 20;

/** Spearman rank correlation (no ties expected among continuous scores). */
function spearman(a: number[], b: number[]): number {
  const ranks = (v: number[]) => {
    const order = v.map((_, i) => i).sort((i, j) => v[i]! - v[j]!);
    const r = new Array<number>(v.length);
    order.forEach((index, rank) => (r[index] = rank));
    return r;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const d2 = ra.reduce((s, r, i) => s + (r - rb[i]!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

test('--probes all --proj none ranks a 60-record GSM8K-shaped audit as the paper\'s PyTorch full-gradient score', async () => {
  const out = tempDir('paper-all-out');
  const modelDir = await testModel();
  const result = await runCli(
    ['audit', '--model', modelDir, '--data', GSM8K_SAMPLE, '--limit', String(RECORDS), ...ANCHOR_FLAGS,
      '--format', 'paper-llama2', '--probes', 'all', '--proj', 'none', '--k', String(K), '--out', out, '--json'],
    { SAFESIFT_CACHE_DIR: tempDir('paper-all-cache') },
  );
  assert.equal(result.code, 0, result.stderr);
  const rows = await duckRows(`select "row"::int "row", id, grad_score from read_parquet('${join(out, 'scores.parquet')}') order by "row"`);
  assert.equal(rows.length, RECORDS);

  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const encode = async (contents: ExampleContent[], responseTokenLimit?: number): Promise<TokenizedExample[]> => {
    const encoded = await tokenizer.encodeMany(contents, { maxTokens: 512, ...(responseTokenLimit ? { responseTokenLimit } : {}) });
    const examples = encoded.filter((e): e is TokenizedExample => !(e instanceof Error));
    assert.equal(examples.length, contents.length, 'every record encodes, as in the audit (which reported no errors)');
    return examples;
  };
  const asRequest = (examples: TokenizedExample[]) => examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) }));
  const anchors = async (path: string) => asRequest(await encode(readJsonLines(path, 100).map((r) => ({ shape: 'chat', ...(r as object) }) as ExampleContent), 10));
  const corpus = await encode((readJsonLines(GSM8K_SAMPLE, RECORDS) as object[]).map((r) => ({ shape: 'gsm8k', ...r }) as ExampleContent));

  // float32, as the paper's code computes its gradients.
  const reference = await runTorchPaperScores({
    model_dir: modelDir,
    dtype: 'float32',
    examples: asRequest(corpus),
    anchor_sets: [
      { weight: 1, examples: await anchors(ANCHOR_FILES.harmful) },
      { weight: -1, examples: await anchors(ANCHOR_FILES.safe1) },
      { weight: -1, examples: await anchors(ANCHOR_FILES.safe2) },
    ],
  });
  const paper = reference.scores.map((s) => s!);
  const ours = rows.map((r) => r.grad_score as number);
  const rho = spearman(ours, paper);
  assert.ok(rho >= 0.999, `Spearman ${rho}`);
  const maxDiff = Math.max(...ours.map((s, i) => Math.abs(s - paper[i]!)));
  assert.ok(maxDiff < 1e-4, `largest score difference ${maxDiff}`);

  const topOf = (scores: number[]) => new Set(scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s).slice(0, K).map((x) => x.i));
  assert.deepEqual(topOf(ours), topOf(paper), `identical top-${K}`);
  const top = await duckRows(`select "row"::int "row" from read_parquet('${join(out, 'topk.parquet')}')`);
  assert.deepEqual(new Set(top.map((r) => r.row as number)), topOf(paper));
});
