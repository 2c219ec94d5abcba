import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { exampleId } from '../../../shared/src/corpus/example-id.ts';

test('ids are 32 hex digits and depend only on content', () => {
  const a: ExampleContent = { shape: 'alpaca', instruction: 'i', input: '', output: 'o' };
  const reordered = { output: 'o', input: '', shape: 'alpaca', instruction: 'i' } as ExampleContent;
  assert.match(exampleId(a), /^[0-9a-f]{32}$/);
  assert.equal(exampleId(a), exampleId({ ...a }));
  assert.equal(exampleId(a), exampleId(reordered));
});

test('any change of content, shape or field boundaries changes the id', () => {
  const ids = [
    exampleId({ shape: 'alpaca', instruction: 'ab', input: 'c', output: 'o' }),
    exampleId({ shape: 'alpaca', instruction: 'a', input: 'bc', output: 'o' }),
    exampleId({ shape: 'alpaca', instruction: 'ab', input: 'c', output: 'o ' }),
    exampleId({ shape: 'dolly', instruction: 'ab', context: 'c', response: 'o' }),
    exampleId({ shape: 'gsm8k', question: 'ab', answer: 'c' }),
    exampleId({ shape: 'gsm8k', question: 'ab"', answer: 'c' }),
    exampleId({ shape: 'chat', messages: [{ role: 'user', content: 'ab' }, { role: 'assistant', content: 'c' }] }),
    exampleId({ shape: 'chat', messages: [{ role: 'system', content: 'ab' }, { role: 'assistant', content: 'c' }] }),
    exampleId({ shape: 'chat', messages: [{ role: 'user', content: 'ab' }, { role: 'assistant', content: 'c' }, { role: 'assistant', content: '' }] }),
  ];
  assert.equal(new Set(ids).size, ids.length);
});
