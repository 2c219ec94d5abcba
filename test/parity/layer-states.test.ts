import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import type { ExampleFeatures } from '../../shared/src/features/feature-model.ts';
import { OnnxFeatureModel, prepareFeatureGraph } from '../../shared/src/features/onnx-feature-model.ts';
import { buildFeatureGraph } from '../../shared/src/graph/feature-graph.ts';
import { gradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { probedParams } from '../../shared/src/graph/probes.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { PromptTokenizer, type PromptFormat } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { ALIGNED_CHAT_MODEL, complianceAndRefusalPairs } from '../helpers/aligned-chat-model.ts';
import { relativeError, tempDir } from '../helpers/fixtures.ts';
import { assertMatchesReference } from '../helpers/reference-parity.ts';
import { ANCHOR_FILES, chatContents, gsm8kContents } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';
import { runTorchReference } from '../helpers/torch-reference.ts';

// The feature graph's layer states (residual stream after decoder layer l, HF hidden_states[l+1]:
// at the last prompt token, and the loss-weighted response mean) against the float64 PyTorch
// reference, on the stories260k-shaped test model and the committed aligned chat model, for the
// first, middle and last layers; asking for them leaves every other output as it was.
const TOLERANCE = 1e-4;
const OPTIONS = { probe: 'all', projection: { kind: 'none' } } as const;

interface Input {
  format: PromptFormat;
  content: ExampleContent;
  /** Anchors: only the first N response tokens are labels (so the mean is over those). */
  responseTokenLimit?: number;
}

const [pair] = complianceAndRefusalPairs();
const INPUTS: Input[] = [
  { format: 'paper-llama2', content: gsm8kContents([0])[0]! },
  { format: 'chat-template', content: gsm8kContents([1])[0]! },
  { format: 'chat-template', content: pair!.refusal },
  { format: 'paper-llama2', content: chatContents(ANCHOR_FILES.safe1)[1]!, responseTokenLimit: 10 },
  { format: 'paper-llama2', content: { shape: 'alpaca', instruction: 'Hi.', input: '', output: 'Yo.' } },
];

before(() => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('layer-states-cache');
});

async function tokenize(modelDir: string, inputs: readonly Input[]): Promise<TokenizedExample[]> {
  const out: TokenizedExample[] = [];
  for (const input of inputs) {
    const tokenizer = await PromptTokenizer.load(modelDir, { format: input.format });
    const limit = input.responseTokenLimit === undefined ? {} : { responseTokenLimit: input.responseTokenLimit };
    out.push(await tokenizer.encode(input.content, { maxTokens: 512, ...limit }));
  }
  return out;
}

/** Features of `examples` in one right-padded batch, with and without the layers. */
async function runBoth(checkpoint: Checkpoint, examples: TokenizedExample[], layers: number[]): Promise<{ plain: ExampleFeatures[]; layered: ExampleFeatures[] }> {
  const plainModel = await OnnxFeatureModel.open(checkpoint, OPTIONS);
  const layeredModel = await OnnxFeatureModel.open(checkpoint, { ...OPTIONS, directionLayers: layers });
  try {
    assert.deepEqual([plainModel.info.directionLayers, layeredModel.info.directionLayers], [[], layers]);
    assert.notEqual(plainModel.info.graphPath, layeredModel.info.graphPath, 'the graph cache key holds the layers');
    return { plain: await plainModel.featurize(examples), layered: await layeredModel.featurize(examples) };
  } finally {
    await plainModel.close();
    await layeredModel.close();
  }
}

async function checkModel(modelDir: string, inputs: readonly Input[]): Promise<void> {
  const checkpoint = await openCheckpoint(modelDir);
  try {
    const L = checkpoint.config.numLayers;
    const D = checkpoint.config.hiddenSize;
    const layers = [0, Math.floor(L / 2), L - 1];
    const examples = await tokenize(modelDir, inputs);
    assert.notEqual(new Set(examples.map((e) => e.ids.length)).size, 1, 'a padded batch');
    const { plain, layered } = await runBoth(checkpoint, examples, layers);
    const reference = await runTorchReference({
      model_dir: modelDir,
      dtype: 'float64',
      examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
      want: ['representation', 'loss', 'grad_all', 'layer_states'],
      layers,
    });
    const layout = gradientLayout(probedParams(checkpoint.config, 'all'), { kind: 'none' });
    examples.forEach((e, i) => {
      const what = `example ${i} (${e.ids.length} tokens, ${e.labelCount} labels)`;
      const ours = layered[i]!;
      // Forward-only heads: the other outputs are those of the graph without them, bit for bit.
      assert.equal(plain[i]!.layerStates.length, 0, `${what}: no layer states without layers`);
      assert.ok(Object.is(ours.loss, plain[i]!.loss), `${what}: loss`);
      assert.deepEqual([ours.representation, ours.gradient], [plain[i]!.representation, plain[i]!.gradient], `${what}: representation and gradient`);
      assertMatchesReference(ours, reference.examples[i]!, layout, what, TOLERANCE);
      const expected = reference.examples[i]!.layer_states!;
      assert.deepEqual([ours.layerStates.length, expected.shape], [2 * layers.length * D, [2 * layers.length, D]]);
      layers.forEach((layer, l) => {
        ['last prompt token', 'response mean'].forEach((position, p) => {
          const at = (2 * l + p) * D;
          const error = relativeError(ours.layerStates.subarray(at, at + D), expected.data.subarray(at, at + D));
          assert.ok(error < TOLERANCE, `${what}, layer ${layer}, ${position}: relative error ${error}`);
        });
      });
    });
  } finally {
    await checkpoint.close();
  }
}

test('test model (stories260k shape): layer states of layers 0, 2, 4 match PyTorch float64 hidden states; the other outputs are unchanged', async () => {
  await checkModel(await testModel(), INPUTS);
});

test('aligned chat model: layer states of layers 0, 2, 3 match PyTorch float64 hidden states; the other outputs are unchanged', async () => {
  await checkModel(ALIGNED_CHAT_MODEL, INPUTS);
});

test('no layers: the graph and its cache key are those of a graph built without the option; bad layer lists are refused', async () => {
  const checkpoint = await openCheckpoint(await testModel());
  try {
    const without = await buildFeatureGraph(checkpoint, OPTIONS, null);
    assert.deepEqual(await buildFeatureGraph(checkpoint, { ...OPTIONS, directionLayers: [] }, null), without);
    const a = await prepareFeatureGraph(checkpoint, OPTIONS);
    const b = await prepareFeatureGraph(checkpoint, { ...OPTIONS, directionLayers: [] });
    assert.equal(b.info.graphPath, a.info.graphPath);
    for (const bad of [[2, 1], [1, 1], [5], [-1], [0.5]]) {
      await assert.rejects(buildFeatureGraph(checkpoint, { ...OPTIONS, directionLayers: bad }, null), /sorted, unique layer indices below 5/, `[${bad}]`);
    }
  } finally {
    await checkpoint.close();
  }
});
