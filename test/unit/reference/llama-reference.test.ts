// Smoke test of the torch reference on the stories260k-shaped test model. Expected values come from
// TS recomputation of the script's outputs and from finite differences on model files this test
// writes itself. (test-fixtures/unit/reference/ checks the reference's greedy generation on the real
// stories260k weights against the one its README gives.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testModel } from '../../helpers/test-model.ts';
import { runTorchPaperScores, runTorchReference } from '../../helpers/torch-reference.ts';
import type { ReferenceExample } from '../../helpers/torch-reference.ts';

// BOS, then fixed ids the tiny tokenizer has (stories260k's for "<s> Once upon a time, there"); EX2 ends with EOS.
const EX1: ReferenceExample = { ids: [1, 403, 407, 261, 378, 432, 383], weights: [0, 0, 0, 0, 0, 0.5, 0.5] };
const EX2: ReferenceExample = { ids: [1, 403, 407, 261, 378, 2], weights: [0, 0, 0.25, 0.25, 0.25, 0.25] };

interface StTensor { name: string; dtype: string; shape: number[]; bytes: Buffer }

async function readSafetensors(path: string): Promise<StTensor[]> {
  const buf = await readFile(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  return Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, h]) => ({ name, dtype: h.dtype, shape: h.shape, bytes: Buffer.from(buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1])) }));
}

function encodeSafetensors(tensors: StTensor[]): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => t.bytes)]);
}

