import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Vector } from 'apache-arrow';
import type { ExampleContent, RecordShape } from '../../../shared/src/corpus/example.ts';
import { DEFAULT_MAX_RECORD_BYTES, readCorpus } from '../../../shared/src/corpus/read-corpus.ts';
import { ConfigError, InputError } from '../../../shared/src/errors.ts';
import { chatColumn, collect, utf8Column, withTempDir, writeJsonLines, writeParquetFile } from './helpers.ts';

interface ShapeCase {
  records: Record<string, unknown>[];
  columns: Record<string, Vector>;
  expected: ExampleContent[];
}

const chats = [
  [{ role: 'user', content: 'Hi there' }, { role: 'assistant', content: ' Hello! \n' }],
  [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Q1' },
    { role: 'assistant', content: 'A1' },
    { role: 'user', content: 'Q2' },
    { role: 'assistant', content: 'A2' },
  ],
];

const cases: Record<RecordShape, ShapeCase> = {
  alpaca: {
    records: [
      { instruction: 'Add.', input: '2 and 3', output: '5' },
      { output: 'Blue.', instruction: 'Name a colour.', input: '' },
      { instruction: 'Greet.', input: null, output: 'Hi.', extra: 7 },
    ],
    columns: {
      instruction: utf8Column(['Add.', 'Name a colour.', 'Greet.']),
      input: utf8Column(['2 and 3', '', null]),
      output: utf8Column(['5', 'Blue.', 'Hi.']),
    },
    expected: [
      { shape: 'alpaca', instruction: 'Add.', input: '2 and 3', output: '5' },
      { shape: 'alpaca', instruction: 'Name a colour.', input: '', output: 'Blue.' },
      { shape: 'alpaca', instruction: 'Greet.', input: '', output: 'Hi.' },
    ],
  },
  dolly: {
    records: [
      { instruction: 'Summarise.', context: 'A long text.', response: 'Short.', category: 'summarization' },
      { instruction: 'Who?', context: '', response: 'Me.', category: 'open_qa' },
    ],
    columns: {
      instruction: utf8Column(['Summarise.', 'Who?']),
      context: utf8Column(['A long text.', '']),
      response: utf8Column(['Short.', 'Me.']),
      category: utf8Column(['summarization', 'open_qa']),
    },
    expected: [
      { shape: 'dolly', instruction: 'Summarise.', context: 'A long text.', response: 'Short.' },
      { shape: 'dolly', instruction: 'Who?', context: '', response: 'Me.' },
    ],
  },
  gsm8k: {
    records: [
      { question: 'What is 2+2?', answer: '2+2=<<2+2=4>>4\n#### 4' },
      { question: 'Half of 10?', answer: '#### 5' },
    ],
    columns: { question: utf8Column(['What is 2+2?', 'Half of 10?']), answer: utf8Column(['2+2=<<2+2=4>>4\n#### 4', '#### 5']) },
    expected: [
      { shape: 'gsm8k', question: 'What is 2+2?', answer: '2+2=<<2+2=4>>4\n#### 4' },
      { shape: 'gsm8k', question: 'Half of 10?', answer: '#### 5' },
    ],
  },
  chat: {
    records: chats.map((messages) => ({ messages })),
    columns: { messages: chatColumn(chats) },
    expected: chats.map((messages) => ({ shape: 'chat', messages }) as ExampleContent),
  },
};

async function writeAllFormats(dir: string, name: string, c: ShapeCase): Promise<string[]> {
  const jsonl = join(dir, `${name}.jsonl`);
  const json = join(dir, `${name}.json`);
  const parquet = join(dir, `${name}.parquet`);
  await writeJsonLines(jsonl, c.records);
  await writeFile(json, JSON.stringify(c.records, null, 2));
  await writeParquetFile(parquet, c.columns, { rowGroupSize: 1 });
  return [jsonl, json, parquet];
}

test('every shape is detected and read the same from JSON lines, a JSON array and Parquet', async () => {
  await withTempDir(async (dir) => {
    for (const [shape, c] of Object.entries(cases)) {
      const idsPerFile: string[][] = [];
      for (const path of await writeAllFormats(dir, shape, c)) {
        const { examples, errors } = await collect(readCorpus(path));
        assert.deepEqual(errors, [], path);
        assert.deepEqual(examples.map((e) => e.content), c.expected, path);
        assert.deepEqual(examples.map((e) => e.row), c.expected.map((_, i) => i));
        assert.ok(examples.every((e) => e.source === path));
        idsPerFile.push(examples.map((e) => e.id));
      }
      assert.deepEqual(idsPerFile[1], idsPerFile[0], `${shape}: same ids from .json as from .jsonl`);
      assert.deepEqual(idsPerFile[2], idsPerFile[0], `${shape}: same ids from .parquet as from .jsonl`);
      assert.equal(new Set(idsPerFile[0]).size, c.expected.length);
    }
  });
});

