import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { exampleId } from '../../../shared/src/corpus/example-id.ts';
import { localFiles } from '../../../shared/src/corpus/local-sources.ts';
import { OutputError } from '../../../shared/src/errors.ts';
import { compileFilterOptions, type RawFilterOptions } from '../../../shared/src/filter/filter-options.ts';
import { runFilter } from '../../../shared/src/filter/run-filter.ts';
import { alpaca, asRecord, chatColumn, utf8Column, withTempDir, writeFakeAudit, writeParquetFile } from './helpers.ts';

const noS3 = () => {
  throw new Error('no S3 in unit tests');
};
const run = (raw: RawFilterOptions) => runFilter(compileFilterOptions(raw), { s3: noS3 });

// Eight audited records: rows 1, 4 and 6 are the top-3.
const contents = alpaca(8);
const grads = [0.1, 0.9, 0.2, 0.3, 0.8, 0.4, 0.7, 0.0];
const audit = (dir: string, source = 'corpus.jsonl', k = 3) =>
  writeFakeAudit(join(dir, 'audit'), contents.map((content, row) => ({ content, source, row, grad: grads[row]! })), { k });
const FLAGGED = [1, 4, 6];

async function readParquet(path: string) {
  const file = await localFiles.openBuffer(path);
  try {
    const metadata = await parquetMetadataAsync(file);
    return { metadata, rows: await parquetReadObjects({ file, metadata, compressors }) };
  } finally {
    await file.close();
  }
}

test('JSON lines: the copy is the input without the flagged lines, byte for byte; flagged.jsonl has them with their scores', async () => {
  await withTempDir(async (dir) => {
    await audit(dir);
    const unaudited = asRecord(alpaca(1, 'new')[0]!);
    // CRLF and LF lines, a blank line, a record that is no example, one not audited, extra fields and spacing kept.
    const lines = contents.map((c, i) => (i === 2 ? `{ "output": "${(c as { output: string }).output}", "instruction": "${(c as { instruction: string }).instruction}", "extra": 1.0 }\r\n` : `${JSON.stringify(asRecord(c))}\n`));
    const text = [...lines.slice(0, 3), '\n', '{"not":"an example"}\n', `${JSON.stringify(unaudited)}\n`, ...lines.slice(3)].join('');
    const input = join(dir, 'corpus.jsonl');
    await writeFile(input, text);

    const summary = await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'out') });
    const flaggedLines = new Set(FLAGGED.map((r) => lines[r]));
    const expected = [...lines.slice(0, 3), '\n', '{"not":"an example"}\n', `${JSON.stringify(unaudited)}\n`, ...lines.slice(3)].filter((l) => !flaggedLines.has(l)).join('');
    assert.equal(await readFile(join(dir, 'out', 'corpus.jsonl'), 'utf8'), expected);
    assert.deepEqual(summary.inputs[0], {
      source: input, output: join(dir, 'out', 'corpus.jsonl'), format: 'jsonl',
      records: 10, written: 7, flagged: 3, not_audited: 1, invalid: 1, missing_ids: 0,
    });
    assert.equal(summary.counts.found_ids, 3);
    assert.match(summary.warnings.join('\n'), /1 record has no score row/);

    const logged = (await readFile(join(dir, 'out', 'flagged.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(logged.map((l) => l.id), FLAGGED.map((r) => exampleId(contents[r]!)));
    // Rows as this file numbers them (rows 4 and 6 come after the two inserted records).
    assert.deepEqual(logged.map((l) => l.row), [1, 6, 8]);
    assert.deepEqual(logged[0], { id: exampleId(contents[1]!), source: input, row: 1, score: 0.9, rep_score: 0, grad_score: 0.9, record: asRecord(contents[1]!) });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'out', 'filter-summary.json'), 'utf8')), JSON.parse(JSON.stringify(summary)));

    // --keep-flagged: the flagged lines alone.
    await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'review'), keepFlagged: true });
    assert.equal(await readFile(join(dir, 'review', 'corpus.jsonl'), 'utf8'), FLAGGED.map((r) => lines[r]).join(''));
  });
});

test('JSON arrays: the kept elements in order, each with its own bytes', async () => {
  await withTempDir(async (dir) => {
    await audit(dir, 'corpus.json');
    const elements = contents.map((c) => JSON.stringify({ ...asRecord(c), weight: 1.0 }).replace('"weight":1', '"weight": 1.0'));
    const input = join(dir, 'corpus.json');
    await writeFile(input, `[\n  ${elements.join(',\n  ')}\n]\n`);
    const summary = await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'out') });
    const copy = await readFile(join(dir, 'out', 'corpus.json'), 'utf8');
    const kept = elements.filter((_, row) => !FLAGGED.includes(row));
    assert.equal(copy, `[\n${kept.join(',\n')}\n]\n`);
    assert.equal((JSON.parse(copy) as unknown[]).length, 5);
    assert.deepEqual([summary.inputs[0]!.written, summary.inputs[0]!.flagged], [5, 3]);
    // Everything flagged: an empty array.
    await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'all'), threshold: -1 });
    assert.equal(await readFile(join(dir, 'all', 'corpus.json'), 'utf8'), '[]\n');
  });
});

