import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from 'tokenizers';
import { openCheckpoint } from '../../../shared/src/model/checkpoint.ts';
import { parseLlamaConfig } from '../../../shared/src/model/llama-config.ts';
import { countParameters } from '../../../shared/src/model/llama-tensors.ts';
import { SafetensorsFile } from '../../../shared/src/model/safetensors.ts';
import {
  BENCH_50M_SPEC,
  TINY_MODEL_SPEC,
  ensureTinyModel,
  syntheticConfigJson,
  tokenizerIdCount,
  writeRandomLlamaCheckpoint,
  type SyntheticLlamaSpec,
} from '../../../shared/src/model/synthetic-checkpoint.ts';
import { TINY_TOKENIZER_VOCAB_SIZE, buildTinyTokenizer } from '../../../shared/src/model/tiny-tokenizer.ts';
import { packageTokenizerPaths } from '../../helpers/chat-model-checkpoint.ts';

const SPEC: SyntheticLlamaSpec = {
  hiddenSize: 48,
  intermediateSize: 96,
  numLayers: 3,
  numHeads: 6,
  numKvHeads: 2,
  vocabSize: 600,
  tieWordEmbeddings: false,
  seed: 123,
};

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-syn-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function digests(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    out[name] = createHash('sha256').update(await readFile(join(dir, name))).digest('hex');
  }
  return out;
}

function stats(v: Float32Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean) };
}

test('deterministic: two writes of the same spec give identical bytes; another seed does not', async (t) => {
  const [a, b, c] = [await tempDir(t), await tempDir(t), await tempDir(t)];
  await writeRandomLlamaCheckpoint(a, SPEC);
  await writeRandomLlamaCheckpoint(b, SPEC);
  await writeRandomLlamaCheckpoint(c, { ...SPEC, seed: 124 });
  const [da, db, dc] = [await digests(a), await digests(b), await digests(c)];
  assert.deepEqual(Object.keys(da), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  assert.deepEqual(da, db);
  assert.notEqual(dc['model.safetensors'], da['model.safetensors']);
  assert.equal(dc['tokenizer.json'], da['tokenizer.json']);
});

test('opens as a checkpoint with HF names and shapes; init statistics are as intended', async (t) => {
  const dir = await tempDir(t);
  const seen: string[] = [];
  await writeRandomLlamaCheckpoint(dir, SPEC, { onTensor: (name) => seen.push(name) });
  const ckpt = await openCheckpoint(dir, { cacheDir: dir });
  t.after(() => ckpt.close());
  assert.equal(ckpt.config.headDim, 8);
  assert.equal(ckpt.config.numKvHeads, 2);
  // 1 embedding + 9 per layer + final norm + lm_head.
  assert.equal(ckpt.tensorNames().length, 1 + 9 * 3 + 2);
  assert.deepEqual(seen, ckpt.tensorNames());
  assert.deepEqual(ckpt.tensorShape('model.embed_tokens.weight'), [600, 48]);
  assert.deepEqual(ckpt.tensorShape('lm_head.weight'), [600, 48]);
  assert.deepEqual(ckpt.tensorShape('model.layers.2.self_attn.q_proj.weight'), [48, 48]);
  assert.deepEqual(ckpt.tensorShape('model.layers.2.self_attn.k_proj.weight'), [16, 48]);
  assert.deepEqual(ckpt.tensorShape('model.layers.2.self_attn.o_proj.weight'), [48, 48]);
  assert.deepEqual(ckpt.tensorShape('model.layers.0.mlp.down_proj.weight'), [48, 96]);
  assert.deepEqual(ckpt.tensorShape('model.layers.0.mlp.up_proj.weight'), [96, 48]);

  const embed = stats(await ckpt.readTensor('model.embed_tokens.weight'));
  assert.ok(Math.abs(embed.mean) < 0.002, `mean ${embed.mean}`);
  assert.ok(Math.abs(embed.std - 0.02) < 0.001, `std ${embed.std}`);
  const norm = stats(await ckpt.readTensor('model.layers.1.input_layernorm.weight'));
  assert.ok(Math.abs(norm.mean - 1) < 0.01 && norm.std > 0.005 && norm.std < 0.04, JSON.stringify(norm));
  const head = await ckpt.readTensor('lm_head.weight');
  assert.notDeepEqual(head, await ckpt.readTensor('model.embed_tokens.weight'));

  const tok = Tokenizer.fromString(await readFile(join(dir, 'tokenizer.json'), 'utf8'));
  assert.equal((await tok.encode('hello')).getIds()[0], ckpt.config.bosTokenId);
});

test('qwen2 with biases, llama3 rope scaling and llama attention_bias are written and read back', async (t) => {
  const dir = await tempDir(t);
  const ropeScaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1024 };
  await writeRandomLlamaCheckpoint(dir, { ...SPEC, modelType: 'qwen2', ropeScaling, tieWordEmbeddings: true });
  const q = await openCheckpoint(dir, { cacheDir: dir });
  assert.equal(q.config.modelType, 'qwen2');
  assert.deepEqual(q.config.ropeScaling, ropeScaling);
  assert.deepEqual(q.tensorShape('model.layers.0.self_attn.k_proj.bias'), [16]);
  assert.ok(!q.tensorNames().includes('model.layers.0.self_attn.o_proj.bias'));
  await q.close();

  const dir2 = await tempDir(t);
  await writeRandomLlamaCheckpoint(dir2, { ...SPEC, attentionBias: true });
  const l = await openCheckpoint(dir2, { cacheDir: dir2 });
  assert.deepEqual(l.tensorShape('model.layers.0.self_attn.o_proj.bias'), [48]);
  assert.deepEqual(l.tensorShape('model.layers.0.self_attn.q_proj.bias'), [48]);
  await l.close();

  assert.throws(() => syntheticConfigJson({ ...SPEC, modelType: 'qwen2', attentionBias: false }), /qwen2/);
  assert.throws(() => syntheticConfigJson({ ...SPEC, vocabSize: 100 }), /below the tiny tokenizer/);
});

