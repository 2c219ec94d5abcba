import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../shared/src/errors.ts';
import { openCheckpoint } from '../../../shared/src/model/checkpoint.ts';
import { SafetensorsFile, writeSafetensors } from '../../../shared/src/model/safetensors.ts';
import { writeRandomLlamaCheckpoint, type SyntheticLlamaSpec } from '../../../shared/src/model/synthetic-checkpoint.ts';
import { testModel } from '../../helpers/test-model.ts';

const SMALL: SyntheticLlamaSpec = {
  hiddenSize: 32,
  intermediateSize: 48,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  vocabSize: 480,
  tieWordEmbeddings: true,
  seed: 7,
};

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function expectModelError(...fragments: string[]) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ModelError, `expected ModelError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(f)}`);
    return true;
  };
}

test('opens the stories260k-shaped test model: config, tensors, stored lm_head equal to the embedding', async (t) => {
  const cache = await tempDir(t);
  const ckpt = await openCheckpoint(await testModel(), { cacheDir: cache });
  t.after(() => ckpt.close());
  assert.equal(ckpt.config.numLayers, 5);
  assert.equal(ckpt.tensorNames().length, 48);
  assert.deepEqual(ckpt.tensorShape('model.layers.4.self_attn.k_proj.weight'), [32, 64]);
  assert.deepEqual(await ckpt.readTensor('lm_head.weight'), await ckpt.readTensor('model.embed_tokens.weight'));
  assert.match(ckpt.fingerprint, /^[0-9a-f]{64}$/);
  assert.ok(ckpt.files.tokenizerConfig?.endsWith('tokenizer_config.json'));
});

test('missing files are named, with what a checkpoint folder needs', async (t) => {
  const dir = await tempDir(t);
  const model = await testModel();
  const expected = 'expected config.json, tokenizer.json and model.safetensors or model.safetensors.index.json';
  await assert.rejects(openCheckpoint(join(dir, 'absent')), expectModelError('not found', expected));
  await copyFile(join(model, 'config.json'), join(dir, 'config.json'));
  await assert.rejects(openCheckpoint(dir), expectModelError('missing tokenizer.json, model.safetensors', expected));
  await copyFile(join(model, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  await assert.rejects(openCheckpoint(dir), expectModelError('missing model.safetensors', expected));
  await assert.rejects(openCheckpoint(join(dir, 'config.json')), expectModelError('not a folder'));
});

test('tied embeddings: lm_head.weight is served from the embedding when not stored', async (t) => {
  const dir = await tempDir(t);
  await writeRandomLlamaCheckpoint(dir, SMALL);
  const stored = await SafetensorsFile.open(join(dir, 'model.safetensors'));
  assert.ok(!stored.tensorNames().includes('lm_head.weight'));
  await stored.close();
  const ckpt = await openCheckpoint(dir, { cacheDir: dir });
  t.after(() => ckpt.close());
  assert.ok(ckpt.tensorNames().includes('lm_head.weight'));
  assert.deepEqual(ckpt.tensorShape('lm_head.weight'), [480, 32]);
  assert.deepEqual(await ckpt.readTensor('lm_head.weight'), await ckpt.readTensor('model.embed_tokens.weight'));
});

test('weights that do not match config.json are rejected, naming the tensor', async (t) => {
  const dir = await tempDir(t);
  await writeRandomLlamaCheckpoint(dir, SMALL);
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, tie_word_embeddings: false }));
  await assert.rejects(openCheckpoint(dir, { cacheDir: dir }), expectModelError("'lm_head.weight'"));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, intermediate_size: 50 }));
  await assert.rejects(openCheckpoint(dir, { cacheDir: dir }), expectModelError("'model.layers.0.mlp.gate_proj.weight'", '[48,32]', '[50,32]'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, rope_scaling: { rope_type: 'yarn' } }));
  await assert.rejects(openCheckpoint(dir, { cacheDir: dir }), expectModelError('config.json', "rope_scaling.rope_type 'yarn'"));
});

