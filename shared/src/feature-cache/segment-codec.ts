/**
 * One feature-cache segment: the entries written together, as one immutable object, in two parts
 * that can be read apart. The head holds everything but the gradients: a re-audit whose anchors
 * are unchanged scores from the head alone, since each entry's gradient is also stored projected
 * onto the anchor targets it was first scored against (|g|² and one dot per anchor set).
 *
 * Layout: a 24-byte prefix ("SSFC", then u32 LE version, header length, head length, CRC-32 of
 * the head after the prefix, CRC-32 of the gradients); the header (JSON: count, dims, ids, token
 * digests, projection target and width); zero padding to 8 bytes; the head columns, each on an
 * 8-byte boundary: loss float64[count], tokens int32[count], truncated u8[count], projection
 * float64[count × width], representation float32[count × repDim], layer states float32[count ×
 * layerStateDim] (the header's layerStateDim, absent and 0 in segments written before it: the
 * column is then empty and every offset is as it was); then, from the head length on, gradient
 * float32[count × gradDim]. All little-endian; floats are copied byte for byte, so they come back
 * bit-exact.
 */
import { endianness } from 'node:os';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { SafesiftError } from '../errors.ts';
import type { ExampleFeatures } from '../features/feature-model.ts';

const MAGIC = [0x53, 0x53, 0x46, 0x43]; // "SSFC"
const VERSION = 2;
/** Bytes of the fixed prefix: read first to learn how long the head is. */
export const SEGMENT_PREFIX_BYTES = 24;

/**
 * A gradient projected onto a set of anchor targets (GradientScorer.project): |g|² followed by
 * dot(g, target) per anchor set. `target` names the targets (a hash of their values).
 */
export interface GradientProjection {
  target: string;
  values: Float64Array;
}

/** An example's features as the cache returns them. */
export interface CachedFeatures {
  loss: number;
  representation: Float32Array;
  /** Direction layers' states (ExampleFeatures.layerStates); empty for entries stored without them. */
  layerStates: Float32Array;
  /** Null when the lookup asked for the projection this entry holds: the gradient was not read. */
  gradient: Float32Array | null;
  /** The projection stored with the entry, if any (check its target before use). */
  projection: GradientProjection | null;
}

/** One cached example: its id, the digest of its tokens, and its features. */
export interface CacheEntry {
  id: string;
  /** renderDigest of the example the features were computed from. */
  digest: string;
  tokens: number;
  truncated: boolean;
  /** Response (label) tokens after truncation; null for entries written before it was kept. */
  labels: number | null;
  features: CachedFeatures;
}

/** An entry to store: full features, and the projection of its gradient if it was scored. */
export interface NewCacheEntry {
  id: string;
  digest: string;
  tokens: number;
  truncated: boolean;
  labels?: number;
  features: ExampleFeatures;
  projection?: GradientProjection;
}

/** A segment object that fails its checks (truncated, damaged, not a segment). */
export class CorruptSegmentError extends SafesiftError {}

const headerSchema = z.strictObject({
  count: z.number().int().min(0),
  representationDim: z.number().int().min(0),
  gradientDim: z.number().int().min(0),
  ids: z.array(z.string()),
  digests: z.array(z.string()),
  projection: z.strictObject({ target: z.string(), width: z.number().int().min(1) }).nullable(),
  // Response token counts, in the JSON header so segments written before them still read.
  labels: z.array(z.number().int().min(0)).optional(),
  // Written only when non-zero, so segments without layer states stay as before (old readers too).
  layerStateDim: z.number().int().min(1).optional(),
});
type Header = z.infer<typeof headerSchema>;

interface Columns {
  loss: number;
  tokens: number;
  truncated: number;
  projection: number;
  representation: number;
  layerStates: number;
  /** Where the gradients start: the head's length. */
  gradient: number;
  end: number;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

function columnOffsets(headerLength: number, h: Pick<Header, 'count' | 'representationDim' | 'gradientDim' | 'projection' | 'layerStateDim'>): Columns {
  const loss = align8(SEGMENT_PREFIX_BYTES + headerLength);
  const tokens = align8(loss + h.count * 8);
  const truncated = align8(tokens + h.count * 4);
  const projection = align8(truncated + h.count);
  const representation = align8(projection + h.count * (h.projection?.width ?? 0) * 8);
  const layerStates = align8(representation + h.count * h.representationDim * 4);
  const gradient = align8(layerStates + h.count * (h.layerStateDim ?? 0) * 4);
  return { loss, tokens, truncated, projection, representation, layerStates, gradient, end: gradient + h.count * h.gradientDim * 4 };
}

function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('feature cache: big-endian hosts are not supported');
}

