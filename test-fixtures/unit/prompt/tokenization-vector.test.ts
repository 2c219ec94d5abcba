import '../../guard.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { paperExample, renderPaperLlama2 } from '../../../shared/src/prompt/paper-llama2.ts';
import { PromptTokenizer } from '../../../shared/src/prompt/prompt-tokenizer.ts';
import { alpaca, anchors, dolly, gsm8k, STORIES260K } from './fixtures.ts';

// Independent check: ids from the Hugging Face tokenizer.json pipeline against a Python transcription
// of llama2.c run.c encode() reading the original tok512.bin.
const REFERENCE = fileURLToPath(new URL('../../reference/llama2c_tokenizer.py', import.meta.url));

function referenceIds(texts: string[]): number[][] {
  const out = execFileSync('/usr/bin/python3', [REFERENCE, `${STORIES260K}/tok512.bin`], {
    input: JSON.stringify(texts),
    encoding: 'utf8',
  });
  return JSON.parse(out) as number[][];
}

function records(): Array<{ name: string; content: ExampleContent }> {
  const a = alpaca();
  const withInput = a.find((r) => r.input !== '')!;
  const noInput = a.find((r) => r.input === '')!;
  const d = dolly();
  const withContext = d.find((r) => r.context !== '')!;
  const noContext = d.find((r) => r.context === '')!;
  const harmful = anchors('pure-bad-illegal-activities-selected10.jsonl');
  // This safe file has answers that start with a space (kept as is, not stripped).
  const safe = anchors('pure-bad-illegal-acticities-selected-10-anchor1.jsonl');
  const spaced = safe.find((c) => c.shape === 'chat' && c.messages[1]!.content.startsWith(' '))!;
  return [
    ...gsm8k([0, 17, 4242]).map((content, i) => ({ name: `gsm8k ${i}`, content })),
    { name: 'alpaca with input', content: { shape: 'alpaca', ...withInput } },
    { name: 'alpaca without input', content: { shape: 'alpaca', ...noInput } },
    { name: 'dolly with context', content: { shape: 'dolly', ...withContext } },
    { name: 'dolly without context', content: { shape: 'dolly', ...noContext } },
    { name: 'harmful anchor', content: harmful[0]! },
    { name: 'safe anchor, answer starting with a space', content: spaced },
  ];
}

test('paper-llama2 ids equal llama2.c encode(text, bos=1) on real records (+ EOS 2)', async () => {
  const tok = await PromptTokenizer.load(STORIES260K, { format: 'paper-llama2' });
  const recs = records();
  const texts = recs.flatMap(({ content }) => {
    const r = renderPaperLlama2(content);
    return [r.prompt, paperExample(r)];
  });
  const ref = referenceIds(texts);
  const parts = await tok.tokenizeParts(recs.map((r) => r.content));
  const encoded = await tok.encodeMany(
    recs.map((r) => r.content),
    { maxTokens: 100_000 },
  );
  for (const [i, { name }] of recs.entries()) {
    const p = parts[i];
    const t = encoded[i];
    assert.ok(p !== undefined && !(p instanceof Error), name);
    assert.ok(t !== undefined && !(t instanceof Error), name);
    const refPrompt = ref[2 * i]!;
    const refExample = ref[2 * i + 1]!;
    assert.equal(refPrompt[0], 1, `${name}: reference starts with BOS`);
    assert.deepEqual(p.promptIds, refPrompt, `${name}: prompt ids`);
    assert.deepEqual(p.fullIds, [...refExample, 2], `${name}: example ids`);
    assert.deepEqual(Array.from(t.ids), [...refExample, 2], `${name}: encoded ids`);
    assert.equal(t.lossWeights.findIndex((w) => w > 0), refPrompt.length, `${name}: first label`);
    assert.equal(t.labelCount, refExample.length + 1 - refPrompt.length, `${name}: label count`);
  }
});

test('the reference itself: empty text is BOS only, unknown code points fall back to bytes + 3', () => {
  // 'ж' is not a tok512 piece: UTF-8 d0 b6 -> ids 0xd0+3, 0xb6+3; ' ' is the dummy prefix piece.
  const [empty, zhe] = referenceIds(['', 'ж']);
  assert.deepEqual(empty, [1]);
  assert.deepEqual(zhe!.slice(2), [0xd0 + 3, 0xb6 + 3]);
});