test('a forced shape overrides detection and reports what the records lack', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'alpaca.jsonl');
    await writeJsonLines(path, cases.alpaca.records);
    const { examples, errors } = await collect(readCorpus(path, { shape: 'gsm8k' }));
    assert.equal(examples.length, 0);
    assert.deepEqual(errors.map((e) => e.reason), Array(3).fill("missing field 'question'; missing field 'answer'"));

    // Records that fit both: dolly keys win detection, forcing alpaca reads them as alpaca.
    const both = join(dir, 'both.jsonl');
    await writeJsonLines(both, [{ instruction: 'I', input: 'in', output: 'out', context: 'ctx', response: 'resp' }]);
    assert.equal((await collect(readCorpus(both))).examples[0]?.content.shape, 'dolly');
    assert.deepEqual((await collect(readCorpus(both, { shape: 'alpaca' }))).examples[0]?.content, {
      shape: 'alpaca',
      instruction: 'I',
      input: 'in',
      output: 'out',
    });
  });
});

test('records before the first recognisable one are validated once the shape is known', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'late.jsonl');
    await writeJsonLines(path, [{ instruction: 'no output yet' }, 7, { question: 'q', answer: 'a' }, { question: 'q2' }]);
    const items = [];
    for await (const item of readCorpus(path)) items.push(item);
    assert.deepEqual(
      items.map((i) => (i.kind === 'error' ? [i.error.row, i.error.reason] : [i.example.row, i.example.content.shape])),
      [
        [0, "missing field 'question'; missing field 'answer'"],
        [1, 'record is not a JSON object (got number)'],
        [2, 'gsm8k'],
        [3, "missing field 'answer'"],
      ],
    );
  });
});

test('a file with no recognisable record reports every record as undetectable', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'junk.jsonl');
    await writeFile(path, '{"prompt":"p","completion":"c"}\n{"text":"t"}\nnot json\n');
    const { examples, errors } = await collect(readCorpus(path));
    assert.equal(examples.length, 0);
    assert.deepEqual(errors.map((e) => e.row), [0, 1, 2]);
    assert.equal(errors[0]?.reason, 'cannot detect record shape (expected alpaca, dolly, gsm8k or chat fields)');
    assert.equal(errors[1]?.reason, errors[0]?.reason);
    assert.match(errors[2]?.reason ?? '', /^malformed JSON/);
  });
});

test('extensions pick the reader: .ndjson and upper case work, others are a ConfigError naming the file', async () => {
  await withTempDir(async (dir) => {
    const ndjson = join(dir, 'data.NDJSON');
    await writeJsonLines(ndjson, cases.gsm8k.records);
    assert.equal((await collect(readCorpus(ndjson))).examples.length, 2);

    for (const name of ['data.csv', 'data', 'data.jsonl.gz']) {
      const path = join(dir, name);
      await writeFile(path, '');
      await assert.rejects(collect(readCorpus(path)), (err: unknown) => err instanceof ConfigError && err.message.includes(path));
    }
  });
});

test('an unreadable file is an InputError for the whole file', async () => {
  await withTempDir(async (dir) => {
    const unreadable = [join(dir, 'missing.jsonl'), join(dir, 'missing.parquet'), join(dir, 'folder.json')];
    await mkdir(join(dir, 'folder.json'));
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.jsonl');
      await writeJsonLines(locked, cases.gsm8k.records);
      await chmod(locked, 0o000);
      unreadable.push(locked);
    }
    for (const path of unreadable) {
      await assert.rejects(collect(readCorpus(path)), (err: unknown) => {
        assert.ok(err instanceof InputError, String(err));
        assert.equal(err.source, path);
        assert.equal(err.row, -1);
        assert.match(err.reason, /cannot read file: (ENOENT|EISDIR|EACCES)/);
        return true;
      });
    }
  });
});

test('bad options are a ConfigError; the default record limit is 4 MiB', async () => {
  assert.equal(DEFAULT_MAX_RECORD_BYTES, 4 * 1024 * 1024);
  for (const options of [{ limit: -1 }, { limit: 1.5 }, { maxRecordBytes: 0 }, { shape: 'sharegpt' as RecordShape }]) {
    await assert.rejects(collect(readCorpus('x.jsonl', options)), ConfigError);
  }
  await withTempDir(async (dir) => {
    const path = join(dir, 'zero.jsonl');
    await writeJsonLines(path, cases.gsm8k.records);
    assert.deepEqual(await collect(readCorpus(path, { limit: 0 })), { examples: [], errors: [] });
  });
});
