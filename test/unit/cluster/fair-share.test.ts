import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fairShare } from '../../../services/coordinator/src/plan-job.ts';

test('the pending window is split evenly over the jobs with batches waiting, this one counted', () => {
  const own = 'safesift.batches.a';
  assert.equal(fairShare(1000, {}, own), 1000);
  assert.equal(fairShare(1000, { [own]: 600 }, own), 1000);
  assert.equal(fairShare(1000, { [own]: 600, 'safesift.batches.b': 3 }, own), 500);
  assert.equal(fairShare(1000, { 'safesift.batches.b': 3, 'safesift.batches.c': 9 }, own), 333);
  // Subjects whose batches are all taken do not count.
  assert.equal(fairShare(10, { 'safesift.batches.b': 0 }, own), 10);
  // Never below one batch, however many jobs.
  assert.equal(fairShare(2, { b: 1, c: 1, d: 1 }, own), 1);
});
