import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { readCorpus } from '../../../shared/src/corpus/read-corpus.ts';
import { ANCHOR_FILES, GSM8K_SAMPLE, GSM8K_SAMPLE_RECORDS } from '../../helpers/test-data.ts';
import { collect } from './helpers.ts';

// The tests' own data (test/assets/, demo/anchors/) has the shapes the tests take it for.

test('the GSM8K sample: 60 gsm8k records equal to the file lines, worked answers ending "#### N"', async () => {
  const { examples, errors } = await collect(readCorpus(GSM8K_SAMPLE));
  assert.deepEqual(errors, []);
  const lines = (await readFile(GSM8K_SAMPLE, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { question: string; answer: string });
  assert.equal(lines.length, GSM8K_SAMPLE_RECORDS);
  assert.deepEqual(
    examples.map((e) => [e.row, e.content]),
    lines.map((l, row) => [row, { shape: 'gsm8k', question: l.question, answer: l.answer }]),
  );
  assert.equal(new Set(examples.map((e) => e.id)).size, GSM8K_SAMPLE_RECORDS, 'no two records alike');
  for (const { question, answer } of lines) {
    assert.match(question, /^[A-Za-z]/, 'a question starts with a letter (the incremental test flips its case)');
    assert.match(answer, /\n#### \d+(\.\d+)?$/, answer);
    // Calculator annotations as GSM8K writes them: <<expression=result>>, the result repeated after.
    const annotations = [...answer.matchAll(/<<([\d\s.+\-*/()]+)=(\d+(?:\.\d+)?)>>(\d+(?:\.\d+)?)/g)];
    assert.ok(annotations.length > 0, answer);
    assert.equal(annotations.length, answer.split('<<').length - 1, answer);
    for (const [, , result, after] of annotations) assert.equal(after, result, answer);
  }
});

test('the anchor sets: 10 chat records each, one user turn and one answer', async () => {
  for (const [name, path] of Object.entries(ANCHOR_FILES)) {
    const { examples, errors } = await collect(readCorpus(path));
    assert.deepEqual(errors, [], name);
    assert.equal(examples.length, 10, name);
    for (const e of examples) {
      assert.equal(e.content.shape, 'chat', name);
      if (e.content.shape === 'chat') assert.deepEqual(e.content.messages.map((m) => m.role), ['user', 'assistant'], name);
    }
  }
});
