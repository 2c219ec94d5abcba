/**
 * The anchor features of a job as one blob in object storage, written once and read by every
 * worker. Layout: "SSAF", then u32 LE version, header length and CRC-32 of everything after these
 * 16 bytes; the header (JSON: specs, counts, vector lengths, float count); zero padding to 8 bytes;
 * then every vector's float32 values, little-endian, representation sets first, then gradient and layer-state sets. Vectors are copied byte for byte, so
 * they come back bit-exact (NaN payloads included); no JSON for the hundreds of MB of gradients.
 */
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { AnchorFeatures } from '../audit/anchor-features.ts';
import type { AnchorSetVectors } from '../scoring/anchor-sets.ts';
import { CorruptBatchError } from './corrupt-batch-error.ts';
import { parseExact, stringifyExact } from './exact-json.ts';

const MAGIC = [0x53, 0x53, 0x41, 0x46]; // "SSAF"
const VERSION = 1;
const PREFIX_BYTES = 16;
const WHAT = 'anchor features';

// Byte copies of Float32Array memory are little-endian only on little-endian hosts (all we run on).
const assertLittleEndian = () => {
  if (endianness() !== 'LE') throw new Error('anchor features codec: big-endian hosts are not supported');
};

const specSchema = z.strictObject({
  name: z.string(),
  role: z.enum(['harmful', 'safe']),
  weight: z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' }),
  source: z.string(),
});
const setSchema = z.strictObject({ spec: specSchema, lengths: z.array(z.number().int().min(0)), rows: z.array(z.number().int().min(0)).optional() });
const headerSchema = z.strictObject({
  representation: z.array(setSchema),
  gradient: z.array(setSchema),
  // Compliance-direction states; absent in blobs of jobs without direction layers.
  layerStates: z.array(setSchema).optional(),
  counts: z.array(z.number().int().min(0)),
  floats: z.number().int().min(0),
});
type Header = z.infer<typeof headerSchema>;

export function encodeAnchorFeatures(features: AnchorFeatures): Uint8Array {
  assertLittleEndian();
  const sets = [...features.representation, ...features.gradient, ...features.layerStates];
  const describe = (s: AnchorSetVectors) => ({
    spec: { name: s.spec.name, role: s.spec.role, weight: s.spec.weight, source: s.spec.source },
    lengths: s.vectors.map((v) => v.length),
    ...(s.rows ? { rows: [...s.rows] } : {}),
  });
  let floats = 0;
  for (const s of sets) for (const v of s.vectors) floats += v.length;
  const header = {
    representation: features.representation.map(describe),
    gradient: features.gradient.map(describe),
    ...(features.layerStates.length > 0 ? { layerStates: features.layerStates.map(describe) } : {}),
    counts: [...features.counts],
    floats,
  };
  const headerBytes = Buffer.from(stringifyExact(header));
  const headerLength = headerBytes.length;
  const dataOffset = align8(PREFIX_BYTES + headerLength);
  const out = new Uint8Array(dataOffset + floats * 4);
  let at = dataOffset;
  for (const s of sets) {
    for (const v of s.vectors) {
      out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
      at += v.byteLength;
    }
  }
  const prefix = new DataView(out.buffer, out.byteOffset, PREFIX_BYTES);
  MAGIC.forEach((b, i) => prefix.setUint8(i, b));
  prefix.setUint32(4, VERSION, true);
  prefix.setUint32(8, headerLength, true);
  out.set(headerBytes, PREFIX_BYTES);
  prefix.setUint32(12, crc32(out.subarray(PREFIX_BYTES)), true);
  return out;
}

/**
 * Decodes and checks a blob. The vectors are views of `bytes` when its data section is 4-byte
 * aligned (no copy of hundreds of MB), else of one copy of that section.
 */
export function decodeAnchorFeatures(bytes: Uint8Array): AnchorFeatures {
  assertLittleEndian();
  if (!(bytes instanceof Uint8Array) || bytes.length < PREFIX_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw corrupt('not an anchor features blob (bad magic)');
  }
  const prefix = new DataView(bytes.buffer, bytes.byteOffset, PREFIX_BYTES);
  const version = prefix.getUint32(4, true);
  if (version !== VERSION) throw corrupt(`unsupported version ${version}`);
  const headerLength = prefix.getUint32(8, true);
  if (PREFIX_BYTES + headerLength > bytes.length) throw corrupt(`truncated: a ${headerLength}-byte header in ${bytes.length} bytes`);
  if (crc32(bytes.subarray(PREFIX_BYTES)) !== prefix.getUint32(12, true)) throw corrupt('checksum mismatch (truncated or damaged)');
  const header = readHeader(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength));
  const dataOffset = align8(PREFIX_BYTES + headerLength);
  const expected = dataOffset + header.floats * 4;
  if (bytes.length !== expected) throw corrupt(`${bytes.length} bytes, expected ${expected}${bytes.length < expected ? ' (truncated)' : ''}`);
  const data = bytes.subarray(dataOffset);
  const allSets = [...header.representation, ...header.gradient, ...(header.layerStates ?? [])];
  const declared = allSets.reduce((n, s) => n + s.lengths.reduce((a, b) => a + b, 0), 0);
  if (declared !== header.floats) throw corrupt(`vector lengths add up to ${declared} floats, the header says ${header.floats}`);
  const badRows = allSets.find((s) => s.rows !== undefined && s.rows.length !== s.lengths.length);
  if (badRows) throw corrupt(`set ${badRows.spec.name} has ${badRows.rows!.length} anchor rows for ${badRows.lengths.length} vectors`);

  const aligned = (data.byteOffset & 3) === 0;
  const all = aligned ? new Float32Array(data.buffer, data.byteOffset, header.floats) : new Float32Array(data.slice().buffer);
  let at = 0;
  const toSets = (sets: Header['representation']): AnchorSetVectors[] =>
    sets.map(({ spec, lengths, rows }) => ({
      spec,
      vectors: lengths.map((n) => {
        const v = all.subarray(at, at + n);
        at += n;
        return v;
      }),
      ...(rows ? { rows } : {}),
    }));
  const representation = toSets(header.representation);
  const gradient = toSets(header.gradient);
  const layerStates = toSets(header.layerStates ?? []);
  return { representation, gradient, layerStates, counts: header.counts };
}

function readHeader(bytes: Uint8Array): Header {
  let json: unknown;
  try {
    json = parseExact(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw corrupt('the header is not JSON');
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(header)'}: ${issue.message}`);
    throw corrupt(`bad header: ${problems.join('; ')}`);
  }
  return parsed.data;
}

const align8 = (n: number): number => (n + 7) & ~7;

function corrupt(what: string): CorruptBatchError {
  return new CorruptBatchError(`${WHAT}: ${what}`);
}
