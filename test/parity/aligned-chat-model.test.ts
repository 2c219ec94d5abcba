import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ExampleContent } from '../../shared/src/corpus/example.ts';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { gradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { probedParams } from '../../shared/src/graph/probes.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { toMessages } from '../../shared/src/prompt/chat-template.ts';
import { PromptTokenizer, type PromptFormat } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { ALIGNED_CHAT_MODEL, ALIGNED_CHAT_SHAPE, complianceAndRefusalPairs } from '../helpers/aligned-chat-model.ts';
import { independentTokenizer } from '../helpers/chat-model-checkpoint.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { assertMatchesReference } from '../helpers/reference-parity.ts';
import { ANCHOR_FILES, chatContents, gsm8kContents } from '../helpers/test-data.ts';
import { runTorchReference } from '../helpers/torch-reference.ts';

// The committed aligned chat model (trained weights, its own BPE tokenizer and [INST] template):
// representation, loss and the exact full gradient of records in both prompt formats match PyTorch
// autograd in float64, and --format chat-template tokenizes as an independent tokenizer does.
const TOLERANCE = 1e-4;
const ANCHOR_TOKENS = 10;

interface Case {
  name: string;
  format: PromptFormat;
  content: ExampleContent;
  anchor?: boolean;
}

const [pair] = complianceAndRefusalPairs();
const CASES: Case[] = [
  { name: 'GSM8K record', format: 'chat-template', content: gsm8kContents([0])[0]! },
  { name: 'GSM8K record', format: 'paper-llama2', content: gsm8kContents([0])[0]! },
  { name: 'harmful request, trained refusal', format: 'chat-template', content: pair!.refusal },
  { name: 'harmful anchor (first 10 response tokens)', format: 'chat-template', content: chatContents(ANCHOR_FILES.harmful)[1]!, anchor: true },
  { name: 'safe anchor (first 10 response tokens)', format: 'paper-llama2', content: chatContents(ANCHOR_FILES.safe1)[1]!, anchor: true },
];

let checkpoint: Checkpoint;
let model: OnnxFeatureModel;
let examples: TokenizedExample[];

before(async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('aligned-parity-cache');
  const tokenizers = new Map<PromptFormat, PromptTokenizer>();
  for (const format of ['chat-template', 'paper-llama2'] as const) tokenizers.set(format, await PromptTokenizer.load(ALIGNED_CHAT_MODEL, { format }));
  examples = [];
  for (const c of CASES) {
    examples.push(await tokenizers.get(c.format)!.encode(c.content, { maxTokens: 512, ...(c.anchor ? { responseTokenLimit: ANCHOR_TOKENS } : {}) }));
  }
  checkpoint = await openCheckpoint(ALIGNED_CHAT_MODEL);
  model = await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'none' } });
});

after(async () => {
  await model?.close();
  await checkpoint?.close();
});

test('aligned chat model: the checkpoint reads with its shape and ids', () => {
  const c = checkpoint.config;
  assert.deepEqual(
    [c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.tieWordEmbeddings, c.bosTokenId, c.eosTokenIds],
    [ALIGNED_CHAT_SHAPE.vocabSize, ALIGNED_CHAT_SHAPE.hiddenSize, ALIGNED_CHAT_SHAPE.numLayers, ALIGNED_CHAT_SHAPE.numHeads, ALIGNED_CHAT_SHAPE.numKvHeads, ALIGNED_CHAT_SHAPE.tied, 1, [2]],
  );
});

test('aligned chat model, --format chat-template: ids equal an independent tokenizer applying the same template; labels are the answer and </s>', async () => {
  const independent = independentTokenizer(ALIGNED_CHAT_MODEL);
  CASES.forEach((c, i) => {
    if (c.format !== 'chat-template') return;
    const messages = toMessages(c.content);
    const promptIds = independent.encode(independent.render(messages.slice(0, -1), true));
    const fullIds = independent.encode(independent.render(messages, false));
    const end = fullIds.indexOf(2, promptIds.length);
    const ex = examples[i]!;
    assert.deepEqual(Array.from(ex.ids), fullIds.slice(0, end + 1), `${c.name}: ids`);
    assert.deepEqual([ex.ids[0], ex.ids[1] === 1], [1, false], `${c.name}: one BOS`);
    const labels = Array.from(ex.lossWeights.keys()).filter((t) => ex.lossWeights[t]! > 0);
    const labelEnd = c.anchor ? promptIds.length + ANCHOR_TOKENS : end + 1;
    assert.deepEqual(labels, Array.from({ length: labelEnd - promptIds.length }, (_, k) => promptIds.length + k), `${c.name}: label positions`);
    if (!c.anchor) assert.equal(independent.decode(labels.map((t) => ex.ids[t]!)).trim(), messages.at(-1)!.content.trim(), `${c.name}: labels are the answer`);
  });
});

test('aligned chat model: representation, loss and the exact full gradient (probe all, no projection) match PyTorch float64 in a right-padded batch', async () => {
  const reference = await runTorchReference({
    model_dir: ALIGNED_CHAT_MODEL,
    dtype: 'float64',
    examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['representation', 'loss', 'grad_all'],
  });
  const layout = gradientLayout(probedParams(checkpoint.config, 'all'), { kind: 'none' });
  const outputs = await model.run(examples);
  examples.forEach((e, i) => {
    const what = `${CASES[i]!.name}, ${CASES[i]!.format} (${e.ids.length} tokens)`;
    assertMatchesReference(outputs.features[i]!, reference.examples[i]!, layout, what, TOLERANCE);
  });
});
