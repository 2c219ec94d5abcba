import assert from 'node:assert/strict';
import type { ExampleFeatures } from '../../shared/src/features/feature-model.ts';
import type { GradientLayout } from '../../shared/src/graph/gradient-features.ts';
import { relativeError } from './fixtures.ts';
import type { ReferenceExampleResult } from './torch-reference.ts';

/** Representation, loss and every parameter block of the exact full gradient against PyTorch's, within `tolerance` (relative). */
export function assertMatchesReference(ours: ExampleFeatures, ref: ReferenceExampleResult, layout: readonly GradientLayout[], what: string, tolerance: number): void {
  const repError = relativeError(ours.representation, ref.representation!.data);
  assert.ok(repError < tolerance, `${what}: representation relative error ${repError}`);
  assert.ok(Math.abs(ours.loss - ref.loss!) / Math.abs(ref.loss!) < tolerance, `${what}: loss ${ours.loss} vs ${ref.loss}`);
  const grads = ref.grad_all!;
  assert.deepEqual(new Set(layout.map((l) => l.key)), new Set(Object.keys(grads)), `${what}: same parameter tensors`);
  for (const block of layout) {
    const error = relativeError(ours.gradient.subarray(block.offset, block.offset + block.size), grads[block.key]!.data);
    assert.ok(error < tolerance, `${what}, ${block.key}: gradient relative error ${error}`);
  }
}