test('fingerprint: stable, memoised, and sensitive to one weight byte and to the tokenizer', async (t) => {
  const dir = await tempDir(t);
  const cache = await tempDir(t);
  await writeRandomLlamaCheckpoint(dir, SMALL);
  const fp = async (cacheDir = cache): Promise<string> => {
    const c = await openCheckpoint(dir, { cacheDir });
    await c.close();
    return c.fingerprint;
  };
  const first = await fp();
  assert.equal(await fp(), first);
  assert.equal(await fp(await tempDir(t)), first, 'a cold cache gives the same fingerprint');

  // The weight file's digest is remembered by (path, size, mtimeMs): doctoring it shows the memo is used.
  const memoPath = join(cache, 'fingerprints.json');
  const memo = JSON.parse(await readFile(memoPath, 'utf8'));
  const key = join(dir, 'model.safetensors');
  assert.ok(memo[key], 'memo has an entry for the weight file');
  const honest = memo[key].sha256;
  await writeFile(memoPath, JSON.stringify({ ...memo, [key]: { ...memo[key], sha256: '0'.repeat(64) } }));
  assert.notEqual(await fp(), first);
  await writeFile(memoPath, JSON.stringify({ ...memo, [key]: { ...memo[key], sha256: honest } }));
  assert.equal(await fp(), first);

  // Flip one byte deep in the weight data (same size): the file's mtime changes, so it is re-hashed.
  const fh = await open(key, 'r+');
  const { size } = await fh.stat();
  const byte = Buffer.alloc(1);
  await fh.read(byte, 0, 1, size - 100);
  byte[0]! ^= 0x01;
  await fh.write(byte, 0, 1, size - 100);
  await fh.close();
  const changed = await fp();
  assert.notEqual(changed, first);
  assert.equal(await fp(), changed);

  await writeFile(join(dir, 'tokenizer_config.json'), '{}');
  const tokenizerChanged = await fp();
  assert.notEqual(tokenizerChanged, changed);

  // generation_config.json's eos ids end templated answers: adding or editing it changes the fingerprint.
  await writeFile(join(dir, 'generation_config.json'), '{"eos_token_id": [2]}');
  const withGeneration = await fp();
  assert.notEqual(withGeneration, tokenizerChanged);
  await writeFile(join(dir, 'generation_config.json'), '{"eos_token_id": [2, 3]}');
  assert.notEqual(await fp(), withGeneration);
});

test('sharded checkpoint: index + two shards open and read like the single file', async (t) => {
  const dir = await tempDir(t);
  await writeRandomLlamaCheckpoint(dir, { ...SMALL, tieWordEmbeddings: false });
  const single = await openCheckpoint(dir, { cacheDir: dir });
  const names = single.tensorNames();
  const want = new Map<string, Float32Array>();
  for (const n of names) want.set(n, await single.readTensor(n));
  const shapes = new Map(names.map((n) => [n, single.tensorShape(n)]));
  await single.close();

  const half = Math.ceil(names.length / 2);
  const shardOf = (i: number): string => `model-0000${i < half ? 1 : 2}-of-00002.safetensors`;
  for (const part of [names.slice(0, half), names.slice(half)]) {
    await writeSafetensors(
      join(dir, shardOf(names.indexOf(part[0]!))),
      part.map((n) => ({ name: n, shape: shapes.get(n)!, data: want.get(n)! })),
    );
  }
  await writeFile(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(names.map((n, i) => [n, shardOf(i)])) }),
  );
  await unlink(join(dir, 'model.safetensors'));

  const sharded = await openCheckpoint(dir, { cacheDir: dir });
  t.after(() => sharded.close());
  assert.equal(sharded.files.weights.length, 2);
  assert.deepEqual(sharded.tensorNames().sort(), [...names].sort());
  for (const n of names) assert.deepEqual(await sharded.readTensor(n), want.get(n), n);
});
