import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { gradientLayout, type GradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { probedParams } from '../../shared/src/graph/probes.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { readJsonLines, relativeError, tempDir } from '../helpers/fixtures.ts';
import { ANCHOR_FILES, gsm8kSample } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { runTorchReference, type ReferenceResult } from '../helpers/torch-reference.ts';

// Every parameter tensor's per-example gradient (probe `all`, exact) against PyTorch autograd in
// float64 on the stories260k-shaped test model, whose embeddings are tied: the shared tensor gets
// both uses, summed.
const TOLERANCE = 1e-4;

let checkpoint: Checkpoint;
let model: OnnxFeatureModel;
let layout: GradientLayout[];
let examples: TokenizedExample[];
let reference: ReferenceResult;

before(async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('full-grad-cache');
  const modelDir = await testModel();
  checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const gsm = gsm8kSample(2);
  const anchor = readJsonLines(ANCHOR_FILES.safe1, 1)[0] as { messages: { role: 'user' | 'assistant'; content: string }[] };
  const contents: ExampleContent[] = [
    ...gsm.map((r): ExampleContent => ({ shape: 'gsm8k', ...r })),
    { shape: 'alpaca', instruction: 'Name three colours.', input: '', output: 'Red, green and blue.' },
  ];
  examples = [];
  for (const c of contents) examples.push(await tokenizer.encode(c, { maxTokens: 512 }));
  examples.push(await tokenizer.encode({ shape: 'chat', messages: anchor.messages }, { maxTokens: 512, responseTokenLimit: 10 }));
  model = await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'none' } });
  layout = gradientLayout(probedParams(checkpoint.config, 'all'), { kind: 'none' });
  reference = await runTorchReference({
    model_dir: modelDir,
    examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['grad_all'],
  });
});

after(async () => {
  await model?.close();
  await checkpoint?.close();
});

function assertEveryTensorMatches(gradient: Float32Array, index: number): void {
  const ref = reference.examples[index]!.grad_all!;
  assert.deepEqual(new Set(layout.map((l) => l.key)), new Set(Object.keys(ref)), 'same parameter tensors');
  for (const block of layout) {
    const error = relativeError(gradient.subarray(block.offset, block.offset + block.size), ref[block.key]!.data);
    assert.ok(error < TOLERANCE, `example ${index}, ${block.key}: relative error ${error}`);
  }
}

test('probe all: a padded batch of mixed lengths gives every tensor\'s per-example gradient', async () => {
  const features = await model.featurize(examples);
  features.forEach((f, i) => assertEveryTensorMatches(f.gradient, i));
});

test('probe all: batch size 1 gives the same per-example gradients', async () => {
  for (let i = 0; i < examples.length; i++) {
    const [f] = await model.featurize([examples[i]!]);
    assertEveryTensorMatches(f!.gradient, i);
  }
});
