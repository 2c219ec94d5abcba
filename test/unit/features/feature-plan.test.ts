import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lengthBuckets } from '../../../shared/src/features/featurize-batches.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import { planFeatureExecution, PLANNABLE_SHARE, SMALL_MODEL_BYTES } from '../../../shared/src/features/feature-plan.ts';
import { parseByteSize } from '../../../shared/src/features/memory-budget.ts';
import { attentionBlockRows, MAX_BLOCK_ROWS } from '../../../shared/src/graph/autodiff/attention-plan.ts';
import { batchBytes, estimatePeakBytes, featureMemoryModel, PREPACK_COPIES, type FeatureMemoryModel } from '../../../shared/src/features/memory-model.ts';
import { parseLlamaConfig } from '../../../shared/src/model/llama-config.ts';
import { countParameters } from '../../../shared/src/model/llama-tensors.ts';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Llama-3.1-8B's config.json fields that matter here. */
const LLAMA_8B = parseLlamaConfig({
  model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
  num_key_value_heads: 8, vocab_size: 128256, rms_norm_eps: 1e-5, rope_theta: 500000, max_position_embeddings: 131072,
  tie_word_embeddings: false, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009], hidden_act: 'silu',
});

test('the memory model counts one copy of the weights in the compute type, and per-token memory scales with layers and vocabulary', () => {
  assert.equal(countParameters(LLAMA_8B), 8_030_261_248);
  const half = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'stored');
  const full = featureMemoryModel(LLAMA_8B, 'float32', 1000, 'gpu', 'stored');
  assert.equal(half.weightBytes, 2 * 8_030_261_248);
  assert.equal(full.weightBytes, 2 * half.weightBytes);
  assert.ok(full.perTokenBytes > half.perTokenBytes && full.perTokenBytes < 2 * half.perTokenBytes, 'the float32 logits term does not halve');
  assert.equal(half.perExampleBytes, 2 * 1000 * 4);
  const shallow = featureMemoryModel({ ...LLAMA_8B, numLayers: 16 }, 'float16', 1000, 'gpu', 'stored');
  assert.ok(shallow.perTokenBytes < half.perTokenBytes);
  assert.equal(shallow.attentionPairBytes * 2, half.attentionPairBytes, 'stored attention probabilities are per layer');
  const recomputed = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'recomputed');
  assert.equal(featureMemoryModel({ ...LLAMA_8B, numLayers: 16 }, 'float16', 1000, 'gpu', 'recomputed').attentionPairBytes, recomputed.attentionPairBytes, "recomputed: one layer's block at a time");
});

test('stored attention memory grows with T²; recomputed attention memory stops growing per token once blocks reach their largest size', () => {
  const stored = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'stored');
  assert.ok(batchBytes(stored, 1, 8192, 8192) / batchBytes(stored, 1, 4096, 4096) > 3, 'stored: nearly quadratic');
  const model = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'recomputed');
  const at = (tokens: number) => batchBytes(model, 1, tokens, tokens);
  assert.ok(at(1024) / at(512) > 2, 'below 4 full blocks the block grows with T');
  assert.ok(Math.abs(at(8192) / at(4096) - 2) < 0.01, 'past them memory doubles with T');
  assert.equal(attentionBlockRows(4096), MAX_BLOCK_ROWS);
  assert.equal(attentionBlockRows(100), 25);
  assert.equal(attentionBlockRows(1100), 220);
});

test('float16 on the CPU provider counts the two float32 copies its casts add', () => {
  const cpu = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'cpu', 'stored');
  const gpu = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'stored');
  assert.equal(cpu.weightBytes, 5 * gpu.weightBytes);
});

const small: FeatureMemoryModel = { dtype: 'float32', weightBytes: MiB, perTokenBytes: 20_000, attention: 'stored', attentionPairBytes: 200, perExampleBytes: 500_000 };
const large: FeatureMemoryModel = { dtype: 'float32', weightBytes: 2 * GiB, perTokenBytes: 3 * MiB, attention: 'stored', attentionPairBytes: 2000, perExampleBytes: 2 * MiB };

test('a small model gets one single-threaded session per thread with pre-packed weights; a large one a single session', () => {
  const smallPlan = planFeatureExecution(small, { device: 'cpu', cores: 4, budgetBytes: 24 * GiB, maxTokens: 512 });
  assert.deepEqual([smallPlan.sessions, smallPlan.threadsPerSession, smallPlan.prepack, smallPlan.batchExamples], [4, 1, true, 1]);
  for (const threads of [1, 2, 8, 64]) {
    const plan = planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 24 * GiB, maxTokens: 512, threads });
    assert.deepEqual([plan.sessions, plan.threadsPerSession, plan.prepack], [1, threads, true], `--threads ${threads}: one session, pre-packed (it fits 24 GiB)`);
    // One session's weights: the mapped copy and its packed copies, whatever --threads is.
    assert.ok(Math.abs(plan.estimatedPeakBytes - estimatePeakBytes({ ...large, weightBytes: 0 }, plan, 'cpu') - large.weightBytes * (1 + PREPACK_COPIES)) < 1);
    const unpacked = planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 24 * GiB, maxTokens: 512, threads, prepack: false });
    assert.equal(unpacked.estimatedPeakBytes - estimatePeakBytes({ ...large, weightBytes: 0 }, unpacked, 'cpu'), large.weightBytes, '--no-prepack: one copy');
  }
  assert.ok(SMALL_MODEL_BYTES < large.weightBytes);
});

