import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { examplesPerBatch, featurizeInBatches } from '../../../shared/src/features/featurize-batches.ts';
import type { ExampleFeatures } from '../../../shared/src/features/feature-model.ts';
import { OnnxFeatureModel } from '../../../shared/src/features/onnx-feature-model.ts';
import { PooledFeatureModel } from '../../../shared/src/features/pooled-feature-model.ts';
import { openCheckpoint, type Checkpoint } from '../../../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../../../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../../../shared/src/prompt/tokenized.ts';
import { tempDir } from '../../helpers/fixtures.ts';
import { gsm8kSample } from '../../helpers/test-data.ts';
import { testModel } from '../../helpers/test-model.ts';

const OPTIONS = { probe: 'all', projection: { kind: 'kron', outDim: 16, inDim: 32, seed: 7 } } as const;

let modelDir: string;
let checkpoint: Checkpoint;
let examples: TokenizedExample[];

before(async () => {
  process.env.SAFESIFT_CACHE_DIR = tempDir('pool-cache');
  modelDir = await testModel();
  checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const records = gsm8kSample(7);
  // GSM8K records differ in length, so length-sorted batching reorders them; one very short example too.
  examples = [];
  for (const r of records) examples.push(await tokenizer.encode({ shape: 'gsm8k', ...r }, { maxTokens: 512 }));
  examples.push(await tokenizer.encode({ shape: 'alpaca', instruction: 'Hi.', input: '', output: 'Yo.' }, { maxTokens: 512 }));
});

after(async () => {
  await checkpoint.close();
});

function assertSameFeatures(actual: ExampleFeatures[], expected: ExampleFeatures[]): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => {
    assert.equal(actual[i]!.loss, e.loss, `loss of example ${i}`);
    assert.deepEqual(actual[i]!.representation, e.representation, `representation of example ${i}`);
    assert.deepEqual(actual[i]!.gradient, e.gradient, `gradient of example ${i}`);
    assert.deepEqual(actual[i]!.layerStates, e.layerStates, `layer states of example ${i}`);
  });
}

test('the pool returns the single session features, in input order, with batches in flight on every worker', async () => {
  const single = await OnnxFeatureModel.open(checkpoint, { ...OPTIONS, threads: 1 });
  const expected = await featurizeInBatches(single, examples, examplesPerBatch(2));
  const oneByOne = [];
  for (const e of examples) oneByOne.push(...(await single.featurize([e])));
  await single.close();

  const pool = await PooledFeatureModel.open(checkpoint, { ...OPTIONS, workers: 2 });
  try {
    assert.equal(pool.concurrency, 2);
    assert.equal(pool.info.gradientDim, single.info.gradientDim);
    assert.notEqual(new Set(examples.map((e) => e.ids.length)).size, 1);
    let done = 0;
    const features = await featurizeInBatches(pool, examples, examplesPerBatch(2), { onBatch: (n) => (done += n) });
    assert.equal(done, examples.length);
    // Same graph, one intra-op thread each: the same numbers, bit for bit, in the caller's order.
    assertSameFeatures(features, expected);
    // Concurrent direct calls are answered each with their own batch.
    const [a, b, c, d] = await Promise.all([examples[3]!, examples[0]!, examples[5]!].map((e) => pool.featurize([e])).concat(pool.featurize([])));
    assertSameFeatures([...a!, ...b!, ...c!], [oneByOne[3]!, oneByOne[0]!, oneByOne[5]!]);
    assert.deepEqual(d, []);
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.featurize([examples[0]!]), /closed/);
});

test('layer states cross the worker boundary: the pool returns the single session ones; without layers they are empty', async () => {
  const layered = { ...OPTIONS, directionLayers: [1, 3] };
  const single = await OnnxFeatureModel.open(checkpoint, { ...layered, threads: 1 });
  const expected = await featurizeInBatches(single, examples, examplesPerBatch(3));
  await single.close();
  const pool = await PooledFeatureModel.open(checkpoint, { ...layered, workers: 2 });
  try {
    assert.deepEqual(pool.info.directionLayers, [1, 3]);
    const features = await featurizeInBatches(pool, examples, examplesPerBatch(3));
    assertSameFeatures(features, expected);
    assert.ok(features.every((f) => f.layerStates.length === 2 * 2 * checkpoint.config.hiddenSize));
  } finally {
    await pool.close();
  }
  const plain = await PooledFeatureModel.open(checkpoint, { ...OPTIONS, workers: 2 });
  try {
    assert.deepEqual(plain.info.directionLayers, []);
    const features = await featurizeInBatches(plain, examples, examplesPerBatch(3));
    assert.ok(features.every((f) => f.layerStates.length === 0));
  } finally {
    await plain.close();
  }
});

