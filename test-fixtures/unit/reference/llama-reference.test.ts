import '../../guard.ts';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { runTorchReference } from '../../../test/helpers/torch-reference.ts';
import { STORIES260K } from '../../fixture-paths.ts';

// The torch reference runs the trained stories260k weights as their authors did: it continues
// "<s> Once upon a time" with ",", as in the README's greedy generation ("Once upon a time, there").
// test/unit/reference/llama-reference.test.ts checks the rest of the reference on the test model.
test('torch reference on stories260k: the greedy token after "<s> Once upon a time" is ","', async () => {
  const vocab = (JSON.parse(await readFile(join(STORIES260K, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  const ids = [1, 403, 407, 261, 378];
  assert.deepEqual(ids.slice(1).map((id) => Object.keys(vocab).find((piece) => vocab[piece] === id)), ['▁Once', '▁upon', '▁a', '▁time']);
  const [result] = (await runTorchReference({ model_dir: STORIES260K, examples: [{ ids, weights: [0, 0.25, 0.25, 0.25, 0.25] }], want: ['logits'] })).examples;
  const logits = result!.logits!;
  const V = logits.shape[1]!;
  const last = logits.data.subarray((ids.length - 1) * V, ids.length * V);
  const greedy = last.indexOf(Math.max(...last));
  assert.equal(greedy, vocab[',']);
});
