import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CorruptSegmentError,
  decodeSegment,
  decodeSegmentHead,
  encodeSegment,
  SEGMENT_PREFIX_BYTES,
  segmentHeadLength,
} from '../../../shared/src/feature-cache/segment-codec.ts';
import { assertSameEntry, randomEntry, randomProjection } from './random-entries.ts';

test('a segment round-trips bit-exact: floats with NaN payloads, -0 and subnormals, tokens, flags, ids, digests', () => {
  const entries = Array.from({ length: 7 }, (_, i) => randomEntry(`id-${i}`, 9, 31 + 0));
  const decoded = decodeSegment(encodeSegment(entries));
  assert.deepEqual(decoded.ids, entries.map((e) => e.id));
  assert.deepEqual(decoded.digests, entries.map((e) => e.digest));
  entries.forEach((e, i) => assertSameEntry(decoded.entry(i), e));
  assert.throws(() => decoded.entry(7), RangeError);
});

test('odd dimensions and a misaligned buffer still decode bit-exact', () => {
  const entries = Array.from({ length: 3 }, (_, i) => randomEntry(`x${i}`, 3, 5));
  const bytes = encodeSegment(entries);
  // The same bytes starting 1 byte into a larger buffer (as a slice of a pooled Buffer might).
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const decoded = decodeSegment(shifted.subarray(1));
  entries.forEach((e, i) => assertSameEntry(decoded.entry(i), e));
});

test('an empty segment round-trips', () => {
  const decoded = decodeSegment(encodeSegment([]));
  assert.equal(decoded.ids.length, 0);
});

test('damaged, truncated or foreign bytes are rejected', () => {
  const bytes = encodeSegment([randomEntry('a'), randomEntry('b')]);
  const flipped = bytes.slice();
  flipped[bytes.length - 3]! ^= 0x10;
  assert.throws(() => decodeSegment(flipped), /gradient checksum mismatch/);
  const headFlipped = bytes.slice();
  headFlipped[SEGMENT_PREFIX_BYTES + 5]! ^= 0x10;
  assert.throws(() => decodeSegmentHead(headFlipped), /head checksum mismatch/);
  assert.throws(() => decodeSegment(bytes.subarray(0, bytes.length - 4)), CorruptSegmentError);
  assert.throws(() => decodeSegment(new TextEncoder().encode('PAR1 not a segment at all')), /bad magic/);
});

test('entries of different dimensions cannot share a segment', () => {
  assert.throws(() => encodeSegment([randomEntry('a', 8, 10), randomEntry('b', 8, 11)]), RangeError);
});

test('projections round-trip, and the head alone (its first bytes) gives every entry but the gradients', () => {
  const entries = Array.from({ length: 5 }, (_, i) => randomEntry(`p${i}`, 6, 29, randomProjection('targets-a', 4)));
  const bytes = encodeSegment(entries);
  const headLength = segmentHeadLength(bytes.subarray(0, SEGMENT_PREFIX_BYTES));
  // The gradients are the last 5 × 29 float32s; the head is everything before them (8-aligned).
  assert.equal(bytes.length - headLength, 5 * 29 * 4);
  const head = decodeSegmentHead(bytes.slice(0, headLength));
  assert.equal(head.projectionTarget, 'targets-a');
  entries.forEach((e, i) => assertSameEntry(head.entry(i, null), e, 'absent'));
  const gradients = head.checkGradients(bytes.slice(headLength));
  entries.forEach((e, i) => assertSameEntry(head.entry(i, gradients), e));
  assert.throws(() => head.checkGradients(bytes.slice(headLength + 4)), /gradient part of/);
});

test('a segment stores projections only when every entry has one onto the same targets', () => {
  const mixed = [randomEntry('a', 4, 7, randomProjection('t1')), randomEntry('b', 4, 7, randomProjection('t2'))];
  const some = [randomEntry('c', 4, 7, randomProjection('t1')), randomEntry('d', 4, 7)];
  for (const entries of [mixed, some]) {
    const decoded = decodeSegment(encodeSegment(entries));
    assert.equal(decoded.head.projectionTarget, null);
    entries.forEach((e, i) => assertSameEntry(decoded.entry(i), { ...e, projection: undefined }));
  }
});

