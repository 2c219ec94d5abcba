import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OnnxFeatureModel } from '../../shared/src/features/onnx-feature-model.ts';
import { openCheckpoint } from '../../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../shared/src/prompt/tokenized.ts';
import { cosine } from '../../shared/src/scoring/vector-math.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { gsm8kSample } from '../helpers/test-data.ts';
import { testModel } from '../helpers/test-model.ts';

/** RMS over all pairs of the difference between approximate and exact cosine similarities. */
function cosineRmsError(approximate: Float32Array[], exact: Float32Array[]): number {
  let squared = 0;
  let pairs = 0;
  for (let a = 0; a < exact.length; a++) {
    for (let b = a + 1; b < exact.length; b++) {
      squared += (cosine(approximate[a]!, approximate[b]!) - cosine(exact[a]!, exact[b]!)) ** 2;
      pairs++;
    }
  }
  return Math.sqrt(squared / pairs);
}

/**
 * The in-graph Kronecker projection must preserve cosine similarities of the exact LM-head
 * gradients. A dense Rademacher projection to k dims has cosine error of RMS about sqrt(2/k)
 * (Johnson–Lindenstrauss); a Kronecker product of two small projections has a larger variance by
 * a constant factor (the factors are not independent across entries), so we allow three times the
 * dense-JL RMS. Measured on these 40 GSM8K-shaped examples and the test model (exact cosines 0.43 to
 * 0.90, mean 0.71): 0.038 at k=4096 (bound 0.066), 0.029 at k=8192 (bound 0.047); on the first 40
 * GSM8K train records and the real stories260k they were 0.052 and 0.031. Seeds are fixed, so the
 * test is deterministic.
 */
test('projected LM-head gradients preserve pairwise cosine similarities', async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('projection-cache');
  const modelDir = await testModel();
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const records = gsm8kSample(40);
  const examples: TokenizedExample[] = [];
  for (const r of records) examples.push(await tokenizer.encode({ shape: 'gsm8k', ...r }, { maxTokens: 512 }));

  const exactModel = await OnnxFeatureModel.open(checkpoint, { projection: { kind: 'none' } });
  const exact = (await exactModel.featurize(examples)).map((f) => f.gradient);
  await exactModel.close();

  const rmsError = async (outDim: number, inDim: number): Promise<number> => {
    const model = await OnnxFeatureModel.open(checkpoint, { projection: { kind: 'kron', outDim, inDim, seed: 1 } });
    const projected = (await model.featurize(examples)).map((f) => f.gradient);
    await model.close();
    assert.equal(projected[0]!.length, outDim * inDim);
    return cosineRmsError(projected, exact);
  };

  const small = await rmsError(128, 32);
  const large = await rmsError(256, 32);
  assert.ok(small <= 3 * Math.sqrt(2 / 4096), `kron:128x32 cosine RMS error ${small}`);
  assert.ok(large <= 3 * Math.sqrt(2 / 8192), `kron:256x32 cosine RMS error ${large}`);
  assert.ok(large < small, 'more projection dimensions must mean less distortion');
  await checkpoint.close();
});

/** CountSketch (`--proj-dim`) is a sparse JL transform: cosine RMS error about sqrt(2/k) like a dense one. */
test('the CountSketch of full gradients preserves pairwise cosine similarities', async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('sketch-cache');
  const modelDir = await testModel();
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const records = gsm8kSample(24);
  const encoded = await tokenizer.encodeMany(records.map((r) => ({ shape: 'gsm8k' as const, ...r })), { maxTokens: 512 });
  const examples = encoded.filter((e): e is TokenizedExample => !(e instanceof Error));
  assert.equal(examples.length, records.length);
  const features = async (sketch: { dim: number; seed: number } | null) => {
    const model = await OnnxFeatureModel.open(checkpoint, { probe: 'all', projection: { kind: 'none' }, sketch });
    const gradients = (await model.featurize(examples)).map((f) => f.gradient);
    await model.close();
    return gradients;
  };
  const exact = await features(null);
  const sketched = await features({ dim: 4096, seed: 7 });
  assert.equal(sketched[0]!.length, 4096);
  const rms = cosineRmsError(sketched, exact);
  assert.ok(rms <= 3 * Math.sqrt(2 / 4096), `sketch cosine RMS error ${rms}`);
  await checkpoint.close();
});
