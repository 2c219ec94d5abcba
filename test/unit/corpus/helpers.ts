/** Test helpers for the corpus readers: temp dirs, collecting items, writing Parquet files. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Binary, Field, Int32, List, Struct, Table as ArrowTable, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import type { CorpusItem, Example, RecordError } from '../../../shared/src/corpus/example.ts';

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-corpus-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function collect(items: AsyncIterable<CorpusItem> | Iterable<CorpusItem>): Promise<{ examples: Example[]; errors: RecordError[] }> {
  const examples: Example[] = [];
  const errors: RecordError[] = [];
  for await (const item of items) {
    if (item.kind === 'example') examples.push(item.example);
    else errors.push(item.error);
  }
  return { examples, errors };
}

export async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Yields `bytes` in pieces of `size` bytes, to exercise records split across chunks. */
export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

export const utf8Column = (values: (string | null)[]): Vector => vectorFromArray(values, new Utf8());
export const int32Column = (values: (number | null)[]): Vector => vectorFromArray(values, new Int32());
export const binaryColumn = (values: Uint8Array[]): Vector => vectorFromArray(values, new Binary());
export const chatColumn = (values: { role: string; content: string | null }[][]): Vector =>
  vectorFromArray(
    values,
    new List(new Field('item', new Struct([new Field('role', new Utf8(), true), new Field('content', new Utf8(), true)]), true)),
  );

/** Writes columns to a Parquet file with parquet-wasm (an independent writer from our reader). */
export async function writeParquetFile(
  path: string,
  columns: Record<string, Vector>,
  { rowGroupSize = 1024, compression = Compression.SNAPPY }: { rowGroupSize?: number; compression?: Compression } = {},
): Promise<void> {
  const table = new ArrowTable(columns);
  const wasmTable = WasmTable.fromIPCStream(tableToIPC(table, 'stream'));
  const properties = new WriterPropertiesBuilder().setCompression(compression).setMaxRowGroupSize(rowGroupSize).build();
  await writeFile(path, writeParquet(wasmTable, properties));
}

export async function writeJsonLines(path: string, records: unknown[]): Promise<void> {
  await writeFile(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
