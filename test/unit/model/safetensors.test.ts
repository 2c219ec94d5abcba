import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelError } from '../../../shared/src/errors.ts';
import { SafetensorsFile, writeSafetensors } from '../../../shared/src/model/safetensors.ts';
import { ShardedSafetensors } from '../../../shared/src/model/safetensors-index.ts';
import { testModel } from '../../helpers/test-model.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-st-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A safetensors file built by hand (independently of writeSafetensors). */
function handMade(header: Record<string, unknown>, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

test('write → read round trip (F32), header aligned and padded with spaces', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'a.safetensors');
  const a = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
  const b = Float32Array.from([Math.PI, -0, 1e-30, 3.4e38, -7]);
  await writeSafetensors(
    path,
    [
      { name: 'a', shape: [2, 3], data: a },
      { name: 'b.weight', shape: [5], data: () => b },
      { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
    ],
    { format: 'pt' },
  );
  const raw = await readFile(path);
  const headerLen = Number(raw.readBigUInt64LE(0));
  assert.equal((8 + headerLen) % 8, 0);
  const headerText = raw.subarray(8, 8 + headerLen).toString('utf8');
  assert.match(headerText, /^\{.*\} *$/);
  assert.deepEqual(JSON.parse(headerText)['a'], { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  assert.equal(raw.length, 8 + headerLen + (6 + 5) * 4);

  const f = await SafetensorsFile.open(path);
  t.after(() => f.close());
  assert.deepEqual(f.tensorNames(), ['a', 'b.weight', 'empty']);
  assert.deepEqual(f.metadata, { format: 'pt' });
  assert.deepEqual(f.info('b.weight'), { name: 'b.weight', dtype: 'F32', shape: [5], byteOffset: 8 + headerLen + 24, byteLength: 20 });
  assert.deepEqual(await f.readFloat32('a'), a);
  assert.deepEqual(await f.readFloat32('b.weight'), b);
  assert.equal((await f.readFloat32('empty')).length, 0);
  assert.throws(() => f.info('nope'), ModelError);
});

test('writer streams: each tensor is made only after the previous one is on disk', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 's.safetensors');
  const sizes: number[] = [];
  const lazy = (n: number) => async () => {
    sizes.push((await stat(path)).size);
    return new Float32Array(n).fill(n);
  };
  await writeSafetensors(path, [
    { name: 'x', shape: [3], data: lazy(3) },
    { name: 'y', shape: [2, 2], data: lazy(4) },
    { name: 'z', shape: [1], data: lazy(1) },
  ]);
  const end = (await stat(path)).size;
  assert.equal(sizes.length, 3);
  assert.equal(sizes[1]! - sizes[0]!, 12);
  assert.equal(sizes[2]! - sizes[1]!, 16);
  assert.equal(end - sizes[2]!, 4);
});

test('writer rejects data that does not fit the shape, and duplicate names', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(writeSafetensors(join(dir, 'x'), [{ name: 'a', shape: [2, 2], data: new Float32Array(3) }]), /shape \[2,2\] needs 4/);
  await assert.rejects(
    writeSafetensors(join(dir, 'y'), [
      { name: 'a', shape: [1], data: new Float32Array(1) },
      { name: 'a', shape: [1], data: new Float32Array(1) },
    ]),
    /duplicate/,
  );
});

test('hand-crafted F16, BF16 and F64 tensors decode to the IEEE values', async (t) => {
  const dir = await tempDir(t);
  // IEEE 754 half: 1, -2, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), 1/3 rounded, +inf, -inf, -0.
  const f16Bits = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x7c00, 0xfc00, 0x8000];
  const f16Want = [1, -2, 65504, 2 ** -24, 2 ** -14, 0.333251953125, Infinity, -Infinity, -0];
  // bfloat16: 1, -3, 3.140625, 2^-133 (smallest subnormal), +inf, 2^127 * 1.9921875 (max).
  const bf16Bits = [0x3f80, 0xc040, 0x4049, 0x0001, 0x7f80, 0x7f7f];
  const bf16Want = [1, -3, 3.140625, 2 ** -133, Infinity, 2 ** 127 * 1.9921875];
  const f64 = [1 / 3, -1e300, 2.5];

  const bytes = Buffer.alloc(f16Bits.length * 2 + bf16Bits.length * 2 + 2 + f64.length * 8);
  let o = 0;
  for (const b of f16Bits) o = bytes.writeUInt16LE(b, o);
  for (const b of bf16Bits) o = bytes.writeUInt16LE(b, o);
  o = bytes.writeUInt16LE(0x7e00, o); // an F16 NaN
  const f64Start = o;
  for (const v of f64) o = bytes.writeDoubleLE(v, o);
  const header = {
    h: { dtype: 'F16', shape: [3, 3], data_offsets: [0, 18] },
    bf: { dtype: 'BF16', shape: [6], data_offsets: [18, 30] },
    nan: { dtype: 'F16', shape: [1], data_offsets: [30, 32] },
    d: { dtype: 'F64', shape: [3], data_offsets: [f64Start, f64Start + 24] },
  };
  const path = join(dir, 'h.safetensors');
  await writeFile(path, handMade(header, bytes));
  const f = await SafetensorsFile.open(path);
  t.after(() => f.close());
  assert.deepEqual([...(await f.readFloat32('h'))], f16Want);
  assert.ok(Object.is((await f.readFloat32('h'))[8], -0));
  assert.deepEqual([...(await f.readFloat32('bf'))], bf16Want);
  assert.ok(Number.isNaN((await f.readFloat32('nan'))[0]));
  assert.deepEqual([...(await f.readFloat32('d'))], f64.map(Math.fround));
});

