/**
 * One feature-cache segment: the entries written together, as one immutable object.
 * Layout: "SSFC", then u32 LE version, header length and CRC-32 of everything after these 16
 * bytes; the header (JSON: count, dims, ids, token digests); zero padding to 8 bytes; then the
 * columns, each starting on an 8-byte boundary: loss float64[count], tokens int32[count],
 * truncated u8[count], representation float32[count × repDim], gradient float32[count × gradDim],
 * all little-endian. Floats are copied byte for byte, so they come back bit-exact.
 */
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { SafesiftError } from '../errors.ts';
import type { ExampleFeatures } from '../features/feature-model.ts';

const MAGIC = [0x53, 0x53, 0x46, 0x43]; // "SSFC"
const VERSION = 1;
const PREFIX_BYTES = 16;

/** One cached example: its id, the digest of its tokens, and its features. */
export interface CacheEntry {
  id: string;
  /** tokenDigest of the tokenized example the features were computed from. */
  digest: string;
  tokens: number;
  truncated: boolean;
  features: ExampleFeatures;
}

/** A segment object that fails its checks (truncated, damaged, not a segment). */
export class CorruptSegmentError extends SafesiftError {}

const headerSchema = z.strictObject({
  count: z.number().int().min(0),
  representationDim: z.number().int().min(0),
  gradientDim: z.number().int().min(0),
  ids: z.array(z.string()),
  digests: z.array(z.string()),
});
type Header = z.infer<typeof headerSchema>;

interface Columns {
  loss: number;
  tokens: number;
  truncated: number;
  representation: number;
  gradient: number;
  end: number;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

function columnOffsets(dataOffset: number, h: Pick<Header, 'count' | 'representationDim' | 'gradientDim'>): Columns {
  const loss = dataOffset;
  const tokens = align8(loss + h.count * 8);
  const truncated = align8(tokens + h.count * 4);
  const representation = align8(truncated + h.count);
  const gradient = align8(representation + h.count * h.representationDim * 4);
  return { loss, tokens, truncated, representation, gradient, end: gradient + h.count * h.gradientDim * 4 };
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('feature cache: big-endian hosts are not supported');
}

export function encodeSegment(entries: readonly CacheEntry[]): Uint8Array {
  assertLittleEndian();
  const first = entries[0];
  const representationDim = first?.features.representation.length ?? 0;
  const gradientDim = first?.features.gradient.length ?? 0;
  for (const e of entries) {
    if (e.features.representation.length !== representationDim || e.features.gradient.length !== gradientDim) {
      throw new RangeError(`feature cache: entry ${e.id} has dims ${e.features.representation.length}/${e.features.gradient.length}, the segment ${representationDim}/${gradientDim}`);
    }
  }
  const header: Header = { count: entries.length, representationDim, gradientDim, ids: entries.map((e) => e.id), digests: entries.map((e) => e.digest) };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const at = columnOffsets(align8(PREFIX_BYTES + headerBytes.length), header);
  const out = new Uint8Array(at.end);
  const view = new DataView(out.buffer);
  entries.forEach((e, i) => {
    view.setFloat64(at.loss + i * 8, e.features.loss, true);
    view.setInt32(at.tokens + i * 4, e.tokens, true);
    out[at.truncated + i] = e.truncated ? 1 : 0;
    out.set(bytesOf(e.features.representation), at.representation + i * representationDim * 4);
    out.set(bytesOf(e.features.gradient), at.gradient + i * gradientDim * 4);
  });
  MAGIC.forEach((b, i) => view.setUint8(i, b));
  view.setUint32(4, VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, PREFIX_BYTES);
  view.setUint32(12, crc32(out.subarray(PREFIX_BYTES)), true);
  return out;
}

/** A checked segment; entries are views of its bytes (no copy of the vectors). */
export interface DecodedSegment {
  readonly ids: readonly string[];
  readonly digests: readonly string[];
  readonly byteLength: number;
  entry(index: number): CacheEntry;
}

export function decodeSegment(input: Uint8Array, name = 'segment'): DecodedSegment {
  assertLittleEndian();
  const corrupt = (what: string) => new CorruptSegmentError(`feature cache ${name}: ${what}`);
  if (input.length < PREFIX_BYTES || MAGIC.some((b, i) => input[i] !== b)) throw corrupt('not a feature cache segment (bad magic)');
  // Typed views need aligned offsets: copy once if the bytes do not start on an 8-byte boundary.
  const bytes = (input.byteOffset & 7) === 0 ? input : new Uint8Array(input);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw corrupt(`unsupported version ${version}`);
  const headerLength = view.getUint32(8, true);
  if (PREFIX_BYTES + headerLength > bytes.length) throw corrupt('truncated header');
  if (crc32(bytes.subarray(PREFIX_BYTES)) !== view.getUint32(12, true)) throw corrupt('checksum mismatch (truncated or damaged)');
  let header: Header;
  try {
    header = headerSchema.parse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength))));
  } catch {
    throw corrupt('bad header');
  }
  const { count, representationDim: r, gradientDim: g } = header;
  if (header.ids.length !== count || header.digests.length !== count) throw corrupt('ids or digests do not match the count');
  const at = columnOffsets(align8(PREFIX_BYTES + headerLength), header);
  if (at.end !== bytes.length) throw corrupt(`${bytes.length} bytes, expected ${at.end}`);
  const base = bytes.byteOffset;
  const loss = new Float64Array(bytes.buffer, base + at.loss, count);
  const tokens = new Int32Array(bytes.buffer, base + at.tokens, count);
  const truncated = bytes.subarray(at.truncated, at.truncated + count);
  const representation = new Float32Array(bytes.buffer, base + at.representation, count * r);
  const gradient = new Float32Array(bytes.buffer, base + at.gradient, count * g);
  return {
    ids: header.ids,
    digests: header.digests,
    byteLength: bytes.length,
    entry(i: number): CacheEntry {
      if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`segment entry ${i} of ${count}`);
      return {
        id: header.ids[i]!,
        digest: header.digests[i]!,
        tokens: tokens[i]!,
        truncated: truncated[i] === 1,
        features: {
          loss: loss[i]!,
          representation: representation.subarray(i * r, (i + 1) * r),
          gradient: gradient.subarray(i * g, (i + 1) * g),
        },
      };
    },
  };
}

function bytesOf(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
