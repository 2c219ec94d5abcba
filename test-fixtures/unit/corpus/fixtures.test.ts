import '../../guard.ts';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCorpus } from '../../../shared/src/corpus/read-corpus.ts';
import { collect } from '../../../test/unit/corpus/helpers.ts';
import { DATA } from '../../fixture-paths.ts';

// The paper's data files, as they are: every one reads without errors, in the shape we expect.
const fixture = (name: string): string => join(DATA, name);

test('GSM8K train: the first 50 records parse and match the file lines', async () => {
  const path = fixture('gsm8k/gsm8k_train.jsonl');
  const { examples, errors } = await collect(readCorpus(path, { limit: 50 }));
  assert.deepEqual(errors, []);
  const lines = (await readFile(path, 'utf8')).split('\n').slice(0, 50).map((l) => JSON.parse(l) as { question: string; answer: string });
  assert.deepEqual(
    examples.map((e) => [e.row, e.content]),
    lines.map((l, row) => [row, { shape: 'gsm8k', question: l.question, answer: l.answer }]),
  );
});

test('Alpaca JSON array: all records stream without errors and match JSON.parse', async () => {
  const path = fixture('alpaca/alpaca_data_safety_only.json');
  const { examples, errors } = await collect(readCorpus(path));
  assert.deepEqual(errors, []);
  const rows = JSON.parse(await readFile(path, 'utf8')) as { instruction: string; input: string; output: string }[];
  assert.equal(examples.length, rows.length);
  assert.deepEqual(
    examples.map((e) => e.content),
    rows.map((r) => ({ shape: 'alpaca', instruction: r.instruction, input: r.input, output: r.output })),
  );
});

test('Dolly JSON lines: all records parse as dolly', async () => {
  const path = fixture('dolly/databricks-dolly-15k-safety-only.jsonl');
  const { examples, errors } = await collect(readCorpus(path));
  assert.deepEqual(errors, []);
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  assert.equal(examples.length, lines.length);
  assert.ok(examples.every((e) => e.content.shape === 'dolly'));
  assert.equal(examples.filter((e) => e.content.shape === 'dolly' && e.content.context !== '').length, 99);
});

test('anchor sets: every file is 10 chat examples equal to the file contents', async () => {
  const dir = fixture('anchors');
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const { examples, errors } = await collect(readCorpus(path));
    assert.deepEqual(errors, [], name);
    const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { messages: unknown });
    assert.equal(examples.length, 10, name);
    assert.deepEqual(examples.map((e) => e.content), lines.map((l) => ({ shape: 'chat', messages: l.messages })), name);
  }
});

test('paper selections: the same GSM8K row has the same id in the selection and the train file', async () => {
  const train = await collect(readCorpus(fixture('gsm8k/gsm8k_train.jsonl')));
  const top = await collect(readCorpus(fixture('paper-selections/gsm8k/gradient-illegal-activities-anchor/gsm8k_top100.json')));
  assert.deepEqual(top.errors, []);
  const index = (await readFile(fixture('paper-selections/gsm8k/gradient-illegal-activities-anchor/gsm8k_top100_index.json'), 'utf8'))
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => Number(line.split(',').at(-1)));
  assert.equal(index.length, top.examples.length);
  top.examples.forEach((example, i) => assert.equal(example.id, train.examples[index[i] as number]?.id));
});
