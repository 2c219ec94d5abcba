import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { TINY_TOKENIZER_VOCAB_SIZE } from '../../../shared/src/model/tiny-tokenizer.ts';
import { NoLabelsError, PromptShapeError } from '../../../shared/src/prompt/prompt-errors.ts';
import { PromptTokenizer, type TokenizedParts } from '../../../shared/src/prompt/prompt-tokenizer.ts';
import { ANCHOR_FILES, chatContents, gsm8kContents as gsm8k } from '../../helpers/test-data.ts';
import { testModel } from '../../helpers/test-model.ts';

let tok: PromptTokenizer;
before(async () => {
  tok = await PromptTokenizer.load(await testModel(), { format: 'paper-llama2' });
});

const labelPositions = (w: Float32Array): number[] => Array.from(w.keys()).filter((i) => w[i]! > 0);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

async function parts(c: ExampleContent): Promise<TokenizedParts> {
  const [p] = await tok.tokenizeParts([c]);
  assert.ok(p !== undefined && !(p instanceof Error));
  return p;
}

test('special ids and vocabulary come from the model folder', () => {
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  // The tokenizer's own ids: fewer than the test model's 512 embedding rows.
  assert.equal(tok.vocabSize, TINY_TOKENIZER_VOCAB_SIZE);
  assert.equal(tok.format, 'paper-llama2');
});

test('an untruncated example: BOS first, EOS last, labels exactly after the prompt', async () => {
  const [c] = gsm8k([0]);
  const p = await parts(c!);
  const t = await tok.encode(c!, { maxTokens: 2048 });
  assert.equal(t.truncated, false);
  assert.equal(t.ids[0], 1);
  assert.notEqual(t.ids[1], 1, 'no double BOS');
  assert.equal(t.ids.at(-1), 2);
  assert.equal(t.ids.filter((x) => x === 2).length, 1);
  assert.deepEqual(Array.from(t.ids), p.fullIds);
  // The prompt's own tokenization is a prefix of the example's (boundary at " [/INST]").
  assert.deepEqual(p.fullIds.slice(0, p.promptIds.length), p.promptIds);
  assert.deepEqual(labelPositions(t.lossWeights), range(p.promptIds.length, p.fullIds.length));
  assert.equal(t.labelCount, p.fullIds.length - p.promptIds.length);
  const sum = t.lossWeights.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5);
});

test('truncation keeps the first maxTokens ids, loses EOS, sets the flag', async () => {
  const [c] = gsm8k([1]);
  const p = await parts(c!);
  const maxTokens = p.promptIds.length + 5;
  const t = await tok.encode(c!, { maxTokens });
  assert.equal(t.truncated, true);
  assert.equal(t.ids.length, maxTokens);
  assert.deepEqual(Array.from(t.ids), p.fullIds.slice(0, maxTokens));
  assert.notEqual(t.ids.at(-1), 2);
  assert.equal(t.labelCount, 5);
  assert.deepEqual(labelPositions(t.lossWeights), range(p.promptIds.length, maxTokens));
});

test('a cap inside the prompt leaves no label: NoLabelsError', async () => {
  const [c] = gsm8k([2]);
  const p = await parts(c!);
  await assert.rejects(tok.encode(c!, { maxTokens: p.promptIds.length }), (e: unknown) => {
    assert.ok(e instanceof NoLabelsError);
    assert.equal(e.message, `no response tokens left after truncation to ${p.promptIds.length} tokens`);
    return true;
  });
});

test('anchors count exactly their first 10 response tokens', async () => {
  const all = chatContents(ANCHOR_FILES.harmful);
  const results = await tok.encodeMany(all, { maxTokens: 480, responseTokenLimit: 10 });
  for (const [i, c] of all.entries()) {
    const t = results[i];
    assert.ok(t !== undefined && !(t instanceof Error));
    const p = await parts(c);
    assert.ok(p.fullIds.length - p.promptIds.length > 10, 'the anchor responses are longer than 10 tokens');
    assert.equal(t.labelCount, 10);
    assert.deepEqual(labelPositions(t.lossWeights), range(p.promptIds.length, p.promptIds.length + 10));
    assert.equal(t.ids.at(-1), 2, 'the example itself is kept whole');
    for (const w of t.lossWeights) assert.ok(w === 0 || Math.abs(w - 0.1) < 1e-7);
  }
});

test('encodeMany equals encode one by one and puts record errors in their slots', async () => {
  const good = gsm8k([3, 4, 5]);
  const badShape: ExampleContent = { shape: 'chat', messages: [{ role: 'user', content: 'no answer' }] };
  const many = await tok.encodeMany([good[0]!, badShape, good[1]!, good[2]!], { maxTokens: 512 });
  assert.equal(many.length, 4);
  assert.ok(many[1] instanceof PromptShapeError);
  for (const [slot, c] of [[0, good[0]], [2, good[1]], [3, good[2]]] as const) {
    const one = await tok.encode(c!, { maxTokens: 512 });
    assert.deepEqual(many[slot], one);
  }
  const tiny = await tok.encodeMany(good, { maxTokens: 4 });
  assert.ok(tiny.every((r) => r instanceof NoLabelsError));
  await assert.rejects(tok.encode(badShape, { maxTokens: 512 }), PromptShapeError);
});

test('decodePreview gives back the example text', async () => {
  const c: ExampleContent = { shape: 'alpaca', instruction: 'Tell a story.', input: '', output: 'Once upon a time' };
  const t = await tok.encode(c, { maxTokens: 512 });
  const text = await tok.decodePreview(t.ids);
  assert.equal(text, `<s> ${tok.render(c).full}</s>`);
});
