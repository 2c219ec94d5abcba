import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readCorpus } from '../../../shared/src/corpus/read-corpus.ts';
import { writeBadCorpus } from '../../helpers/bad-corpus.ts';
import { collect, collectAll, withTempDir } from './helpers.ts';

test('every bad record becomes an error at its row and every good one an example', async () => {
  await withTempDir(async (dir) => {
    const corpus = await writeBadCorpus(dir);
    const items = await collectAll(readCorpus(corpus.path));
    const { examples, errors } = await collect(items);

    assert.deepEqual(examples.map((e) => e.row), corpus.goodRows);
    assert.deepEqual(errors.map((e) => e.row), corpus.badRows.map((b) => b.row));
    for (const expected of corpus.badRows) {
      const error = errors.find((e) => e.row === expected.row);
      assert.ok(error, `row ${expected.row} has an error`);
      assert.ok(error.reason.includes(expected.reasonIncludes), `row ${expected.row}: '${error.reason}' mentions '${expected.reasonIncludes}'`);
      assert.equal(error.source, corpus.path);
    }
    // Items come out in row order, one per record.
    const rows = items.map((i) => (i.kind === 'example' ? i.example.row : i.error.row));
    assert.deepEqual(rows, [...rows].sort((a, b) => a - b));
    assert.equal(new Set(rows).size, rows.length);
    // The good rows carry their real content (n in the text equals the row).
    for (const example of examples) {
      assert.equal(example.content.shape, 'alpaca');
      assert.equal(example.source, corpus.path);
      if (example.content.shape === 'alpaca') assert.match(example.content.output, new RegExp(`^Fact ${example.row}:`));
    }
  });
});

test('a smaller limit keeps rows 0..limit-1, bad ones included', async () => {
  await withTempDir(async (dir) => {
    const corpus = await writeBadCorpus(dir);
    const items = await collectAll(readCorpus(corpus.path, { limit: 4 }));
    assert.deepEqual(
      items.map((i) => (i.kind === 'example' ? ['example', i.example.row] : ['error', i.error.row])),
      [['example', 0], ['error', 1], ['example', 2], ['error', 3]],
    );
  });
});

test('raising --max-record-bytes lets the 10 MiB record through', async () => {
  await withTempDir(async (dir) => {
    const corpus = await writeBadCorpus(dir);
    const { examples } = await collect(readCorpus(corpus.path, { maxRecordBytes: 16 * 1024 * 1024 }));
    const big = examples.find((e) => e.row === 5);
    assert.ok(big && big.content.shape === 'alpaca');
    assert.equal(big.content.output.length > 10_000_000, true);
  });
});