const f32 = (t: StTensor): Float32Array => new Float32Array(t.bytes.buffer.slice(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.length));
const f32Bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// Truncating float32 -> float16 (flush tiny values to 0); exactness only matters for decoding.
function toF16Bits(x: number): number {
  const b = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  if (e <= 0) return sign;
  if (e >= 31) return sign | 0x7bff;
  return sign | (e << 10) | ((b >>> 13) & 0x3ff);
}
function fromF16Bits(h: number): number {
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

async function writeModel(dir: string, files: Record<string, StTensor[]>, config: Record<string, unknown>): Promise<void> {
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  for (const [file, tensors] of Object.entries(files)) await writeFile(join(dir, file), encodeSafetensors(tensors));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('torch reference on the test model: shapes, loss, tied gradients, finite differences, file formats', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 'llama-ref-test-'));
  const modelDir = await testModel();
  try {
    const config = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const vocabJson = JSON.parse(await readFile(join(modelDir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    const comma = vocabJson.model.vocab[',']!;
    const tensors = await readSafetensors(join(modelDir, 'model.safetensors'));
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const embed = f32(byName.get('model.embed_tokens.weight')!);
    const [V, D] = byName.get('model.embed_tokens.weight')!.shape as [number, number];

    // Untied copies: lm_head.weight (stored, equal to the embedding) becomes its own parameter,
    // so perturbing it moves the classifier path only.
    const untied = { ...config, tie_word_embeddings: false };
    const headIdx = tensors.findIndex((t) => t.name === 'lm_head.weight');
    const rng = (() => { let s = 12345; return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31); })();
    // Rows of the two label tokens: random rows would have gradients of ~1e-11 (vacuous checks).
    const entries = [EX1.ids[5]!, EX1.ids[6]!].map((row) => row * D + Math.floor(rng() * D));
    const perturbed: { entry: number; step: number; dir: string }[] = [];
    const dirs: string[] = [];
    const mkModel = async (files: Record<string, StTensor[]>, cfg: Record<string, unknown>) => {
      const dir = join(tmp, `m${dirs.length}`);
      await mkdir(dir);
      await writeModel(dir, files, cfg);
      dirs.push(dir);
      return dir;
    };
    const untiedDir = await mkModel({ 'model.safetensors': tensors }, untied);
    for (const entry of entries) {
      for (const sign of [1, -1]) {
        const head = f32(tensors[headIdx]!).slice();
        const before = head[entry]!;
        head[entry] = before + sign * 1e-3;
        const copy = tensors.slice();
        copy[headIdx] = { ...tensors[headIdx]!, bytes: Buffer.from(f32Bytes(head)) };
        perturbed.push({ entry, step: head[entry]! - before, dir: await mkModel({ 'model.safetensors': copy }, untied) });
      }
    }
    // Same weights in F16/BF16 across two shards, and an F32 twin holding the decoded values.
    const shards: Record<string, StTensor[]> = { 'a.safetensors': [], 'b.safetensors': [] };
    const twin: StTensor[] = [];
    const weightMap: Record<string, string> = {};
    for (const t of tensors) {
      const src = f32(t);
      const half = /layers\.[012]\./.test(t.name) ? 'BF16' : 'F16';
      const bits = Uint16Array.from(src, (x) => (half === 'BF16' ? new Uint32Array(new Float32Array([x]).buffer)[0]! >>> 16 : toF16Bits(x)));
      const decoded = Float32Array.from(bits, (h) => (half === 'BF16' ? new Float32Array(new Uint32Array([h << 16]).buffer)[0]! : fromF16Bits(h)));
      const file = half === 'BF16' ? 'a.safetensors' : 'b.safetensors';
      shards[file]!.push({ ...t, dtype: half, bytes: Buffer.from(bits.buffer) });
      twin.push({ ...t, bytes: Buffer.from(f32Bytes(decoded)) });
      weightMap[t.name] = file;
    }
    const shardedDir = await mkModel(shards, config);
    await writeFile(join(shardedDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const twinDir = await mkModel({ 'model.safetensors': twin }, config);

    const examples = [EX1, EX2];
    const all = ['logits', 'representation', 'loss', 'grad_lm_head', 'grad_all'] as const;
    const [tied, untiedRes, sharded, twinRes, ...fd] = await Promise.all([
      runTorchReference({ model_dir: modelDir, examples, want: [...all] }),
      runTorchReference({ model_dir: untiedDir, examples, want: ['loss', 'grad_all'] }),
      runTorchReference({ model_dir: shardedDir, examples, want: ['logits', 'loss'] }),
      runTorchReference({ model_dir: twinDir, examples, want: ['logits', 'loss'] }),
      ...perturbed.map((p) => runTorchReference({ model_dir: p.dir, examples, want: ['loss'] })),
    ]);

    for (const [k, ex] of examples.entries()) {
      const r = tied.examples[k]!;
      const T = ex.ids.length;
      assert.deepEqual(r.logits!.shape, [T, V]);
      assert.deepEqual(r.representation!.shape, [D]);
      assert.deepEqual(r.grad_lm_head!.shape, [V, D]);

      // Loss recomputed from the logits; logits[T-1] from the representation and the embedding.
      let loss = 0;
      for (let t = 1; t < T; t++) {
        const row = r.logits!.data.subarray((t - 1) * V, t * V);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
        loss += ex.weights[t]! * (lse - row[ex.ids[t]!]!);
      }
      assert.ok(Number.isFinite(r.loss) && r.loss! > 0);
      assert.ok(Math.abs(loss - r.loss!) < 1e-5, `loss ${r.loss} vs ${loss}`);
      for (const v of [0, comma, V - 1]) {
        const x = dot(r.representation!.data, embed.subarray(v * D, (v + 1) * D));
        assert.ok(Math.abs(x - r.logits!.data[(T - 1) * V + v]!) < 1e-4);
      }

      // Tied model: one embedding gradient holding both paths; classifier path = untied head grad.
      const ga = r.grad_all!;
      assert.deepEqual(Object.keys(ga).sort(), tensors.map((t) => t.name).filter((n) => n !== 'lm_head.weight').sort());
      for (const t of tensors) if (ga[t.name]) assert.deepEqual(ga[t.name]!.shape, t.shape);
      const u = untiedRes.examples[k]!;
      assert.ok(Math.abs(u.loss! - r.loss!) < 1e-12);
      assert.ok(maxAbsDiff(u.grad_all!['lm_head.weight']!.data, r.grad_lm_head!.data) < 1e-7);
      const summed = u.grad_all!['model.embed_tokens.weight']!.data.map((x, i) => x + u.grad_all!['lm_head.weight']!.data[i]!);
      assert.ok(maxAbsDiff(summed, ga['model.embed_tokens.weight']!.data) < 1e-6);
      assert.ok(maxAbsDiff(u.grad_all!['model.norm.weight']!.data, ga['model.norm.weight']!.data) < 1e-7);

      // Central finite differences on the head entries, in float64.
      for (let e = 0; e < entries.length; e++) {
        const plus = perturbed[2 * e]!;
        const minus = perturbed[2 * e + 1]!;
        const num = (fd[2 * e]!.examples[k]!.loss! - fd[2 * e + 1]!.examples[k]!.loss!) / (plus.step - minus.step);
        const g = r.grad_lm_head!.data[plus.entry]!;
        assert.ok(Math.abs(num - g) <= 1e-9 + 1e-4 * Math.abs(g), `entry ${plus.entry}: fd ${num} vs grad ${g}`);
      }

      // Half-precision shards read back to the same values as their F32 twin.
      assert.ok(Math.abs(sharded.examples[k]!.loss! - twinRes.examples[k]!.loss!) < 1e-12);
      assert.ok(maxAbsDiff(sharded.examples[k]!.logits!.data, twinRes.examples[k]!.logits!.data) < 1e-5);
      assert.ok(Math.abs(twinRes.examples[k]!.loss! - r.loss!) > 1e-6, 'half-precision rounding should change the loss');
    }
    // Label rows carry large gradients: the finite-difference checks are not vacuous.
    for (const e of entries) assert.ok(Math.abs(tied.examples[0]!.grad_lm_head!.data[e]!) > 1e-3);

    // Paper scores: a set holding only X scores X at 1; Y scores cos(gY, gX) from grad_all.
    const flat = (k: number) => {
      const ga = tied.examples[k]!.grad_all!;
      return Float32Array.from(Object.keys(ga).sort().flatMap((n) => Array.from(ga[n]!.data)));
    };
    const [g1, g2] = [flat(0), flat(1)];
    const cos = dot(g1, g2) / Math.sqrt(dot(g1, g1) * dot(g2, g2));
    const paper = await runTorchPaperScores({
      model_dir: modelDir,
      examples: [EX1, EX2],
      anchor_sets: [{ weight: 1, examples: [EX1] }, { weight: -0.5, examples: [EX1, EX2] }],
    });
    // score(X) = 1 - 0.5 * (1 + cos)/2 ; score(Y) = cos - 0.5 * (cos + 1)/2
    assert.ok(Math.abs(paper.scores[0]! - (1 - 0.25 * (1 + cos))) < 1e-5, `${paper.scores[0]}`);
    assert.ok(Math.abs(paper.scores[1]! - (cos - 0.25 * (cos + 1))) < 1e-5, `${paper.scores[1]}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
