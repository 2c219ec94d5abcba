import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { readJsonLines, relativeError, tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FILES, gsm8kSample } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { runTorchReference, type ReferenceResult } from '../helpers/torch-reference.ts';

// Parity of the ONNX feature graph with an independent PyTorch autograd implementation (float64)
// on the stories260k-shaped test model (random weights, tied embeddings). Tolerance: 1e-4 relative
// (max-norm), as the issue asks.
const TOLERANCE = 1e-4;

let checkpoint: Checkpoint;
let model: OnnxFeatureModel;
let examples: TokenizedExample[];
let reference: ReferenceResult;

before(async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('parity-cache');
  const modelDir = await testModel();
  checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const gsm = gsm8kSample(3);
  const anchor = readJsonLines(ANCHOR_FILES.harmful, 1)[0] as { messages: { role: 'user' | 'assistant'; content: string }[] };
  const contents: ExampleContent[] = [
    ...gsm.map((r): ExampleContent => ({ shape: 'gsm8k', ...r })),
    { shape: 'alpaca', instruction: 'Name three colours.', input: '', output: 'Red, green and blue.' },
    { shape: 'chat', messages: anchor.messages },
  ];
  examples = [];
  for (const c of contents) examples.push(await tokenizer.encode(c, { maxTokens: 512 }));
  // Mixed lengths are the point: padding must not leak into any example.
  assert.ok(new Set(examples.map((e) => e.ids.length)).size >= 4);
  model = await OnnxFeatureModel.open(checkpoint, { projection: { kind: 'none' }, emitLogits: true });
  reference = await runTorchReference({
    model_dir: modelDir,
    dtype: 'float64',
    examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['logits', 'representation', 'loss', 'grad_lm_head'],
  });
});

after(async () => {
  await model?.close();
  await checkpoint?.close();
});

function assertMatchesReference(outputs: Awaited<ReturnType<OnnxFeatureModel['run']>>, indices: number[]): void {
  indices.forEach((index, j) => {
    const ref = reference.examples[index]!;
    const ours = outputs.features[j]!;
    const what = `example ${index} (${examples[index]!.ids.length} tokens)`;
    assert.ok(relativeError(outputs.logits![j]!, ref.logits!.data) < TOLERANCE, `${what}: logits`);
    assert.ok(relativeError(ours.representation, ref.representation!.data) < TOLERANCE, `${what}: representation`);
    assert.ok(Math.abs(ours.loss - ref.loss!) / Math.abs(ref.loss!) < TOLERANCE, `${what}: loss ${ours.loss} vs ${ref.loss}`);
    const gradError = relativeError(ours.gradient, ref.grad_lm_head!.data);
    assert.ok(gradError < TOLERANCE, `${what}: lm_head gradient relative error ${gradError}`);
  });
}

test('padded batch of mixed lengths matches PyTorch autograd per example', async () => {
  const outputs = await model.run(examples);
  assertMatchesReference(outputs, examples.map((_, i) => i));
});

test('batch size 1 matches PyTorch autograd', async () => {
  for (let i = 0; i < examples.length; i++) {
    assertMatchesReference(await model.run([examples[i]!]), [i]);
  }
});
