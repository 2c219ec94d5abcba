import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectShape, validateRecord } from '../../../shared/src/corpus/record-shapes.ts';

const reason = (result: ReturnType<typeof validateRecord>): string => (result.ok ? 'ok' : result.reason);

test('detection looks at keys, in the order chat, gsm8k, dolly, alpaca', () => {
  assert.equal(detectShape({ messages: 'anything' }), 'chat');
  assert.equal(detectShape({ question: 1, answer: 2 }), 'gsm8k');
  assert.equal(detectShape({ instruction: 'i', response: 'r' }), 'dolly');
  assert.equal(detectShape({ instruction: 'i', context: '' }), 'dolly');
  assert.equal(detectShape({ instruction: 'i', output: 'o' }), 'alpaca');
  assert.equal(detectShape({ instruction: 'i', input: '' }), 'alpaca');
  assert.equal(detectShape({ instruction: 'i' }), undefined);
  assert.equal(detectShape({ question: 'q' }), undefined);
  assert.equal(detectShape(['instruction', 'output']), undefined);
  assert.equal(detectShape(null), undefined);
});

test('field errors name the field and what was found', () => {
  assert.equal(reason(validateRecord('alpaca', { instruction: 'i', output: 5 })), "field 'output' must be a string, got number");
  assert.equal(reason(validateRecord('alpaca', { instruction: 'i', input: false, output: 'o' })), "field 'input' must be a string, got boolean");
  assert.equal(reason(validateRecord('dolly', { instruction: 'i', context: '' })), "missing field 'response'");
  assert.equal(reason(validateRecord('dolly', { instruction: 'i', response: '\n ' })), "empty response field 'response'");
  assert.equal(reason(validateRecord('gsm8k', { question: '', answer: '4' })), "empty question field 'question'");
  assert.equal(reason(validateRecord('gsm8k', { question: { q: 1 }, answer: null })), "field 'question' must be a string, got object; field 'answer' must be a string, got null");
  assert.equal(reason(validateRecord('gsm8k', 'text')), 'record is not a JSON object (got string)');
});

test('optional fields may be missing, null or empty; extra fields are dropped', () => {
  for (const input of [undefined, null, '']) {
    const result = validateRecord('alpaca', { instruction: 'i', input, output: 'o', id: 9 });
    assert.deepEqual(result, { ok: true, content: { shape: 'alpaca', instruction: 'i', input: '', output: 'o' } });
  }
  const dolly = validateRecord('dolly', { instruction: 'i', response: 'r', category: 'open_qa' });
  assert.deepEqual(dolly, { ok: true, content: { shape: 'dolly', instruction: 'i', context: '', response: 'r' } });
});

test('chat records need a user turn and a non-empty final assistant turn', () => {
  const user = { role: 'user', content: 'hi' };
  const assistant = { role: 'assistant', content: 'hello' };
  assert.equal(reason(validateRecord('chat', { messages: [user, assistant] })), 'ok');
  assert.equal(reason(validateRecord('chat', { messages: [] })), "field 'messages' is empty");
  assert.equal(reason(validateRecord('chat', { messages: [assistant, user] })), "the last message must be from the assistant, got 'user'");
  assert.equal(reason(validateRecord('chat', { messages: [{ role: 'system', content: 's' }, assistant] })), 'no user message before the final assistant message');
  assert.equal(reason(validateRecord('chat', { messages: [user, { role: 'assistant', content: '  ' }] })), "empty response field 'messages[1].content'");
  assert.equal(reason(validateRecord('chat', { messages: [{ role: 'bot', content: 'x' }, assistant] })), "field 'messages[0].role' must be one of system, user, assistant, got \"bot\"");
  assert.equal(reason(validateRecord('chat', { messages: [user, { role: 'assistant', content: 3 }] })), "field 'messages[1].content' must be a string, got number");
  assert.equal(reason(validateRecord('chat', { messages: [user, { role: 'assistant' }] })), "missing field 'messages[1].content'");
  assert.equal(reason(validateRecord('chat', { messages: 'hi' })), "field 'messages' must be an array, got string");
  // Contents are kept exactly (not trimmed), and extra message keys are dropped.
  const kept = validateRecord('chat', { messages: [{ ...user, name: 'x' }, { role: 'assistant', content: ' hello\n' }] });
  assert.deepEqual(kept.ok && kept.content, { shape: 'chat', messages: [user, { role: 'assistant', content: ' hello\n' }] });
});