test('Parquet: the kept rows with the same schema (nested chat messages), key-value metadata and codec, over several row groups', async () => {
  await withTempDir(async (dir) => {
    const chats: ExampleContent[] = Array.from({ length: 8 }, (_, i) => ({ shape: 'chat', messages: [{ role: 'user', content: `question ${i}` }, { role: 'assistant', content: `answer ${i}` }] }));
    await writeFakeAudit(join(dir, 'audit'), chats.map((content, row) => ({ content, source: 'chats.parquet', row, grad: grads[row]! })), { k: 3 });
    const input = join(dir, 'chats.parquet');
    const messages = chats.map((c) => (c.shape === 'chat' ? c.messages : []));
    await writeParquetFile(input, { messages: chatColumn(messages), note: utf8Column(chats.map((_, i) => (i % 3 === 0 ? null : `note ${i}`))) }, { rowGroupSize: 3, metadata: new Map([['origin', 'unit test']]) });

    const summary = await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'out') });
    assert.deepEqual([summary.inputs[0]!.records, summary.inputs[0]!.written, summary.inputs[0]!.flagged], [8, 5, 3]);
    const before = await readParquet(input);
    const after = await readParquet(join(dir, 'out', 'chats.parquet'));
    assert.deepEqual(after.rows, before.rows.filter((_, row) => !FLAGGED.includes(row)));
    assert.deepEqual(after.metadata.schema, before.metadata.schema);
    assert.deepEqual(after.metadata.key_value_metadata?.find((kv) => kv.key === 'origin'), { key: 'origin', value: 'unit test' });
    assert.equal(after.metadata.row_groups[0]?.columns[0]?.meta_data?.codec, 'SNAPPY');
    const logged = JSON.parse((await readFile(join(dir, 'out', 'flagged.jsonl'), 'utf8')).split('\n')[0]!) as { record: unknown; row: number };
    assert.deepEqual([logged.row, logged.record], [1, before.rows[1]]);

    // Every row flagged: an empty table, same schema. Only the flagged ones: those three.
    await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'none'), threshold: -1 });
    const empty = await readParquet(join(dir, 'none', 'chats.parquet'));
    assert.deepEqual([empty.rows.length, empty.metadata.schema], [0, before.metadata.schema]);
    await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'review'), keepFlagged: true });
    assert.deepEqual((await readParquet(join(dir, 'review', 'chats.parquet'))).rows, FLAGGED.map((r) => before.rows[r]));
  });
});

test('a corpus changed since the audit: the flagged ids it lacks are counted and named, per file; ids of files not given are told apart', async () => {
  await withTempDir(async (dir) => {
    await writeFakeAudit(join(dir, 'audit'), [
      ...contents.map((content, row) => ({ content, source: '/old/place/corpus.jsonl', row, grad: grads[row]! })),
      { content: alpaca(1, 'other')[0]!, source: 's3://b/other.jsonl', row: 0, grad: 0.95 },
    ], { k: 4 });
    const edited = contents.map((c, row) => (row === 4 ? { ...asRecord(c), output: 'edited since the audit' } : asRecord(c)));
    const input = join(dir, 'corpus.jsonl');
    await writeFile(input, edited.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const summary = await run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'out') });
    const c = summary.inputs[0]!;
    assert.deepEqual([c.records, c.flagged, c.written, c.missing_ids, c.not_audited], [8, 2, 6, 1, 1]);
    assert.deepEqual(summary.missing, [{ id: exampleId(contents[4]!), audit_source: '/old/place/corpus.jsonl', audit_row: 4, score: 0.8 }]);
    assert.deepEqual(summary.other_files, { 'other.jsonl': 1 });
    assert.equal(summary.counts.missing_ids, 1);
    assert.match(summary.warnings[0]!, new RegExp(`1 flagged id was not found.*${exampleId(contents[4]!)}`));
    assert.ok(summary.warnings.some((w) => /other\.jsonl/.test(w)));
  });
});

test('an --out that is a file is an OutputError before anything is read; a broken input names itself', async () => {
  await withTempDir(async (dir) => {
    await audit(dir);
    const input = join(dir, 'corpus.jsonl');
    await writeFile(input, contents.map((c) => `${JSON.stringify(asRecord(c))}\n`).join(''));
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(run({ scores: join(dir, 'audit'), data: [input], out: join(dir, 'file') }), (err: unknown) => err instanceof OutputError && /is a file/.test(err.message));
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '[{"instruction":"a","output":"b"}, {"instruction":');
    await assert.rejects(run({ scores: join(dir, 'audit'), data: [input, broken], out: join(dir, 'out') }), (err: unknown) => err instanceof Error && err.name === 'InputError' && err.message.startsWith(broken));
    // The first input's copy was committed; no summary says the run finished.
    assert.ok((await readFile(join(dir, 'out', 'corpus.jsonl'), 'utf8')).length > 0);
    await assert.rejects(readFile(join(dir, 'out', 'filter-summary.json')), /ENOENT/);
  });
});

test('a new run first removes an older filter-summary.json and temp files a killed run left; other files stay', async () => {
  await withTempDir(async (dir) => {
    await audit(dir);
    const input = join(dir, 'corpus.jsonl');
    await writeFile(input, contents.map((c) => `${JSON.stringify(asRecord(c))}\n`).join(''));
    const out = join(dir, 'out');
    await run({ scores: join(dir, 'audit'), data: [input], out });
    await writeFile(join(out, 'corpus.jsonl.4242-deadbeef.partial'), 'half');
    await writeFile(join(out, 'notes.txt'), 'mine');
    await writeFile(join(dir, 'broken.json'), '[');
    await assert.rejects(run({ scores: join(dir, 'audit'), data: [join(dir, 'broken.json')], out }), /broken\.json/);
    assert.deepEqual((await readdir(out)).sort(), ['corpus.jsonl', 'flagged.jsonl', 'notes.txt']);
  });
});