test('a failing batch rejects only that batch; the workers keep serving', async () => {
  const pool = await PooledFeatureModel.open(checkpoint, { ...OPTIONS, workers: 2 });
  try {
    const bad: TokenizedExample = { ...examples[0]!, ids: examples[0]!.ids.map((id, i) => (i === 1 ? 1_000_000 : id)) };
    await assert.rejects(pool.featurize([bad]), /featurizing a batch failed/);
    const [f] = await pool.featurize([examples[1]!]);
    assert.ok(f && Number.isFinite(f.loss) && f.gradient.length === pool.info.gradientDim);
  } finally {
    await pool.close();
  }
});

/**
 * Runs `body` as a script in a child process, after it has opened the test model as `checkpoint`:
 * what a pool does to its process (exit, abort) shows only from outside. Returns its stdout.
 */
async function runPoolScript(name: string, body: string, env: Record<string, string> = {}): Promise<string> {
  const script = join(tempDir(name), 'script.mts');
  const src = (path: string) => JSON.stringify(fileURLToPath(new URL(`../../../shared/src/${path}`, import.meta.url)));
  writeFileSync(
    script,
    `import { PooledFeatureModel } from ${src('features/pooled-feature-model.ts')};
import { openCheckpoint } from ${src('model/checkpoint.ts')};
const checkpoint = await openCheckpoint(${JSON.stringify(modelDir)});
const batch = [{ ids: Int32Array.of(1, 20, 30, 2), lossWeights: Float32Array.of(0, 0, 0.5, 0.5), labelCount: 2, truncated: false }];
${body}
await checkpoint.close();
`,
  );
  return new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', script], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), timeout: 120_000, env: { ...process.env, ...env } }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    ),
  );
}

test('close() ends the worker threads: a process that used a pool exits on its own', async () => {
  const stdout = await runPoolScript(
    'pool-exit',
    `const pool = await PooledFeatureModel.open(checkpoint, ${JSON.stringify(OPTIONS)});
const [f] = await pool.featurize(batch);
await pool.close();
console.log('workers', pool.concurrency, 'loss', f.loss);`,
  );
  assert.match(stdout, /workers \d+ loss \d/);
});

test('a pool started in the background queues batches until a worker is ready, and closing it mid-start exits cleanly', async () => {
  const stdout = await runPoolScript(
    'pool-start',
    `// Closed before its workers have their sessions, at several points of their start: onnxruntime
// must not be torn down under a session being created (that aborts the process).
for (const delay of [0, 400, 800, 1200, 1600]) {
  const unused = await PooledFeatureModel.start(checkpoint, ${JSON.stringify(OPTIONS)});
  await new Promise((resolve) => setTimeout(resolve, delay));
  await unused.close();
}
const pool = await PooledFeatureModel.start(checkpoint, ${JSON.stringify(OPTIONS)});
const [f] = await pool.featurize(batch);
await pool.ready;
await pool.close();
console.log('loss', f.loss);`,
    { SAFESIFT_CACHE_DIR: tempDir('pool-start-cache') },
  );
  assert.match(stdout, /loss \d/);
});

test('the first session saves its optimised graph; later sessions load it and compute the same features, and a damaged one is replaced', async () => {
  const options = { ...OPTIONS, projection: { ...OPTIONS.projection, seed: 8 }, threads: 1 };
  const fresh = await OnnxFeatureModel.open(checkpoint, options);
  const expected = await featurizeInBatches(fresh, examples, examplesPerBatch(2));
  await fresh.close();
  const graphDir = dirname(fresh.info.graphPath);
  const saved = readdirSync(graphDir).filter((f) => /^optimized-[0-9a-f]{16}\.onnx$/.test(f));
  assert.equal(saved.length, 1, `one optimised graph in ${readdirSync(graphDir).join(', ')}`);
  const savedPath = join(graphDir, saved[0]!);
  const savedBytes = readFileSync(savedPath);

  const reloaded = await OnnxFeatureModel.open(checkpoint, options);
  assertSameFeatures(await featurizeInBatches(reloaded, examples, examplesPerBatch(2)), expected);
  await reloaded.close();

  writeFileSync(savedPath, 'not an onnx model');
  const repaired = await OnnxFeatureModel.open(checkpoint, options);
  assertSameFeatures(await featurizeInBatches(repaired, examples, examplesPerBatch(2)), expected);
  await repaired.close();
  assert.deepEqual(readFileSync(savedPath), savedBytes);
  assert.deepEqual(readdirSync(graphDir).filter((f) => f.includes('.tmp-')), []);
});
