import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '../../../shared/src/errors.ts';
import { parseLlamaConfig, readLlamaConfig } from '../../../shared/src/model/llama-config.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { testModel } from '../../helpers/test-model.ts';

const base = {
  model_type: 'llama',
  hidden_size: 128,
  intermediate_size: 344,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  vocab_size: 1000,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 4096,
};

function rejects(json: unknown, ...fragments: string[]): void {
  assert.throws(
    () => parseLlamaConfig(json),
    (err: unknown) => {
      assert.ok(err instanceof ModelError, `expected ModelError, got ${String(err)}`);
      for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
      return true;
    },
  );
}

// The test model's config.json is the synthetic writer's, with stories260k's values (test-model.ts).
test('parses the config.json of the stories260k-shaped test model', async () => {
  const c = await readLlamaConfig(join(await testModel(), 'config.json'));
  assert.deepEqual(c, {
    modelType: 'llama',
    hiddenSize: 64,
    intermediateSize: 172,
    numLayers: 5,
    numHeads: 8,
    numKvHeads: 4,
    headDim: 8,
    vocabSize: 512,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    maxPositionEmbeddings: 512,
    tieWordEmbeddings: true,
    attentionBias: false,
    attentionOutputBias: false,
    mlpBias: false,
    bosTokenId: 1,
    eosTokenId: 2,
    eosTokenIds: [2],
    hiddenAct: 'silu',
    slidingWindow: null,
    torchDtype: 'float32',
  });
});

test('applies defaults: kv heads = heads, head_dim = hidden/heads, rope_theta 10000, untied', () => {
  const c = parseLlamaConfig(base);
  assert.equal(c.numKvHeads, 4);
  assert.equal(c.headDim, 32);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.bosTokenId, 1);
  assert.equal(c.eosTokenId, 2);
});

test('eos_token_id array: first one is eosTokenId, all are kept', () => {
  const c = parseLlamaConfig({ ...base, eos_token_id: [128001, 128008, 128009], bos_token_id: 128000 });
  assert.equal(c.eosTokenId, 128001);
  assert.deepEqual(c.eosTokenIds, [128001, 128008, 128009]);
  assert.equal(c.bosTokenId, 128000);
});

test('biases: qwen2 has q/k/v bias only; llama attention_bias covers o_proj too', () => {
  const q = parseLlamaConfig({ ...base, model_type: 'qwen2', eos_token_id: 151645, sliding_window: 4096, use_sliding_window: false });
  assert.equal(q.attentionBias, true);
  assert.equal(q.attentionOutputBias, false);
  assert.equal(q.slidingWindow, null);
  assert.equal(q.bosTokenId, null);
  const l = parseLlamaConfig({ ...base, attention_bias: true, mlp_bias: true });
  assert.equal(l.attentionBias, true);
  assert.equal(l.attentionOutputBias, true);
  assert.equal(l.mlpBias, true);
});

test('mistral sliding_window is recorded', () => {
  const m = parseLlamaConfig({ ...base, model_type: 'mistral', sliding_window: 4096 });
  assert.equal(m.slidingWindow, 4096);
  assert.equal(m.attentionBias, false);
});

test('llama3 rope scaling is parsed; "default" and null mean none', () => {
  const c = parseLlamaConfig({
    ...base,
    rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  });
  assert.deepEqual(c.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.equal(c.ropeTheta, 500000);
  assert.equal(parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'default' } }).ropeScaling, null);
  assert.equal(parseLlamaConfig({ ...base, rope_scaling: null }).ropeScaling, null);
});

test('rejects unsupported configs, naming the field and value', () => {
  assert.throws(
    () => parseLlamaConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }),
    { name: 'ModelError', message: "config.json: unsupported rope_scaling.rope_type 'yarn' (supported: llama3)" },
  );
  rejects({ ...base, rope_scaling: { type: 'linear', factor: 2 } }, "rope_scaling.type 'linear'");
  rejects({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling.low_freq_factor');
  rejects({ ...base, model_type: 'gpt2' }, "model_type 'gpt2'", 'llama, mistral, qwen2');
  rejects({ ...base, model_type: undefined }, 'model_type');
  rejects({ ...base, hidden_act: 'gelu' }, "hidden_act 'gelu'");
  rejects({ ...base, quantization_config: { quant_method: 'gptq' } }, 'quantization_config', "'gptq'");
  rejects({ ...base, hidden_size: undefined }, 'hidden_size');
  rejects({ ...base, vocab_size: -3 }, 'vocab_size');
  rejects({ ...base, num_key_value_heads: 3 }, 'num_key_value_heads 3');
  rejects({ ...base, hidden_size: 130 }, 'hidden_size 130');
  rejects({ ...base, model_type: 'qwen2' }, 'eos_token_id');
  rejects([1, 2], 'JSON object');
});

test('readLlamaConfig names the file when it is missing or not JSON', async () => {
  await assert.rejects(readLlamaConfig('/nonexistent/config.json'), (err: unknown) => {
    assert.ok(err instanceof ModelError && err.message.includes('/nonexistent/config.json'));
    return true;
  });
  const readme = join(tempDir('llama-config'), 'README.md');
  await writeFile(readme, '# Not a config\n');
  await assert.rejects(readLlamaConfig(readme), /README\.md: not valid JSON/);
});
