/** Test helpers for the filter: temp folders, Parquet corpora, and small audit output folders written like the audit writes them. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Field, List, Struct, Table as ArrowTable, Utf8, tableToIPC, vectorFromArray, type Vector } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm';
import { RANKED_COLUMNS, scoreColumns } from '../../../shared/src/audit/score-table.ts';
import { openParquetWriter, type Row } from '../../../shared/src/output/parquet-table-writer.ts';
import type { ExampleContent } from '../../../shared/src/corpus/example.ts';
import { exampleId } from '../../../shared/src/corpus/example-id.ts';
import { compareRanked } from '../../../shared/src/scoring/top-k.ts';

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'safesift-filter-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Yields `bytes` in pieces of `size` bytes, to split records across chunks. */
export async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}

export const utf8Column = (values: (string | null)[]): Vector => vectorFromArray(values, new Utf8());
export const chatColumn = (values: { role: string; content: string }[][]): Vector =>
  vectorFromArray(values, new List(new Field('item', new Struct([new Field('role', new Utf8(), true), new Field('content', new Utf8(), true)]), true)));

/** Columns to a Parquet file with parquet-wasm, optionally with key-value metadata. */
export async function writeParquetFile(
  path: string,
  columns: Record<string, Vector>,
  { rowGroupSize = 1024, metadata }: { rowGroupSize?: number; metadata?: Map<string, string> } = {},
): Promise<void> {
  const table = new ArrowTable(columns);
  let builder = new WriterPropertiesBuilder().setCompression(Compression.SNAPPY).setMaxRowGroupSize(rowGroupSize);
  if (metadata) builder = builder.setKeyValueMetadata(metadata);
  await writeFile(path, writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), builder.build()));
}

export interface FakeScore {
  content: ExampleContent;
  source: string;
  row: number;
  grad: number;
  rep?: number;
}

/**
 * An audit's outputs for given scores, as the audit writes them: a local folder (scores.parquet)
 * or a cluster job's layout (scores/part-NNNNNN.parquet, listed in summary.json or not).
 */
export async function writeFakeAudit(
  dir: string,
  scores: FakeScore[],
  { k, layout = 'local', listParts = true, method = 'grad' }: { k: number; layout?: 'local' | 'cluster'; listParts?: boolean; method?: 'grad' | 'rep' },
): Promise<{ ids: string[] }> {
  await mkdir(dir, { recursive: true });
  // Every column the audit writes (scoreColumns), the ones a filter reads set, the rest a neutral value.
  const neutral = { utf8: '', int32: 0, int64: 0, float32: 0, float64: 0, bool: false } as const;
  const rows: Row[] = scores.map((s) => ({
    ...Object.fromEntries(scoreColumns([]).map((c) => [c.name, neutral[c.type]])),
    id: exampleId(s.content), source: s.source, row: s.row, rep_score: s.rep ?? 0, grad_score: s.grad,
  }));
  const parts: string[] = [];
  if (layout === 'local') {
    await writeTable(join(dir, 'scores.parquet'), rows);
  } else {
    const half = Math.ceil(rows.length / 2);
    for (const [i, chunk] of [rows.slice(0, half), rows.slice(half)].entries()) {
      const part = `scores/part-${String(i).padStart(6, '0')}.parquet`;
      await writeTable(join(dir, part), chunk);
      parts.push(part);
    }
  }
  const column = method === 'grad' ? 'grad_score' : 'rep_score';
  const ranked = rows
    .map((r) => ({ id: String(r.id), source: String(r.source), row: Number(r.row), score: Number(r[column]), rep: Number(r.rep_score), grad: Number(r.grad_score) }))
    .sort((a, b) => compareRanked('top', a, b))
    .slice(0, k);
  const topk = await openParquetWriter(join(dir, 'topk.parquet'), RANKED_COLUMNS);
  await topk.append(ranked.map((e, i) => ({ rank: i + 1, id: e.id, source: e.source, row: e.row, score: e.score, rep_score: e.rep, grad_score: e.grad, prompt_preview: '', response_preview: '' })));
  await topk.close();
  const summary = {
    status: 'complete',
    ranking: { method, column, k, bottom_k: 0 },
    options: {},
    ...(layout === 'cluster' && listParts ? { outputs: { topk: 'topk.parquet', score_parts: parts } } : {}),
  };
  await writeFile(join(dir, 'summary.json'), JSON.stringify(summary));
  return { ids: rows.map((r) => String(r.id)) };
}

async function writeTable(path: string, rows: Row[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const writer = await openParquetWriter(path, scoreColumns([]), { rowGroupRows: 3 });
  await writer.append(rows);
  await writer.close();
}

/** n alpaca records, numbered. */
export function alpaca(n: number, tag = 'r'): ExampleContent[] {
  return Array.from({ length: n }, (_, i) => ({ shape: 'alpaca', instruction: `Task ${tag}${i}`, input: '', output: `Answer ${tag}${i}` }));
}

/** The record as a corpus file holds it (without the shape tag). */
export function asRecord(content: ExampleContent): Record<string, unknown> {
  const { shape: _shape, ...rest } = content;
  return rest;
}