test('response token counts round-trip; a segment where an entry lacks one (an older writer) gives null for all', () => {
  const entries = Array.from({ length: 4 }, (_, i) => ({ ...randomEntry(`id-${i}`, 5, 7), labels: 3 * i + 1 }));
  const decoded = decodeSegment(encodeSegment(entries));
  assert.deepEqual([0, 1, 2, 3].map((i) => decoded.entry(i).labels), [1, 4, 7, 10]);
  const { labels: _dropped, ...older } = entries[2]!;
  const mixed = decodeSegment(encodeSegment([entries[0]!, older]));
  assert.deepEqual([mixed.entry(0).labels, mixed.entry(1).labels], [null, null]);
});

test('layer states round-trip bit-exact in the head: a lookup that skips the gradients still has them', () => {
  const entries = Array.from({ length: 5 }, (_, i) => randomEntry(`l${i}`, 6, 11, randomProjection('targets-l', 3), 2 * 3 * 6));
  const bytes = encodeSegment(entries);
  entries.forEach((e, i) => assertSameEntry(decodeSegment(bytes).entry(i), e));
  const headLength = segmentHeadLength(bytes.subarray(0, SEGMENT_PREFIX_BYTES));
  assert.equal(bytes.length - headLength, 5 * 11 * 4, 'the gradients are still the tail');
  const head = decodeSegmentHead(bytes.slice(0, headLength));
  entries.forEach((e, i) => {
    assertSameEntry(head.entry(i, null), e, 'absent');
    assert.equal(head.entry(i, null).features.layerStates.length, 36);
  });
  assert.throws(() => encodeSegment([randomEntry('a', 4, 7, undefined, 8), randomEntry('b', 4, 7, undefined, 16)]), RangeError);
  assert.throws(() => encodeSegment([randomEntry('a', 4, 7, undefined, 8), randomEntry('b', 4, 7)]), RangeError);
});

/** Two entries (dims 3/2, labels 5 and 2) as the encoder wrote them before layer states existed (format version 2). */
const SEGMENT_BEFORE_LAYER_STATES =
  'U1NGQwIAAAC8AAAAEAEAAHj4EhSIdTZKeyJjb3VudCI6MiwicmVwcmVzZW50YXRpb25EaW0iOjMsImdyYWRpZW50RGltIjoyLCJpZHMiOlsib2xkLWEiLCJvbGQtYiJdLCJkaWdlc3RzIjpbImRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkIiwiZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWUiXSwicHJvamVjdGlvbiI6bnVsbCwibGFiZWxzIjpbNSwyXX0AAAAAAAAAAAAA9D8AAAAAAADoPxEAAAAJAAAAAAEAAAAAAAAAAAA/AACAvwAAAEAAAAC/AACAQAAAAAAAAEBAAACAvgAAgD8AAABB';

test('a segment written before layer states decodes with empty ones; entries without them encode to those very bytes', () => {
  const bytes = new Uint8Array(Buffer.from(SEGMENT_BEFORE_LAYER_STATES, 'base64'));
  const decoded = decodeSegment(bytes);
  const expected = [
    { id: 'old-a', digest: 'd'.repeat(32), tokens: 17, truncated: false, labels: 5, features: { loss: 1.25, representation: Float32Array.of(0.5, -1, 2), gradient: Float32Array.of(3, -0.25), layerStates: new Float32Array(0) } },
    { id: 'old-b', digest: 'e'.repeat(32), tokens: 9, truncated: true, labels: 2, features: { loss: 0.75, representation: Float32Array.of(-0.5, 4, 0), gradient: Float32Array.of(1, 8), layerStates: new Float32Array(0) } },
  ];
  expected.forEach((e, i) => {
    assertSameEntry(decoded.entry(i), e);
    assert.equal(decoded.entry(i).labels, e.labels);
  });
  assert.deepEqual(encodeSegment(expected), bytes);
});
