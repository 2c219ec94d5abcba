import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { ConfigError } from '../../../shared/src/errors.ts';
import { ChatTemplate } from '../../../shared/src/prompt/chat-template.ts';
import { PromptShapeError } from '../../../shared/src/prompt/prompt-errors.ts';
import { PromptTokenizer } from '../../../shared/src/prompt/prompt-tokenizer.ts';
import { testModel } from '../../helpers/test-model.ts';

let model: string;
let tok: PromptTokenizer;
let paper: PromptTokenizer;
before(async () => {
  model = await testModel();
  tok = await PromptTokenizer.load(model, { format: 'chat-template' });
  paper = await PromptTokenizer.load(model, { format: 'paper-llama2' });
});

// Expected texts written by hand from the Llama-2 template in the test model's tokenizer_config.json,
// the tiny tokenizer's (the same as stories260k's and Llama-2-chat's): it strips contents and writes
// BOS before every [INST], " " + answer + " </s>" after.
test('chat record: prompt with generation prompt, full conversation with EOS', () => {
  const r = tok.render({
    shape: 'chat',
    messages: [
      { role: 'user', content: ' How do I do X? ' },
      { role: 'assistant', content: ' I cannot help.\n' },
    ],
  });
  assert.equal(r.prompt, '<s>[INST] How do I do X? [/INST]');
  assert.equal(r.full, '<s>[INST] How do I do X? [/INST] I cannot help. </s>');
});

test('system message goes inside the first [INST] block; multi-turn keeps all turns', () => {
  const r = tok.render({
    shape: 'chat',
    messages: [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'Bye' },
      { role: 'assistant', content: 'Goodbye' },
    ],
  });
  assert.equal(r.prompt, '<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]');
  assert.equal(r.full, r.prompt + ' Goodbye </s>');
});

test('alpaca / dolly / gsm8k become one user turn and one answer', () => {
  assert.deepEqual(tok.render({ shape: 'alpaca', instruction: 'Add.', input: '2 and 3', output: '5' }), {
    prompt: '<s>[INST] Add.\n\n2 and 3 [/INST]',
    full: '<s>[INST] Add.\n\n2 and 3 [/INST] 5 </s>',
  });
  assert.equal(tok.render({ shape: 'alpaca', instruction: 'Add.', input: '', output: '5' }).prompt, '<s>[INST] Add. [/INST]');
  assert.equal(
    tok.render({ shape: 'dolly', instruction: 'Who?', context: 'Ann met Bob.', response: 'Ann' }).full,
    '<s>[INST] Who?\n\nAnn met Bob. [/INST] Ann </s>',
  );
  assert.equal(tok.render({ shape: 'gsm8k', question: 'Q?', answer: 'A' }).full, '<s>[INST] Q? [/INST] A </s>');
});

test('template tokens: one BOS, one EOS, labels after the prompt', async () => {
  const c: ExampleContent = { shape: 'gsm8k', question: 'What is 2+2?', answer: 'It is 4.' };
  const [p] = await tok.tokenizeParts([c]);
  assert.ok(p !== undefined && !(p instanceof Error));
  const t = await tok.encode(c, { maxTokens: 512 });
  assert.deepEqual(Array.from(t.ids), p.fullIds);
  assert.equal(t.ids[0], 1);
  assert.equal(t.ids.filter((x) => x === 1).length, 1, 'the template BOS only, not a second one');
  assert.equal(t.ids.at(-1), 2);
  assert.equal(t.ids.filter((x) => x === 2).length, 1, 'the template EOS is not doubled');
  assert.deepEqual(p.fullIds.slice(0, p.promptIds.length), p.promptIds);
  assert.equal(t.labelCount, p.fullIds.length - p.promptIds.length);
  assert.equal(t.lossWeights[p.promptIds.length - 1], 0);
  assert.ok(t.lossWeights[p.promptIds.length]! > 0);
  // The template format is not the paper's (no system text, stripped contents).
  const paperIds = (await paper.encode(c, { maxTokens: 512 })).ids;
  assert.notDeepEqual(Array.from(paperIds), Array.from(t.ids));
});

test('a conversation the template rejects is a PromptShapeError', async () => {
  const c: ExampleContent = {
    shape: 'chat',
    messages: [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'c' },
    ],
  };
  assert.throws(() => tok.render(c), (e: unknown) => e instanceof PromptShapeError && /alternate/.test(e.message));
  const [r] = await tok.encodeMany([c], { maxTokens: 512 });
  assert.ok(r instanceof PromptShapeError);
});

test('no chat_template: ConfigError suggesting --format paper-llama2', async () => {
  assert.throws(
    () => new ChatTemplate(undefined, { bos_token: '<s>', eos_token: '</s>' }),
    (e: unknown) => e instanceof ConfigError && /no chat_template/.test(e.message) && /--format paper-llama2/.test(e.message),
  );
  const dir = mkdtempSync(join(tmpdir(), 'safesift-notemplate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(join(model, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  symlinkSync(join(model, 'config.json'), join(dir, 'config.json'));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
  await assert.rejects(PromptTokenizer.load(dir, { format: 'chat-template' }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /--format paper-llama2/);
    return true;
  });
  // The paper format needs no template.
  const p = await PromptTokenizer.load(dir, { format: 'paper-llama2' });
  assert.equal(p.eosId, 2);
});
