import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openAuditModel } from '../../../shared/src/audit/audit-model.ts';
import { compileAuditOptions } from '../../../shared/src/audit/audit-options.ts';
import { parseProjectionChoice, resolveProjection } from '../../../shared/src/graph/projection.ts';
import { writeRandomLlamaCheckpoint } from '../../../shared/src/model/synthetic-checkpoint.ts';
import { TINY_TOKENIZER_VOCAB_SIZE } from '../../../shared/src/model/tiny-tokenizer.ts';
import { tempDir } from '../../helpers/fixtures.ts';

test('--proj auto is the default and resolves by hidden size; explicit projections pass through', () => {
  const auto = compileAuditOptions({ out: 'o', projSeed: 9 }).projection;
  assert.deepEqual(auto, { kind: 'auto', seed: 9 });
  assert.deepEqual(resolveProjection(auto, { hiddenSize: 512 }), { kind: 'kron', outDim: 64, inDim: 128, seed: 9 });
  assert.deepEqual(resolveProjection(auto, { hiddenSize: 2047 }), { kind: 'kron', outDim: 64, inDim: 128, seed: 9 });
  assert.deepEqual(resolveProjection(auto, { hiddenSize: 2048 }), { kind: 'kron', outDim: 128, inDim: 256, seed: 9 });
  assert.deepEqual(resolveProjection(auto, { hiddenSize: 4096 }), { kind: 'kron', outDim: 128, inDim: 256, seed: 9 });
  assert.deepEqual(resolveProjection(parseProjectionChoice('kron:32x16', 1), { hiddenSize: 4096 }), { kind: 'kron', outDim: 32, inDim: 16, seed: 1 });
  assert.deepEqual(resolveProjection(parseProjectionChoice('none'), { hiddenSize: 4096 }), { kind: 'none' });
  assert.throws(() => parseProjectionChoice('automatic'), /--proj: expected 'auto', 'none' or 'kron:OUTxIN'/);
});

test('a model with hidden size 2048 opens with kron:128x256 under the default options', async () => {
  const dir = join(tempDir('auto-projection'), 'wide');
  process.env.SAFESIFT_CACHE_DIR = join(dir, '..', 'cache');
  // One layer at the hidden size of Llama-3.2-1B, small elsewhere: the width is what auto looks at.
  await writeRandomLlamaCheckpoint(dir, { hiddenSize: 2048, intermediateSize: 256, numLayers: 1, numHeads: 16, numKvHeads: 4, vocabSize: TINY_TOKENIZER_VOCAB_SIZE, tieWordEmbeddings: true, seed: 2048 });
  const opened = await openAuditModel(dir, { ...compileAuditOptions({ out: 'o', model: dir }), threads: 1 });
  try {
    assert.deepEqual(opened.projection, { kind: 'kron', outDim: 128, inDim: 256, seed: 0x5afe });
    assert.equal(opened.model.info.projection, 'kron:128x256');
  } finally {
    await opened.close();
  }
});
