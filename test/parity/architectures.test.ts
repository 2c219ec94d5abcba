import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelError } from '../../shared/src/errors.ts';
import { OnnxFeatureModel, type RawFeatureOutputs } from '../../shared/src/features/onnx-feature-model.ts';
import { gradientLayout, type GradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { probedParams } from '../../shared/src/graph/probes.ts';
import { ropeInverseFrequencies } from '../../shared/src/graph/rope.ts';
import { openCheckpoint, type Checkpoint } from '../../shared/src/model/checkpoint.ts';
import { parseLlamaConfig } from '../../shared/src/model/llama-config.ts';
import { expectedLlamaTensors } from '../../shared/src/model/llama-tensors.ts';
import { SafetensorsFile } from '../../shared/src/model/safetensors.ts';
import { writeSafetensors } from '../../shared/src/model/safetensors-writer.ts';
import { writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../../shared/src/model/synthetic-checkpoint.ts';
import { TINY_TOKENIZER_VOCAB_SIZE } from '../../shared/src/model/tiny-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { relativeError, tempDir } from '../helpers/fixtures.ts';
import { assertMatchesReference } from '../helpers/reference-parity.ts';
import { runTorchReference, type ReferenceResult } from '../helpers/torch-reference.ts';

// Every supported architecture variant, on random tiny checkpoints: logits, representation, loss and
// every parameter's per-example gradient (probe `all`) against PyTorch autograd in float64.
const TOLERANCE = 1e-4;
const LENGTHS = [37, 23, 12];

interface Variant {
  name: string;
  spec: SyntheticLlamaSpec;
  /** Llama's `mlp_bias`, which the synthetic spec does not cover: patched in after writing. */
  mlpBias?: boolean;
}

const base = { hiddenSize: 32, intermediateSize: 80, numLayers: 2, numHeads: 4, vocabSize: TINY_TOKENIZER_VOCAB_SIZE, maxPositionEmbeddings: 64 };
const VARIANTS: Variant[] = [
  { name: 'llama GQA (4 heads, 2 kv), untied', spec: { ...base, hiddenSize: 64, intermediateSize: 128, numKvHeads: 2, tieWordEmbeddings: false, seed: 11 } },
  { name: 'llama multi-query (1 kv head), tied', spec: { ...base, numKvHeads: 1, tieWordEmbeddings: true, vocabSize: TINY_TOKENIZER_VOCAB_SIZE + 12, seed: 12 } },
  { name: 'qwen2 (q/k/v biases), tied', spec: { ...base, modelType: 'qwen2', numKvHeads: 2, tieWordEmbeddings: true, seed: 13 } },
  { name: 'qwen2 (q/k/v biases), untied', spec: { ...base, modelType: 'qwen2', numKvHeads: 2, tieWordEmbeddings: false, seed: 14 } },
  {
    name: 'llama-3 rope scaling, untied',
    spec: {
      ...base,
      hiddenSize: 64,
      numKvHeads: 4,
      tieWordEmbeddings: false,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 },
      seed: 15,
    },
  },
  { name: 'mistral, untied', spec: { ...base, modelType: 'mistral', numKvHeads: 2, tieWordEmbeddings: false, seed: 16 } },
  { name: 'llama attention_bias + mlp_bias, untied', spec: { ...base, numKvHeads: 2, attentionBias: true, tieWordEmbeddings: false, seed: 17 }, mlpBias: true },
];

/** mulberry32: deterministic test data. */
function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** BOS, then random ids; the last half are labels weighing 1/n each. */
function randomExample(length: number, random: () => number): TokenizedExample {
  const ids = new Int32Array(length);
  ids[0] = 1;
  for (let t = 1; t < length; t++) ids[t] = 3 + Math.floor(random() * (TINY_TOKENIZER_VOCAB_SIZE - 3));
  const labels = Math.floor(length / 2);
  const lossWeights = new Float32Array(length);
  for (let t = length - labels; t < length; t++) lossWeights[t] = 1 / labels;
  return { ids, lossWeights, labelCount: labels, truncated: false };
}

/** Rewrites a written checkpoint with `mlp_bias: true` and random MLP biases (other tensors kept). */
async function addMlpBiases(dir: string, seed: number): Promise<void> {
  const configPath = join(dir, 'config.json');
  const json = { ...(JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>), mlp_bias: true };
  const expected = expectedLlamaTensors(parseLlamaConfig(json));
  const old = await SafetensorsFile.open(join(dir, 'model.safetensors'));
  const random = rng(seed);
  const tensors = [];
  for (const t of expected) {
    let data: Float32Array;
    if (old.has(t.name)) data = await old.readFloat32(t.name);
    else data = Float32Array.from({ length: t.shape[0]! }, () => (random() - 0.5) * 0.1);
    tensors.push({ name: t.name, shape: t.shape, data });
  }
  await old.close();
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeFile(configPath, `${JSON.stringify(json, null, 2)}\n`);
}

interface Prepared {
  dir: string;
  checkpoint: Checkpoint;
  model: OnnxFeatureModel;
  layout: GradientLayout[];
  examples: TokenizedExample[];
  reference: ReferenceResult;
}

let root: string;
const prepared = new Map<string, Promise<Prepared>>();

async function prepare(variant: Variant, index: number): Promise<Prepared> {
  const dir = join(root, `variant-${index}`);
  await writeRandomLlamaCheckpoint(dir, variant.spec);
  if (variant.mlpBias) await addMlpBiases(dir, variant.spec.seed);
  const random = rng(1000 + variant.spec.seed);
  const examples = LENGTHS.map((n) => randomExample(n, random));
  const reference = runTorchReference({
    model_dir: dir,
    dtype: 'float64',
    examples: examples.map((e) => ({ ids: Array.from(e.ids), weights: Array.from(e.lossWeights) })),
    want: ['logits', 'representation', 'loss', 'grad_all'],
  });
  const checkpoint = await openCheckpoint(dir);
  const model = await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'none' }, emitLogits: true });
  const layout = gradientLayout(probedParams(checkpoint.config, 'all'), { kind: 'none' });
  return { dir, checkpoint, model, layout, examples, reference: await reference };
}