test('corrupt files are rejected with ModelError naming the file', async (t) => {
  const dir = await tempDir(t);
  const cases: [string, Buffer, RegExp][] = [
    ['short', Buffer.from([1, 2, 3]), /too short/],
    ['huge-header', Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]), Buffer.alloc(8)]), /header length/],
    ['bad-json', handMade({}, Buffer.alloc(0)).fill(0x41, 8), /not valid JSON/],
    ['bad-span', handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(8)), /tensor 'a'.*needs 8/],
    ['past-end', handMade({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)), /past the end/],
    ['bad-dtype', handMade({ a: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, Buffer.alloc(2)), /unknown dtype/],
  ];
  for (const [name, content, re] of cases) {
    const path = join(dir, name);
    await writeFile(path, content);
    await assert.rejects(SafetensorsFile.open(path), (err: unknown) => {
      assert.ok(err instanceof ModelError, name);
      assert.match(err.message, re, name);
      assert.ok(err.message.includes(path), name);
      return true;
    });
  }
  const path = join(dir, 'ints');
  await writeFile(path, handMade({ i: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)));
  const f = await SafetensorsFile.open(path);
  t.after(() => f.close());
  await assert.rejects(f.readFloat32('i'), /dtype I64/);
});

// The stories260k layout (test-fixtures/ checks the real file) on the test model, which has its shapes.
test('the stories260k-shaped test model: 48 tensors with the README shapes; lm_head equals the embedding', async (t) => {
  const f = await SafetensorsFile.open(join(await testModel(), 'model.safetensors'));
  t.after(() => f.close());
  assert.equal(f.tensorNames().length, 48);
  assert.deepEqual(f.metadata, { format: 'pt' });
  const shapes: Record<string, number[]> = {
    'model.embed_tokens.weight': [512, 64],
    'lm_head.weight': [512, 64],
    'model.norm.weight': [64],
  };
  for (let i = 0; i < 5; i++) {
    const p = `model.layers.${i}`;
    Object.assign(shapes, {
      [`${p}.input_layernorm.weight`]: [64],
      [`${p}.self_attn.q_proj.weight`]: [64, 64],
      [`${p}.self_attn.k_proj.weight`]: [32, 64],
      [`${p}.self_attn.v_proj.weight`]: [32, 64],
      [`${p}.self_attn.o_proj.weight`]: [64, 64],
      [`${p}.post_attention_layernorm.weight`]: [64],
      [`${p}.mlp.gate_proj.weight`]: [172, 64],
      [`${p}.mlp.up_proj.weight`]: [172, 64],
      [`${p}.mlp.down_proj.weight`]: [64, 172],
    });
  }
  assert.deepEqual(new Set(f.tensorNames()), new Set(Object.keys(shapes)));
  let params = 0;
  for (const [name, shape] of Object.entries(shapes)) {
    assert.deepEqual(f.info(name).shape, shape, name);
    assert.equal(f.info(name).dtype, 'F32');
    if (name !== 'lm_head.weight') params += shape.reduce((a, b) => a * b, 1);
  }
  assert.equal(params, 260_032); // stories260k's count
  const embed = await f.readFloat32('model.embed_tokens.weight');
  const head = await f.readFloat32('lm_head.weight');
  assert.deepEqual(head, embed);
  assert.ok(embed.some((v) => v !== 0));
  assert.ok(embed.every(Number.isFinite));
});

test('sharded index: two shards + index read back', async (t) => {
  const dir = await tempDir(t);
  const a = Float32Array.from([1, 2, 3, 4]);
  const b = Float32Array.from([5, 6]);
  const c = Float32Array.from([7]);
  await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [
    { name: 'a', shape: [2, 2], data: a },
    { name: 'c', shape: [1], data: c },
  ]);
  await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [{ name: 'b', shape: [2], data: b }]);
  const indexPath = join(dir, 'model.safetensors.index.json');
  await writeFile(
    indexPath,
    JSON.stringify({
      metadata: { total_size: 28 },
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' },
    }),
  );
  const s = await ShardedSafetensors.open(indexPath);
  t.after(() => s.close());
  assert.deepEqual(s.tensorNames().sort(), ['a', 'b', 'c']);
  assert.equal(s.shardPaths.length, 2);
  assert.deepEqual(s.info('a').shape, [2, 2]);
  assert.deepEqual(await s.readFloat32('a'), a);
  assert.deepEqual(await s.readFloat32('b'), b);
  assert.deepEqual(await s.readFloat32('c'), c);
  await assert.rejects(s.readFloat32('d'), /no tensor named 'd'/);

  // An index that points a tensor at the wrong shard is caught on open.
  await writeFile(indexPath, JSON.stringify({ weight_map: { a: 'model-00002-of-00002.safetensors' } }));
  await assert.rejects(ShardedSafetensors.open(indexPath), /does not hold it/);
  await writeFile(indexPath, JSON.stringify({ weight_map: { a: '../elsewhere.safetensors' } }));
  await assert.rejects(ShardedSafetensors.open(indexPath), /outside the checkpoint folder/);
});