test('the plan fits the budget: it drops extra sessions and pre-packing, then refuses with the arithmetic', () => {
  const tight = { ...small, weightBytes: 30 * MiB };
  const roomy = planFeatureExecution(tight, { device: 'cpu', cores: 8, budgetBytes: 24 * GiB, maxTokens: 512 });
  assert.equal(roomy.sessions, 8);
  const squeezed = planFeatureExecution(tight, { device: 'cpu', cores: 8, budgetBytes: 700 * MiB, maxTokens: 512 });
  assert.equal(squeezed.sessions, 1);
  assert.ok(squeezed.estimatedPeakBytes <= 700 * MiB * PLANNABLE_SHARE);
  // A large model whose packed copies would not fit keeps its one mapped copy, and says why.
  const mapped = planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 8 * GiB, maxTokens: 512 });
  assert.equal(mapped.prepack, false);
  assert.ok(mapped.notes.some((n) => /not pre-packed/.test(n)), mapped.notes.join('; '));
  assert.ok(planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 12 * GiB, maxTokens: 512 }).prepack, 'with room the copies are kept');
  // --prepack that cannot fit is refused, and the refusal says what to drop.
  assert.throws(
    () => planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 8 * GiB, maxTokens: 512, prepack: true }),
    (error: unknown) => error instanceof ConfigError && /drop --prepack/.test(error.message),
  );
  assert.throws(
    () => planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 3 * GiB, maxTokens: 2048 }),
    (error: unknown) => error instanceof ConfigError && /needs about .* GiB .*--memory-budget/.test(error.message),
  );
  // A batch the user asked for is never shrunk silently.
  assert.throws(() => planFeatureExecution(large, { device: 'cpu', cores: 2, budgetBytes: 8 * GiB, maxTokens: 512, batchSize: 16 }), ConfigError);
});

test('on a GPU, batches fill the memory left beside the weights, by padded tokens', () => {
  const memory = featureMemoryModel(LLAMA_8B, 'float16', 2_000_000, 'gpu', 'stored');
  const plan = planFeatureExecution(memory, { device: 'gpu', cores: 8, budgetBytes: 80 * GiB, maxTokens: 512 });
  assert.equal(plan.sessions, 1);
  assert.ok(plan.batchTokens >= 512 && plan.batchTokens <= 32 * 512);
  assert.ok(plan.estimatedPeakBytes <= 80 * GiB * PLANNABLE_SHARE, `estimate ${plan.estimatedPeakBytes / GiB} GiB`);
  const bigger = planFeatureExecution(memory, { device: 'gpu', cores: 8, budgetBytes: 140 * GiB, maxTokens: 512 });
  assert.ok(bigger.batchTokens > plan.batchTokens);
  assert.equal(estimatePeakBytes(memory, plan, 'gpu'), plan.estimatedPeakBytes);
});

test('length buckets: longest first, within the example and padded-token limits, every example once', () => {
  const lengths = [5, 100, 30, 31, 99, 2, 60];
  const batches = lengthBuckets(lengths, { examples: 3, tokens: 200 });
  assert.deepEqual(batches, [[1, 4], [6, 3, 2], [0, 5]]);
  for (const batch of batches) assert.ok(batch.length * lengths[batch[0]!]! <= 200 || batch.length === 1);
  assert.deepEqual(lengthBuckets([500, 10], { examples: 8, tokens: 100 }), [[0], [1]], 'an example over the limit runs alone');
  assert.deepEqual(lengthBuckets([], { examples: 2, tokens: Infinity }), []);
});

test('byte sizes parse with binary and decimal units and reject junk naming the option', () => {
  assert.equal(parseByteSize('16GiB', '--memory-budget'), 16 * GiB);
  assert.equal(parseByteSize('80G', '--memory-budget'), 80 * GiB);
  assert.equal(parseByteSize('1.5 gb', '--memory-budget'), 1.5e9);
  assert.equal(parseByteSize('512MiB', '--memory-budget'), 512 * MiB);
  assert.equal(parseByteSize('1000', '--memory-budget'), 1000);
  assert.throws(() => parseByteSize('lots', '--memory-budget'), /--memory-budget: expected a size/);
  assert.throws(() => parseByteSize('0GiB', 'SAFESIFT_MEMORY_BUDGET'), /SAFESIFT_MEMORY_BUDGET: must be positive/);
});

test('an 8B float16 model at 4096 tokens does not fit one 80 GiB GPU: the refusal gives the arithmetic and suggests float16 only when not already used', () => {
  const request = { device: 'gpu' as const, cores: 8, budgetBytes: 80 * GiB, maxTokens: 4096 };
  const half = featureMemoryModel(LLAMA_8B, 'float16', 7_422_208, 'gpu', 'recomputed');
  assert.throws(() => planFeatureExecution(half, request), (e: Error) => e instanceof ConfigError && /needs about .* GiB/.test(e.message) && !e.message.includes('--dtype float16'));
  const full = featureMemoryModel(LLAMA_8B, 'float32', 7_422_208, 'gpu', 'recomputed');
  assert.throws(() => planFeatureExecution(full, request), /use --dtype float16/);
  assert.equal(planFeatureExecution(half, { ...request, maxTokens: 2048 }).batchExamples >= 1, true, '2048 tokens fit');
});

test('direction layers add their states (2·L·D float32, output and copy) to the per-example bytes, nothing else', () => {
  const plain = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'stored');
  const layered = featureMemoryModel(LLAMA_8B, 'float16', 1000, 'gpu', 'stored', 2);
  assert.equal(layered.perExampleBytes - plain.perExampleBytes, 2 * (2 * 2 * 4096) * 4);
  assert.deepEqual({ ...layered, perExampleBytes: 0 }, { ...plain, perExampleBytes: 0 });
});
