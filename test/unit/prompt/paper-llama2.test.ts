import assert from 'node:assert/strict';
import { test } from 'node:test';
import { paperExample, renderPaperLlama2 } from '../../../shared/src/prompt/paper-llama2.ts';
import { PromptShapeError } from '../../../shared/src/prompt/prompt-errors.ts';

// Expected strings written out by hand from method.md §1.
const S1 =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.';
const S2 =
  'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.';

test('alpaca with input uses S2 and "### Input:"', () => {
  const r = renderPaperLlama2({ shape: 'alpaca', instruction: 'Add the numbers.', input: '2 and 3', output: '5' });
  assert.equal(
    r.prompt,
    '[INST] <<SYS>>\n' + S2 + '\n<</SYS>>\n\n### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n [/INST]',
  );
  assert.equal(r.response, '5');
  assert.equal(paperExample(r), r.prompt + ' 5 ');
});

test('alpaca with empty input uses S1 and no input block', () => {
  const r = renderPaperLlama2({ shape: 'alpaca', instruction: 'Say hi.', input: '', output: 'Hi!' });
  assert.equal(r.prompt, '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\n### Instruction:\nSay hi.\n\n### Response:\n [/INST]');
  assert.equal(paperExample(r), '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\n### Instruction:\nSay hi.\n\n### Response:\n [/INST] Hi! ');
});

test('dolly with context keeps S1 and writes "Input:" without ###', () => {
  const r = renderPaperLlama2({ shape: 'dolly', instruction: 'Who?', context: 'Ann met Bob.', response: 'Ann' });
  assert.equal(
    r.prompt,
    '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\n### Instruction:\nWho?\n\nInput:\nAnn met Bob.\n\n### Response:\n [/INST]',
  );
  assert.equal(r.response, 'Ann');
});

test('dolly without context is rendered as alpaca without input', () => {
  const r = renderPaperLlama2({ shape: 'dolly', instruction: 'Who?', context: '', response: 'Ann' });
  assert.equal(r.prompt, '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\n### Instruction:\nWho?\n\n### Response:\n [/INST]');
});

test('gsm8k uses question as instruction and answer as response', () => {
  const r = renderPaperLlama2({ shape: 'gsm8k', question: 'What is 1+1?', answer: '1+1=<<1+1=2>>2\n#### 2' });
  assert.equal(r.prompt, '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\n### Instruction:\nWhat is 1+1?\n\n### Response:\n [/INST]');
  assert.equal(paperExample(r).endsWith(' [/INST] 1+1=<<1+1=2>>2\n#### 2 '), true);
});

test('chat anchors: S1 system, raw user content, contents not stripped', () => {
  const r = renderPaperLlama2({
    shape: 'chat',
    messages: [
      { role: 'user', content: 'How do I do X? ' },
      { role: 'assistant', content: ' I cannot help.\n' },
    ],
  });
  assert.equal(r.prompt, '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\nHow do I do X?  [/INST]');
  assert.equal(r.response, ' I cannot help.\n');
  assert.equal(paperExample(r), '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\nHow do I do X?  [/INST]  I cannot help.\n ');
});

test('chat: system messages ignored, last user before the final answer used', () => {
  const r = renderPaperLlama2({
    shape: 'chat',
    messages: [
      { role: 'system', content: 'be terse' },
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'one' },
      { role: 'user', content: 'second' },
      { role: 'assistant', content: 'two' },
    ],
  });
  assert.equal(r.prompt, '[INST] <<SYS>>\n' + S1 + '\n<</SYS>>\n\nsecond [/INST]');
  assert.equal(r.response, 'two');
});

test('chat without a final assistant message is a PromptShapeError', () => {
  assert.throws(
    () => renderPaperLlama2({ shape: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    PromptShapeError,
  );
  assert.throws(
    () => renderPaperLlama2({ shape: 'chat', messages: [{ role: 'assistant', content: 'hi' }] }),
    PromptShapeError,
  );
});
