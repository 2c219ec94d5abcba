import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import type { AnchorFeatures } from '../../../shared/src/audit/anchor-features.ts';
import { decodeAnchorFeatures, encodeAnchorFeatures } from '../../../shared/src/distributed/anchor-features-codec.ts';
import { CorruptBatchError } from '../../../shared/src/distributed/corrupt-batch-error.ts';
import { anchorSpecs, int, randomBitsVector, rng, type Rand } from './random-data.ts';

function randomFeatures(r: Rand, maxDim = 300): AnchorFeatures {
  const specs = anchorSpecs(r, int(r, 1, 4));
  const repDim = int(r, 0, maxDim);
  const gradDim = int(r, 1, maxDim * 4);
  const counts = specs.map(() => int(r, 0, 6));
  // Layer states on some features (jobs with direction layers), none on others.
  const stateDim = r() < 0.5 ? 0 : int(r, 1, maxDim * 2);
  return {
    // Anchor file rows on some sets (rejected anchors leave gaps), none on others.
    representation: specs.map((spec, i) => ({ spec, vectors: Array.from({ length: counts[i]! }, () => randomBitsVector(r, repDim)), ...(i % 2 === 0 ? { rows: Array.from({ length: counts[i]! }, (_, j) => 3 * j + i) } : {}) })),
    gradient: specs.map((spec, i) => ({ spec, vectors: Array.from({ length: counts[i]! }, () => randomBitsVector(r, gradDim)) })),
    layerStates: stateDim === 0 ? [] : specs.map((spec, i) => ({ spec, vectors: Array.from({ length: counts[i]! }, () => randomBitsVector(r, stateDim)), rows: Array.from({ length: counts[i]! }, (_, j) => j) })),
    counts,
  };
}

const bits = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/** Same specs and counts, and every vector equal bit for bit (NaN payloads included). */
function assertBitExact(actual: AnchorFeatures, expected: AnchorFeatures, what: string): void {
  assert.deepStrictEqual(actual.counts, expected.counts, what);
  for (const kind of ['representation', 'gradient', 'layerStates'] as const) {
    assert.equal(actual[kind].length, expected[kind].length, what);
    expected[kind].forEach((set, i) => {
      const got = actual[kind][i]!;
      assert.deepStrictEqual(got.spec, set.spec, what);
      assert.deepStrictEqual(got.rows, set.rows, `${what}: anchor rows`);
      assert.equal(got.vectors.length, set.vectors.length, what);
      set.vectors.forEach((v, j) => {
        assert.ok(got.vectors[j] instanceof Float32Array, what);
        assert.deepStrictEqual(bits(got.vectors[j]!), bits(v), `${what}: ${kind} set ${i} vector ${j}`);
      });
    });
  }
}

test('decode(encode(features)) is bit-exact for random features, aligned or not', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const features = randomFeatures(rng(seed));
    const bytes = encodeAnchorFeatures(features);
    assertBitExact(decodeAnchorFeatures(bytes), features, `seed ${seed}`);
    // Bytes at an odd offset (a Buffer from a pool, say) cannot be viewed as floats: decoded from a copy.
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    assertBitExact(decodeAnchorFeatures(shifted), features, `seed ${seed} unaligned`);
  }
});

test('NaN payloads, infinities, -0 and denormals survive as bit patterns', () => {
  const patterns = [0x7fc00001, 0xffc12345, 0x7f800001, 0x7f800000, 0xff800000, 0x80000000, 0x00000001, 0x3f800000];
  const v = new Float32Array(new Uint32Array(patterns).buffer);
  const spec = { name: 'harmful1', role: 'harmful' as const, weight: -0, source: 'h.jsonl' };
  const features: AnchorFeatures = { representation: [{ spec, vectors: [v] }], gradient: [{ spec, vectors: [v, v] }], layerStates: [{ spec, vectors: [v] }], counts: [1] };
  const decoded = decodeAnchorFeatures(encodeAnchorFeatures(features));
  assert.deepStrictEqual([...new Uint32Array(decoded.gradient[0]!.vectors[1]!.slice().buffer)], patterns);
  assert.ok(Object.is(decoded.gradient[0]!.spec.weight, -0));
});

test('large gradient sets round-trip, and decoding an aligned blob copies nothing', () => {
  const r = rng(77);
  const spec = { name: 'harmful1', role: 'harmful' as const, weight: 1, source: 's3://bucket/anchors/harmful.jsonl' };
  const vectors = Array.from({ length: 8 }, () => randomBitsVector(r, 400_000));
  const features: AnchorFeatures = { representation: [{ spec, vectors: [randomBitsVector(r, 64)] }], gradient: [{ spec, vectors }], layerStates: [], counts: [8] };
  const bytes = encodeAnchorFeatures(features);
  assert.ok(bytes.length < 8 * 400_000 * 4 + 64 * 4 + 4096, `${bytes.length} bytes: the vectors are stored as raw floats`);
  const decoded = decodeAnchorFeatures(bytes);
  assertBitExact(decoded, features, 'large');
  assert.equal(decoded.gradient[0]!.vectors[3]!.buffer, bytes.buffer);
});

