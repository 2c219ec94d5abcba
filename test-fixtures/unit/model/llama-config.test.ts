import '../../guard.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readLlamaConfig } from '../../../shared/src/model/llama-config.ts';
import { STORIES260K } from '../../fixture-paths.ts';

test('parses the stories260k config (values from its README)', async () => {
  const c = await readLlamaConfig(join(STORIES260K, 'config.json'));
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