test('TINY and BENCH specs: sizes as documented', () => {
  assert.equal(TINY_MODEL_SPEC.vocabSize, TINY_TOKENIZER_VOCAB_SIZE);
  const tiny = parseLlamaConfig(syntheticConfigJson(TINY_MODEL_SPEC));
  // 452*64 embedding + 2 * (64*64*2 + 32*64*2 + 172*64*3 + 2*64) + 64, tied.
  assert.equal(countParameters(tiny), TINY_TOKENIZER_VOCAB_SIZE * 64 + 2 * (8192 + 4096 + 33024 + 128) + 64);
  const bench = parseLlamaConfig(syntheticConfigJson(BENCH_50M_SPEC));
  assert.equal(countParameters(bench), 32000 * 512 * 2 + 8 * (4 * 512 * 512 + 3 * 512 * 1376 + 2 * 512) + 512);
  assert.equal(countParameters(bench), 58_073_600);
});

test('ensureTinyModel writes once under <cache>/models/tiny-<hash> and reuses it', async (t) => {
  const cache = await tempDir(t);
  const dir = await ensureTinyModel(cache);
  assert.match(dir, /[/\\]models[/\\]tiny-[0-9a-f]{12}$/);
  assert.ok(dir.startsWith(cache));
  const before = await stat(join(dir, 'model.safetensors'));
  assert.equal(await ensureTinyModel(cache), dir);
  const after = await stat(join(dir, 'model.safetensors'));
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.deepEqual(await readdir(join(cache, 'models')), [dir.split(/[/\\]/).pop()]);
  const st = await SafetensorsFile.open(join(dir, 'model.safetensors'));
  t.after(() => st.close());
  assert.deepEqual(st.info('model.embed_tokens.weight').shape, [TINY_TOKENIZER_VOCAB_SIZE, 64]);
});

test('ensureTinyModel: concurrent callers agree on one finished folder', async (t) => {
  const cache = await tempDir(t);
  const dirs = await Promise.all([ensureTinyModel(cache), ensureTinyModel(cache), ensureTinyModel(cache)]);
  assert.equal(new Set(dirs).size, 1);
  assert.equal((await readdir(join(cache, 'models'))).length, 1);
  const ckpt = await openCheckpoint(dirs[0]!, { cacheDir: cache });
  await ckpt.close();
});

test('a given tokenizer and special ids: files written byte for byte, an eos list in config.json, vocabulary checked', async (t) => {
  const paths = packageTokenizerPaths('llama3');
  const tokenizerJson = await readFile(paths.tokenizerJson, 'utf8');
  const tokenizerConfig = JSON.parse(await readFile(paths.tokenizerConfig, 'utf8')) as Record<string, unknown>;
  assert.equal(tokenizerIdCount(tokenizerJson), 128_256, '128,000 BPE ids and 256 special tokens');
  assert.equal(tokenizerIdCount(JSON.stringify(buildTinyTokenizer())), TINY_TOKENIZER_VOCAB_SIZE);
  const spec: SyntheticLlamaSpec = {
    ...SPEC,
    hiddenSize: 8,
    intermediateSize: 16,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    vocabSize: 128_256,
    bosTokenId: 128_000,
    eosTokenId: [128_001, 128_008, 128_009],
    tokenizer: { tokenizerJson, tokenizerConfig },
  };
  assert.throws(() => syntheticConfigJson({ ...spec, vocabSize: 128_000 }), /below the given tokenizer's 128256 ids/);
  assert.throws(() => syntheticConfigJson({ ...spec, eosTokenId: [128_001, 128_256] }), /special token id 128256 is outside vocabSize 128256/);
  assert.throws(() => syntheticConfigJson({ ...spec, bosTokenId: -1 }), /special token id -1/);

  const dir = await tempDir(t);
  await writeRandomLlamaCheckpoint(dir, spec);
  assert.equal(await readFile(join(dir, 'tokenizer.json'), 'utf8'), tokenizerJson);
  const writtenConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(writtenConfig['chat_template'], tokenizerConfig['chat_template']);
  const configJson = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([configJson['bos_token_id'], configJson['eos_token_id']], [128_000, [128_001, 128_008, 128_009]]);
  const ckpt = await openCheckpoint(dir, { cacheDir: dir });
  t.after(() => ckpt.close());
  assert.deepEqual([ckpt.config.bosTokenId, ckpt.config.eosTokenId, ckpt.config.eosTokenIds], [128_000, 128_001, [128_001, 128_008, 128_009]]);
  assert.deepEqual(ckpt.tensorShape('model.embed_tokens.weight'), [128_256, 8]);
  // Without these fields the tiny model's ids stay.
  assert.deepEqual([syntheticConfigJson(SPEC)['bos_token_id'], syntheticConfigJson(SPEC)['eos_token_id']], [1, 2]);
});
