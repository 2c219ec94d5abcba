import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { openCheckpoint } from '../../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { cosine } from '../../shared/src/scoring/vector-math.ts';
import { relativeError, tempDir } from '../helpers/fixtures.ts';
import { gsm8kSample } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';

/**
 * Half-precision graphs (for GPUs) agree with float32 ones to float16 accuracy: weights and
 * activations carry ~3 significant digits, norms and the loss run in float32. Checked on CPU, whose
 * onnxruntime kernels also take float16.
 */
for (const attention of ['stored', 'recomputed'] as const) {
  test(`--dtype float16 graphs match float32 features to half precision, with half-size weights (attention probabilities ${attention})`, async () => {
    process.env.SAFESIFT_CACHE_DIR = tempDir('float16-cache');
    const modelDir = await testModel();
    const checkpoint = await openCheckpoint(modelDir);
    const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
    const records = gsm8kSample(6);
    const examples = (await tokenizer.encodeMany(records.map((r) => ({ shape: 'gsm8k' as const, ...r })), { maxTokens: 512 })).filter(
      (e): e is TokenizedExample => !(e instanceof Error),
    );
    const run = async (dtype: 'float32' | 'float16') => {
      const model = await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'kron', outDim: 32, inDim: 32, seed: 3 }, dtype, attention, directionLayers: [1, 4] });
      const features = await model.featurize(examples);
      await model.close();
      return { features, weightBytes: statSync(`${model.info.graphPath}.data`).size };
    };
    const full = await run('float32');
    const half = await run('float16');
    assert.ok(half.weightBytes < 0.55 * full.weightBytes, `float16 weights take ${half.weightBytes} bytes vs ${full.weightBytes}`);
    half.features.forEach((h, i) => {
      const f = full.features[i]!;
      assert.ok(relativeError(h.representation, f.representation) < 1e-2, `example ${i}: representation`);
      // Layer states: selected and averaged in float16, output as float32.
      assert.ok(h.layerStates.length === f.layerStates.length && relativeError(h.layerStates, f.layerStates) < 1e-2, `example ${i}: layer states`);
      assert.ok(Math.abs(h.loss - f.loss) / f.loss < 2e-3, `example ${i}: loss ${h.loss} vs ${f.loss}`);
      assert.ok(cosine(h.gradient, f.gradient) > 0.9995, `example ${i}: gradient cosine ${cosine(h.gradient, f.gradient)}`);
    });
    await checkpoint.close();
  });
}
