import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../../shared/src/errors.ts';
import { buildTokenizedExample, checkEncodeOptions } from '../../../shared/src/prompt/loss-mask.ts';
import { NoLabelsError } from '../../../shared/src/prompt/prompt-errors.ts';

// A 3-token prompt (BOS + 2) followed by 2 response tokens, a trailing-space token and EOS (2).
const FULL = [1, 50, 51, 60, 61, 62, 2];

test('labels are the positions from the prompt length on, weighted 1/count', () => {
  const t = buildTokenizedExample(FULL, 3, { maxTokens: 512 });
  assert.deepEqual(Array.from(t.ids), FULL);
  assert.equal(t.truncated, false);
  assert.equal(t.labelCount, 4);
  assert.deepEqual(Array.from(t.lossWeights), [0, 0, 0, 0.25, 0.25, 0.25, 0.25]);
});

test('an example of exactly maxTokens ids is not truncated', () => {
  const t = buildTokenizedExample(FULL, 3, { maxTokens: 7 });
  assert.equal(t.truncated, false);
  assert.equal(t.ids.length, 7);
  assert.equal(t.ids[6], 2);
});

test('truncation keeps the first maxTokens ids, drops EOS, and cuts the mask the same way', () => {
  const t = buildTokenizedExample(FULL, 3, { maxTokens: 5 });
  assert.equal(t.truncated, true);
  assert.deepEqual(Array.from(t.ids), [1, 50, 51, 60, 61]);
  assert.equal(t.labelCount, 2);
  assert.deepEqual(Array.from(t.lossWeights), [0, 0, 0, 0.5, 0.5]);
});

test('no label left after truncation throws NoLabelsError', () => {
  assert.throws(
    () => buildTokenizedExample(FULL, 3, { maxTokens: 3 }),
    (e: unknown) =>
      e instanceof NoLabelsError && e.message === 'no response tokens left after truncation to 3 tokens' && e.maxTokens === 3,
  );
});

test('responseTokenLimit keeps only the first N label positions', () => {
  const t = buildTokenizedExample(FULL, 3, { maxTokens: 512, responseTokenLimit: 2 });
  assert.equal(t.labelCount, 2);
  assert.equal(t.ids.length, 7);
  assert.deepEqual(Array.from(t.lossWeights), [0, 0, 0, 0.5, 0.5, 0, 0]);
  // A limit larger than the response changes nothing.
  assert.equal(buildTokenizedExample(FULL, 3, { maxTokens: 512, responseTokenLimit: 10 }).labelCount, 4);
});

test('position 0 is never a label', () => {
  const t = buildTokenizedExample([7, 8, 9], 0, { maxTokens: 10 });
  assert.equal(t.labelCount, 2);
  assert.equal(t.lossWeights[0], 0);
});

test('bad options are ConfigErrors', () => {
  assert.throws(() => checkEncodeOptions({ maxTokens: 0 }), ConfigError);
  assert.throws(() => checkEncodeOptions({ maxTokens: 1.5 }), ConfigError);
  assert.throws(() => checkEncodeOptions({ maxTokens: 512, responseTokenLimit: 0 }), ConfigError);
  checkEncodeOptions({ maxTokens: 512, responseTokenLimit: 10 });
});