/** The projection the segment stores: only when every entry has one, for the same target. */
function sharedProjection(entries: readonly NewCacheEntry[]): Header['projection'] {
  const first = entries[0]?.projection;
  if (first === undefined) return null;
  const same = entries.every((e) => e.projection?.target === first.target && e.projection.values.length === first.values.length);
  return same ? { target: first.target, width: first.values.length } : null;
}

export function encodeSegment(entries: readonly NewCacheEntry[]): Uint8Array {
  assertLittleEndian();
  const first = entries[0];
  const representationDim = first?.features.representation.length ?? 0;
  const gradientDim = first?.features.gradient.length ?? 0;
  const layerStateDim = first?.features.layerStates.length ?? 0;
  for (const e of entries) {
    const f = e.features;
    if (f.representation.length !== representationDim || f.gradient.length !== gradientDim || f.layerStates.length !== layerStateDim) {
      const dims = `${f.representation.length}/${f.gradient.length}/${f.layerStates.length}`;
      throw new RangeError(`feature cache: entry ${e.id} has dims ${dims}, the segment ${representationDim}/${gradientDim}/${layerStateDim}`);
    }
  }
  const projection = sharedProjection(entries);
  const labels = entries.every((e) => e.labels !== undefined) ? entries.map((e) => e.labels!) : undefined;
  const header: Header = { count: entries.length, representationDim, gradientDim, ids: entries.map((e) => e.id), digests: entries.map((e) => e.digest), projection, ...(labels ? { labels } : {}), ...(layerStateDim > 0 ? { layerStateDim } : {}) };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const at = columnOffsets(headerBytes.length, header);
  const out = new Uint8Array(at.end);
  const view = new DataView(out.buffer);
  const width = projection?.width ?? 0;
  entries.forEach((e, i) => {
    view.setFloat64(at.loss + i * 8, e.features.loss, true);
    view.setInt32(at.tokens + i * 4, e.tokens, true);
    out[at.truncated + i] = e.truncated ? 1 : 0;
    if (projection !== null) out.set(bytesOf(e.projection!.values), at.projection + i * width * 8);
    out.set(bytesOf(e.features.representation), at.representation + i * representationDim * 4);
    out.set(bytesOf(e.features.layerStates), at.layerStates + i * layerStateDim * 4);
    out.set(bytesOf(e.features.gradient), at.gradient + i * gradientDim * 4);
  });
  MAGIC.forEach((b, i) => view.setUint8(i, b));
  view.setUint32(4, VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  view.setUint32(12, at.gradient, true);
  out.set(headerBytes, SEGMENT_PREFIX_BYTES);
  view.setUint32(16, crc32(out.subarray(SEGMENT_PREFIX_BYTES, at.gradient)), true);
  view.setUint32(20, crc32(out.subarray(at.gradient)), true);
  return out;
}

/** The head's length in bytes, from the segment's first SEGMENT_PREFIX_BYTES bytes. */
export function segmentHeadLength(prefix: Uint8Array, name = 'segment'): number {
  assertLittleEndian();
  const corrupt = (what: string) => new CorruptSegmentError(`feature cache ${name}: ${what}`);
  if (prefix.length < SEGMENT_PREFIX_BYTES || MAGIC.some((b, i) => prefix[i] !== b)) throw corrupt('not a feature cache segment (bad magic)');
  const view = new DataView(prefix.buffer, prefix.byteOffset, SEGMENT_PREFIX_BYTES);
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw corrupt(`unsupported version ${version}`);
  return view.getUint32(12, true);
}

/** A checked segment head; entries are views of its bytes (no copy of the vectors). */
export interface SegmentHead {
  readonly ids: readonly string[];
  readonly digests: readonly string[];
  /** Target of the stored projections, or null when the segment stores none. */
  readonly projectionTarget: string | null;
  /** Bytes of the head, where the gradients start. */
  readonly headLength: number;
  /** Bytes of the gradient part. */
  readonly gradientBytes: number;
  readonly byteLength: number;
  /** Entry `index`; its gradient is the row of `gradients` (checkGradients) or null without them. */
  entry(index: number, gradients: Float32Array | null): CacheEntry;
  /** The gradient part as one float32 matrix [count × gradDim], after checking its length and CRC. */
  checkGradients(bytes: Uint8Array): Float32Array;
}

/** Decodes a head: the segment's first `headLength` bytes (more are ignored). */
export function decodeSegmentHead(input: Uint8Array, name = 'segment'): SegmentHead {
  const corrupt = (what: string) => new CorruptSegmentError(`feature cache ${name}: ${what}`);
  const headLength = segmentHeadLength(input, name);
  if (input.length < headLength) throw corrupt('truncated head');
  // Typed views need aligned offsets: copy once if the bytes do not start on an 8-byte boundary.
  const bytes = (input.byteOffset & 7) === 0 ? input.subarray(0, headLength) : input.slice(0, headLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (SEGMENT_PREFIX_BYTES + headerLength > headLength) throw corrupt('truncated header');
  if (crc32(bytes.subarray(SEGMENT_PREFIX_BYTES)) !== view.getUint32(16, true)) throw corrupt('head checksum mismatch (truncated or damaged)');
  let header: Header;
  try {
    header = headerSchema.parse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(SEGMENT_PREFIX_BYTES, SEGMENT_PREFIX_BYTES + headerLength))));
  } catch {
    throw corrupt('bad header');
  }
  const { count, representationDim: r, gradientDim: g } = header;
  if (header.ids.length !== count || header.digests.length !== count || (header.labels !== undefined && header.labels.length !== count)) {
    throw corrupt('ids, digests or labels do not match the count');
  }
  const at = columnOffsets(headerLength, header);
  if (at.gradient !== headLength) throw corrupt(`head of ${headLength} bytes, expected ${at.gradient}`);
  const width = header.projection?.width ?? 0;
  const base = bytes.byteOffset;
  const loss = new Float64Array(bytes.buffer, base + at.loss, count);
  const tokens = new Int32Array(bytes.buffer, base + at.tokens, count);
  const truncated = bytes.subarray(at.truncated, at.truncated + count);
  const projection = new Float64Array(bytes.buffer, base + at.projection, count * width);
  const representation = new Float32Array(bytes.buffer, base + at.representation, count * r);
  const s = header.layerStateDim ?? 0;
  const layerStates = new Float32Array(bytes.buffer, base + at.layerStates, count * s);
  const gradientCrc = view.getUint32(20, true);
  const gradientBytes = at.end - at.gradient;
  return {
    ids: header.ids,
    digests: header.digests,
    projectionTarget: header.projection?.target ?? null,
    headLength,
    gradientBytes,
    byteLength: headLength,
    entry(i: number, gradients: Float32Array | null): CacheEntry {
      if (!(Number.isInteger(i) && i >= 0 && i < count)) throw new RangeError(`segment entry ${i} of ${count}`);
      return {
        id: header.ids[i]!,
        digest: header.digests[i]!,
        tokens: tokens[i]!,
        truncated: truncated[i] === 1,
        labels: header.labels?.[i] ?? null,
        features: {
          loss: loss[i]!,
          representation: representation.subarray(i * r, (i + 1) * r),
          layerStates: layerStates.subarray(i * s, (i + 1) * s),
          gradient: gradients === null ? null : gradients.subarray(i * g, (i + 1) * g),
          projection: header.projection === null ? null : { target: header.projection.target, values: projection.subarray(i * width, (i + 1) * width) },
        },
      };
    },
    checkGradients(part: Uint8Array): Float32Array {
      if (part.length !== gradientBytes) throw corrupt(`gradient part of ${part.length} bytes, expected ${gradientBytes}`);
      if (crc32(part) !== gradientCrc) throw corrupt('gradient checksum mismatch (truncated or damaged)');
      const aligned = (part.byteOffset & 3) === 0 ? part : part.slice();
      return new Float32Array(aligned.buffer, aligned.byteOffset, count * g);
    },
  };
}

/** A whole segment read at once: its head and its gradients. */
export interface DecodedSegment {
  readonly head: SegmentHead;
  readonly gradients: Float32Array;
  readonly ids: readonly string[];
  readonly digests: readonly string[];
  entry(index: number): CacheEntry;
}

export function decodeSegment(input: Uint8Array, name = 'segment'): DecodedSegment {
  const head = decodeSegmentHead(input, name);
  const gradients = head.checkGradients(input.subarray(head.headLength));
  return { head, gradients, ids: head.ids, digests: head.digests, entry: (i) => head.entry(i, gradients) };
}

function bytesOf(v: Float32Array | Float64Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