test('empty sets and zero-length vectors round-trip', () => {
  const spec = { name: 'safe1', role: 'safe' as const, weight: -1, source: '' };
  const features: AnchorFeatures = { representation: [], gradient: [{ spec, vectors: [new Float32Array(0)] }], layerStates: [], counts: [] };
  assertBitExact(decodeAnchorFeatures(encodeAnchorFeatures(features)), features, 'empty');
});

test('truncated, damaged and random bytes throw CorruptBatchError', () => {
  const bytes = encodeAnchorFeatures(randomFeatures(rng(5), 20));
  for (let cut = 0; cut < bytes.length; cut++) {
    assert.throws(() => decodeAnchorFeatures(bytes.subarray(0, cut)), CorruptBatchError, `cut ${cut}`);
  }
  const r = rng(6);
  for (let i = 0; i < 300; i++) {
    const damaged = bytes.slice();
    const at = int(r, 0, damaged.length - 1);
    damaged[at] = (damaged[at]! + int(r, 1, 255)) & 0xff;
    assert.throws(() => decodeAnchorFeatures(damaged), CorruptBatchError, `byte ${at}`);
  }
  for (let i = 0; i < 100; i++) {
    const junk = Uint8Array.from({ length: int(r, 0, 500) }, () => int(r, 0, 255));
    if (i % 2 === 0 && junk.length >= 4) junk.set([0x53, 0x53, 0x41, 0x46]);
    assert.throws(() => decodeAnchorFeatures(junk), CorruptBatchError);
  }
  const longer = new Uint8Array(bytes.length + 4);
  longer.set(bytes);
  assert.throws(() => decodeAnchorFeatures(longer), CorruptBatchError);
});

/**
 * A blob in the documented layout: "SSAF", u32 version, u32 header length, u32 CRC-32 of the rest,
 * header (JSON of `header`; a string or bytes as they are), pad to 8, floats.
 */
function blob(header: unknown, floats: Float32Array, version = 1): Uint8Array {
  const json = header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const dataAt = (16 + json.length + 7) & ~7;
  const out = new Uint8Array(dataAt + floats.byteLength);
  out.set([0x53, 0x53, 0x41, 0x46]);
  const view = new DataView(out.buffer);
  view.setUint32(4, version, true);
  view.setUint32(8, json.length, true);
  out.set(json, 16);
  out.set(new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength), dataAt);
  view.setUint32(12, crc32(out.subarray(16)), true);
  return out;
}

test('the blob follows the documented layout, and bad headers are rejected even with a valid checksum', () => {
  const spec = { name: 'harmful1', role: 'harmful', weight: 1, source: 'h.jsonl' };
  const header = { representation: [{ spec, lengths: [2] }], gradient: [{ spec, lengths: [3] }], counts: [1], floats: 5 };
  const floats = Float32Array.of(1, 2, 3, 4, 5);
  const decoded = decodeAnchorFeatures(blob(header, floats));
  assert.deepStrictEqual([...decoded.representation[0]!.vectors[0]!], [1, 2]);
  assert.deepStrictEqual([...decoded.gradient[0]!.vectors[0]!], [3, 4, 5]);
  const ours = encodeAnchorFeatures(decoded);
  assert.deepStrictEqual(ours, blob(header, floats));

  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['version 2', blob(header, floats, 2), /unsupported version 2/],
    ['lengths vs floats', blob({ ...header, floats: 4 }, floats.subarray(0, 4)), /add up to 5 floats, the header says 4/],
    ['floats vs data', blob({ ...header, floats: 6 }, floats), /expected .*truncated/],
    ['bad role', blob({ ...header, gradient: [{ spec: { ...spec, role: 'evil' }, lengths: [3] }] }, floats), /gradient\.0\.spec\.role/],
    ['unknown field', blob({ ...header, extra: true }, floats), /bad header/],
    ['header not JSON', blob('{nope', floats), /the header is not JSON/],
    ['header not UTF-8', blob(Uint8Array.of(0x22, 0xff, 0x22), floats), /the header is not JSON/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeAnchorFeatures(bytes), (err: unknown) => {
      assert.ok(err instanceof CorruptBatchError, what);
      assert.match(err.message, message, what);
      return true;
    });
  }
});
