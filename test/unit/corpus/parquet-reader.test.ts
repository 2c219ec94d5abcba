import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Compression } from 'parquet-wasm';
import { localFiles, type ByteSourceOpener } from '../../../shared/src/corpus/local-sources.ts';
import { readCorpus, readCorpusWith } from '../../../shared/src/corpus/read-corpus.ts';
import { InputError } from '../../../shared/src/errors.ts';
import { binaryColumn, collect, int32Column, utf8Column, withTempDir, writeParquetFile } from './helpers.ts';

test('Parquet rows across several row groups keep their row numbers, and limit stops early', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'alpaca.parquet');
    const n = 10;
    await writeParquetFile(
      path,
      {
        instruction: utf8Column(Array.from({ length: n }, (_, i) => `instruction ${i}`)),
        input: utf8Column(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : i % 3 === 1 ? '' : `input ${i}`))),
        output: utf8Column(Array.from({ length: n }, (_, i) => `output ${i}`)),
      },
      { rowGroupSize: 3 },
    );
    const all = await collect(readCorpus(path));
    assert.equal(all.errors.length, 0);
    assert.deepEqual(all.examples.map((e) => e.row), [...Array(n).keys()]);
    for (const e of all.examples) {
      assert.deepEqual(e.content, {
        shape: 'alpaca',
        instruction: `instruction ${e.row}`,
        input: e.row % 3 === 2 ? `input ${e.row}` : '',
        output: `output ${e.row}`,
      });
    }
    const limited = await collect(readCorpus(path, { limit: 4 }));
    assert.deepEqual(limited.examples.map((e) => e.row), [0, 1, 2, 3]);
  });
});

test('Parquet is read one row group at a time: a small limit fetches a fraction of the file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'big.parquet');
    const n = 80;
    // Distinct, poorly compressible text so each row group really is ~1 MB on disk.
    const text = (i: number): string => Array.from({ length: 12_000 }, (_, k) => ((i * 7919 + k * 104729) % 1_000_003).toString(36)).join(' ');
    await writeParquetFile(
      path,
      { question: utf8Column(Array.from({ length: n }, (_, i) => `q${i}`)), answer: utf8Column(Array.from({ length: n }, (_, i) => text(i))) },
      { rowGroupSize: 10, compression: Compression.UNCOMPRESSED },
    );
    let fetched = 0;
    const counting: ByteSourceOpener = {
      ...localFiles,
      async openBuffer(location) {
        const inner = await localFiles.openBuffer(location);
        return {
          byteLength: inner.byteLength,
          slice: async (start, end) => {
            const bytes = await inner.slice(start, end);
            fetched += bytes.byteLength;
            return bytes;
          },
          close: () => inner.close(),
        };
      },
    };
    const { examples } = await collect(readCorpusWith(counting, path, { limit: 5 }));
    assert.deepEqual(examples.map((e) => e.row), [0, 1, 2, 3, 4]);
    assert.equal(examples[4]?.content.shape === 'gsm8k' && examples[4].content.answer, text(4));
    const { size } = await stat(path);
    assert.ok(fetched < size * 0.4, `fetched ${fetched} of ${size} bytes`);
  });
});

test('Parquet bad rows: wrong types, nulls, missing columns, invalid UTF-8 and oversize', async () => {
  await withTempDir(async (dir) => {
    const wrongType = join(dir, 'wrong-type.parquet');
    await writeParquetFile(wrongType, {
      instruction: utf8Column(['a', 'b', null, 'd']),
      output: int32Column([1, 2, 3, 4]),
    });
    const typed = await collect(readCorpus(wrongType, { shape: 'alpaca' }));
    assert.equal(typed.examples.length, 0);
    assert.deepEqual(typed.errors.map((e) => e.row), [0, 1, 2, 3]);
    assert.ok(typed.errors.every((e) => e.reason.includes("field 'output' must be a string, got number")));
    assert.ok(typed.errors[2]?.reason.includes("field 'instruction' must be a string, got null"));

    const missing = join(dir, 'missing.parquet');
    await writeParquetFile(missing, { question: utf8Column(['q0', 'q1']), other: utf8Column(['x', 'y']) });
    const noAnswer = await collect(readCorpus(missing, { shape: 'gsm8k' }));
    assert.deepEqual(noAnswer.errors.map((e) => e.reason), ["missing field 'answer'", "missing field 'answer'"]);

    const binary = join(dir, 'binary.parquet');
    const enc = new TextEncoder();
    await writeParquetFile(binary, {
      question: binaryColumn([enc.encode('fine'), new Uint8Array([0x66, 0xff, 0xfe]), enc.encode('also fine')]),
      answer: binaryColumn([enc.encode('yes'), enc.encode('no'), enc.encode('x'.repeat(3000))]),
    });
    const bytes = await collect(readCorpus(binary, { maxRecordBytes: 2048 }));
    assert.deepEqual(bytes.examples.map((e) => [e.row, e.content]), [[0, { shape: 'gsm8k', question: 'fine', answer: 'yes' }]]);
    assert.deepEqual(bytes.errors.map((e) => e.row), [1, 2]);
    assert.equal(bytes.errors[0]?.reason, "invalid UTF-8 in field 'question'");
    assert.match(bytes.errors[1]?.reason ?? '', /^record is 30\d\d bytes, over the 2048-byte limit/);
  });
});

test('a file that is not Parquet throws InputError for the file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'fake.parquet');
    await (await import('node:fs/promises')).writeFile(path, 'this is not parquet at all');
    await assert.rejects(collect(readCorpus(path)), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.source, path);
      assert.equal(err.row, -1);
      assert.match(err.reason, /not a readable Parquet file/);
      return true;
    });
  });
});

test('GZIP, BROTLI, ZSTD and LZ4 pages decode (ZSTD is what our own outputs use)', async () => {
  await withTempDir(async (dir) => {
    const columns = () => ({ question: utf8Column(['q0', 'q1']), answer: utf8Column(['a0', 'a1']) });
    for (const compression of [Compression.GZIP, Compression.BROTLI, Compression.ZSTD, Compression.LZ4_RAW]) {
      const path = join(dir, `c${compression}.parquet`);
      await writeParquetFile(path, columns(), { compression });
      const { examples } = await collect(readCorpus(path));
      assert.deepEqual(examples.map((e) => e.content.shape === 'gsm8k' && e.content.answer), ['a0', 'a1']);
    }
  });
});
