import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { attentionModeFor, STORED_ATTENTION_MAX_TOKENS, type AttentionMode } from '../../shared/src/graph/autodiff/attention-mode.ts';
import { attentionBlockRows, MAX_BLOCK_ROWS } from '../../shared/src/graph/autodiff/attention-plan.ts';
import { gradientLayout, type GradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { probedParams } from '../../shared/src/graph/probes.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { writeRandomLlamaCheckpoint } from '../../shared/src/model/synthetic-checkpoint.ts';
import { TINY_TOKENIZER_VOCAB_SIZE } from '../../shared/src/model/tiny-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { assertMatchesReference } from '../helpers/reference-parity.ts';
import { runTorchReference } from '../helpers/torch-reference.ts';

// 'recomputed' attention runs in query blocks of at most MAX_BLOCK_ROWS rows (an ONNX Loop) and
// recomputes its probabilities in the backward; 'stored' keeps them (the short-example default). Lengths here make more blocks than the short parity tests do, an
// uneven last block, and padded keys in a batch; 4096 tokens is the long-context case itself.
const TOLERANCE = 1e-4;

let root: string;
let checkpoint: Checkpoint;
const models = new Map<AttentionMode, OnnxFeatureModel>();
let layout: GradientLayout[];

/** A long answer: BOS, a prompt of `prompt` ids, then labels to the end (weights 1/n). */
function longExample(length: number, prompt: number, seed: number): TokenizedExample {
  const ids = Int32Array.from({ length }, (_, t) => (t === 0 ? 1 : 3 + ((t * 7919 + seed * 104_729) % (TINY_TOKENIZER_VOCAB_SIZE - 3))));
  const labels = length - prompt - 1;
  const lossWeights = Float32Array.from({ length }, (_, t) => (t > prompt ? 1 / labels : 0));
  return { ids, lossWeights, labelCount: labels, truncated: false };
}

before(async () => {
  root = tempDir('long-context');
  process.env.SAFESIFT_CACHE_DIR = join(root, 'cache');
  const dir = join(root, 'model');
  await writeRandomLlamaCheckpoint(dir, {
    hiddenSize: 64,
    intermediateSize: 160,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    vocabSize: TINY_TOKENIZER_VOCAB_SIZE,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 8192,
    seed: 4096,
  });
  checkpoint = await openCheckpoint(dir);
  for (const attention of ['stored', 'recomputed'] as const) models.set(attention, await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'none' }, attention }));
  layout = gradientLayout(probedParams(checkpoint.config, 'all'), { kind: 'none' });
});

after(async () => {
  for (const model of models.values()) await model.close();
  await checkpoint?.close();
});

async function assertParity(examples: TokenizedExample[], attention: AttentionMode, what: string): Promise<void> {
  const reference = await runTorchReference({
    model_dir: checkpoint.dir,
    dtype: 'float64',
    examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['representation', 'loss', 'grad_all'],
  });
  const outputs = await models.get(attention)!.run(examples);
  examples.forEach((e, i) => assertMatchesReference(outputs.features[i]!, reference.examples[i]!, layout, `${what} (${attention}), ${e.ids.length} tokens`, TOLERANCE));
}

test('the block layout: at least 4 blocks, at most MAX_BLOCK_ROWS rows each, the last one possibly short', () => {
  assert.equal(attentionBlockRows(1100), 220, '1100 tokens: 5 blocks of 220');
  assert.equal(attentionBlockRows(1300), 217, '1300 tokens: 6 blocks of 217, the last of 215');
  assert.equal(attentionBlockRows(4096), MAX_BLOCK_ROWS);
  assert.equal(attentionBlockRows(3), 1, 'shorter than 4: blocks of one row (padded queries are cut off)');
});

for (const attention of ['stored', 'recomputed'] as const) {
  test(`features match PyTorch in one right-padded batch of 1300, 1100 and 300 tokens (${attention} probabilities; 6 and 5 recompute blocks; padded keys)`, async () => {
    await assertParity([longExample(1300, 40, 1), longExample(1100, 500, 2), longExample(300, 20, 3)], attention, 'padded batch');
  });
}

test('a 4096-token example runs with recomputed probabilities, with features that match PyTorch', async () => {
  await assertParity([longExample(4096, 100, 4)], 'recomputed', 'long example');
});

test('audits longer than STORED_ATTENTION_MAX_TOKENS recompute', () => {
  assert.equal(attentionModeFor(512), 'stored');
  assert.equal(attentionModeFor(STORED_ATTENTION_MAX_TOKENS), 'stored');
  assert.equal(attentionModeFor(STORED_ATTENTION_MAX_TOKENS + 1), 'recomputed');
});
