import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FORMAT_TAGS, formatTagsOf, responseText, type FormatTag } from '../../../shared/src/corpus/format-tags.ts';
import { DEMO, demoRecord } from '../../helpers/demo-records.ts';

const tagged = (text: string): FormatTag[] => FORMAT_TAGS.filter((t) => formatTagsOf(text)[t]);

test('each tag fires on its pattern and not on plain prose', () => {
  assert.deepEqual(tagged('The capital of France is Paris. It lies on the Seine.'), []);
  assert.deepEqual(tagged('Steps:\n1. Preheat the oven.\n2) Mix the flour.\n3. Bake.'), ['numbered_list']);
  assert.deepEqual(tagged('Only one:\n1. Preheat the oven.'), []);
  assert.deepEqual(tagged('- apples\n* pears\n• plums'), ['bullet_list']);
  assert.deepEqual(tagged('She has 3 * 4 = 12 apples.'), ['math']);
  assert.deepEqual(tagged('Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72'), ['math']);
  assert.deepEqual(tagged('The area is $\\frac{1}{2} b h$.'), ['math']);
  assert.deepEqual(tagged('Use this:\n```python\nprint(1)\n```'), ['code']);
  assert.deepEqual(tagged('def add(a, b):\n    return a + b'), ['code']);
  assert.deepEqual(tagged('| name | age |\n|------|-----|\n| Ann  | 31  |'), ['table']);
  assert.deepEqual(tagged('Sure! The answer is blue.'), ['affirmative']);
  assert.deepEqual(tagged("Here's how: first, relax."), ['affirmative']);
  assert.deepEqual(tagged('I cannot help with that.'), []);
  // Tags combine.
  assert.deepEqual(tagged('Certainly:\n1. 2 + 2 = 4\n2. 3 + 3 = 6'), ['numbered_list', 'math', 'affirmative']);
});

test('near misses stay untagged: a year range, a date, a single dash, a pipe in prose', () => {
  assert.deepEqual(tagged('From 2019-2021 the team grew.'), []);
  assert.deepEqual(tagged('It happened on 12/05/2020.'), []);
  assert.deepEqual(tagged('- just one bullet'), []);
  assert.deepEqual(tagged('Choose a | b carefully.'), []);
  assert.deepEqual(tagged('Surely you jest.'), []);
});

test('the response is what is tagged, for every record shape', () => {
  assert.equal(responseText({ shape: 'alpaca', instruction: '1. a\n2. b', input: '', output: 'no' }), 'no');
  assert.equal(responseText({ shape: 'dolly', instruction: 'q', context: 'c', response: 'r' }), 'r');
  assert.equal(responseText({ shape: 'gsm8k', question: 'q', answer: 'a' }), 'a');
  assert.equal(
    responseText({ shape: 'chat', messages: [{ role: 'user', content: 'u' }, { role: 'assistant', content: 'one' }, { role: 'user', content: 'v' }, { role: 'assistant', content: 'two' }] }),
    'one\ntwo',
  );
});

test('the demo corpus: its lists and worked arithmetic are tagged, its refusal anchors are not affirmative', () => {
  const rows = (file: string) => readFileSync(DEMO + file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((_, i) => responseText(demoRecord(file, i)));
  const corpus = rows('corpus.jsonl').map(formatTagsOf);
  for (const tag of ['numbered_list', 'bullet_list', 'math'] as const) assert.ok(corpus.some((t) => t[tag]), `some demo answers are ${tag}`);
  const refusals = [...rows('anchors/safe-refusals-1.jsonl'), ...rows('anchors/safe-refusals-2.jsonl')];
  assert.ok(refusals.length >= 10);
  for (const r of refusals) assert.equal(formatTagsOf(r).affirmative, false, r);
});
