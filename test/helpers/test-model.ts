// The tests' own model: random weights with the shape of the stories260k checkpoint (the fixture
// some tests in test-fixtures/ use), and the project's tiny tokenizer. So `npm test` needs nothing
// outside the repository.
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../../shared/src/model/safetensors.ts';
import { writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../../shared/src/model/synthetic-checkpoint.ts';
import { tempDir } from './fixtures.ts';

/**
 * stories260k's config.json, written down here: hidden 64, MLP 172, 5 layers, 8 heads of 8, 4 KV
 * heads (GQA), vocabulary 512, 512 positions, rope_theta 10000, RMSNorm eps 1e-5, tied embeddings.
 * The tiny tokenizer has fewer ids than 512, so like stories260k the embedding keeps rows that no
 * text produces.
 */
export const TEST_MODEL_SPEC: Readonly<SyntheticLlamaSpec> = Object.freeze({
  hiddenSize: 64,
  intermediateSize: 172,
  numLayers: 5,
  numHeads: 8,
  numKvHeads: 4,
  vocabSize: 512,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 512,
  ropeTheta: 10000,
  seed: 260_032,
});

/** The model folder's name (its parent is a temp folder). */
export const TEST_MODEL_NAME = 'test-llama-260k';

let written: Promise<string> | undefined;

/**
 * The folder of the test model (config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json). It is written once per test process and removed when the process exits.
 * Same spec, same bytes.
 */
export function testModel(): Promise<string> {
  written ??= writeTestModel(join(tempDir('test-model'), TEST_MODEL_NAME));
  return written;
}

/**
 * Writes the test model into `dir`. Like stories260k (a llama2.c export), and unlike the synthetic
 * writer's own output, the weight file also stores `lm_head.weight`, a copy of the embedding, beside
 * `tie_word_embeddings: true`. This keeps the stored-and-tied head case under test.
 */
export async function writeTestModel(dir: string): Promise<string> {
  await writeRandomLlamaCheckpoint(dir, TEST_MODEL_SPEC);
  const path = join(dir, 'model.safetensors');
  const file = await SafetensorsFile.open(path);
  try {
    const names = file.tensorNames();
    const tensors = [];
    for (const name of names) tensors.push({ name, shape: file.info(name).shape, data: await file.readFloat32(name) });
    const embed = tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    tensors.push({ name: 'lm_head.weight', shape: embed.shape, data: embed.data.slice() });
    await writeSafetensors(`${path}.tmp`, tensors, { format: 'pt' });
  } finally {
    await file.close();
  }
  await rename(`${path}.tmp`, path);
  return dir;
}
