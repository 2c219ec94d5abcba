import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CorruptSegmentError, decodeSegment, encodeSegment } from '../../../shared/src/feature-cache/segment-codec.ts';
import { assertSameEntry, randomEntry } from './random-entries.ts';

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
  assert.throws(() => decodeSegment(flipped), CorruptSegmentError);
  assert.throws(() => decodeSegment(bytes.subarray(0, bytes.length - 4)), CorruptSegmentError);
  assert.throws(() => decodeSegment(new TextEncoder().encode('PAR1 not a segment at all')), /bad magic/);
});

test('entries of different dimensions cannot share a segment', () => {
  assert.throws(() => encodeSegment([randomEntry('a', 8, 10), randomEntry('b', 8, 11)]), RangeError);
});
