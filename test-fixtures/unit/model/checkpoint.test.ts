import '../../guard.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../../../shared/src/model/checkpoint.ts';
import { STORIES260K } from '../../fixture-paths.ts';

// The real llama2.c export opens: tied embeddings with lm_head.weight stored as well.
// (test/unit/model/checkpoint.test.ts checks the same on the stories260k-shaped test model.)
test('opens stories260k: config, tensors, stored lm_head equal to the embedding', async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'safesift-ckpt-'));
  t.after(() => rm(cache, { recursive: true, force: true }));
  const ckpt = await openCheckpoint(STORIES260K, { cacheDir: cache });
  t.after(() => ckpt.close());
  assert.equal(ckpt.config.numLayers, 5);
  assert.equal(ckpt.tensorNames().length, 48);
  assert.deepEqual(ckpt.tensorShape('model.layers.4.self_attn.k_proj.weight'), [32, 64]);
  assert.deepEqual(await ckpt.readTensor('lm_head.weight'), await ckpt.readTensor('model.embed_tokens.weight'));
  assert.match(ckpt.fingerprint, /^[0-9a-f]{64}$/);
  assert.ok(ckpt.files.tokenizerConfig?.endsWith('tokenizer_config.json'));
});