before(() => {
  root = tempDir('architectures');
  process.env.SAFESIFT_CACHE_DIR = join(root, 'cache');
  // Start every variant at once: the Python references run side by side.
  VARIANTS.forEach((v, i) => {
    const p = prepare(v, i);
    p.catch(() => {}); // reported by the variant's own tests
    prepared.set(v.name, p);
  });
});

after(async () => {
  for (const p of prepared.values()) {
    const ready = await p.catch(() => null);
    await ready?.model.close();
    await ready?.checkpoint.close();
  }
});

function assertMatches(p: Prepared, outputs: RawFeatureOutputs, indices: number[]): void {
  indices.forEach((index, j) => {
    const ref = p.reference.examples[index]!;
    const ours = outputs.features[j]!;
    const what = `example ${index} (${p.examples[index]!.ids.length} tokens)`;
    const logitsError = relativeError(outputs.logits![j]!, ref.logits!.data);
    assert.ok(logitsError < TOLERANCE, `${what}: logits relative error ${logitsError}`);
    assertMatchesReference(ours, ref, p.layout, what, TOLERANCE);
  });
}

for (const variant of VARIANTS) {
  describe(variant.name, () => {
    test('right-padded batch of 3 mixed lengths matches PyTorch autograd', async () => {
      const p = await prepared.get(variant.name)!;
      assertMatches(p, await p.model.run(p.examples), [0, 1, 2]);
    });
    test('batch size 1 matches PyTorch autograd', async () => {
      const p = await prepared.get(variant.name)!;
      for (let i = 0; i < p.examples.length; i++) assertMatches(p, await p.model.run([p.examples[i]!]), [i]);
    });
  });
}

test('the variants cover what they claim', async () => {
  const configs = await Promise.all(VARIANTS.map(async (v) => (await prepared.get(v.name)!).checkpoint.config));
  assert.ok(configs.some((c) => c.tieWordEmbeddings) && configs.some((c) => !c.tieWordEmbeddings), 'tied and untied');
  assert.ok(configs.some((c) => c.numKvHeads === 1) && configs.some((c) => c.numKvHeads > 1 && c.numKvHeads < c.numHeads), 'MQA and GQA');
  const qwen = configs.find((c) => c.modelType === 'qwen2')!;
  assert.ok(qwen.attentionBias && !qwen.attentionOutputBias, 'qwen2: q/k/v bias, no o_proj bias');
  const biased = configs.find((c) => c.modelType === 'llama' && c.mlpBias)!;
  assert.ok(biased.attentionBias && biased.attentionOutputBias, 'llama attention_bias: q/k/v/o');
  // The llama3 scaling must move both the scaled and the interpolated (medium) frequency bands.
  const scaled = configs.find((c) => c.ropeScaling)!;
  const plain = ropeInverseFrequencies({ ...scaled, ropeScaling: null });
  const ours = ropeInverseFrequencies(scaled);
  const ratios = Array.from(ours, (f, i) => plain[i]! / f);
  assert.ok(ratios.some((r) => Math.abs(r - 8) < 1e-3), `some frequencies divided by the factor: ${ratios}`);
  assert.ok(ratios.some((r) => r > 1.01 && r < 7.99), `some frequencies interpolated: ${ratios}`);
  // A position ~40 angle then differs noticeably, so the parity above does test the scaling.
  assert.ok(ours.some((f, i) => Math.abs(f - plain[i]!) * Math.max(...LENGTHS) > 0.1));
});

test('an unsupported rope_scaling type fails on open with an error naming the field', async () => {
  for (const key of ['rope_type', 'type']) {
    const dir = join(root, `yarn-${key}`);
    await writeRandomLlamaCheckpoint(dir, { ...base, numKvHeads: 2, tieWordEmbeddings: true, seed: 99 });
    const configPath = join(dir, 'config.json');
    const json = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    json['rope_scaling'] = { [key]: 'yarn', factor: 4, original_max_position_embeddings: 16 };
    await writeFile(configPath, JSON.stringify(json));
    await assert.rejects(openCheckpoint(dir), (err: unknown) => {
      assert.ok(err instanceof ModelError, `expected a ModelError, got ${String(err)}`);
      assert.match(err.message, new RegExp(`rope_scaling\\.${key}\\b`));
      assert.match(err.message, /'yarn'/);
      return true;
    });
  }
});
