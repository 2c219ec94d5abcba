/**
 * What a report reads of an audit's outputs, in either layout: a local audit's folder
 * (summary.json, scores.parquet, topk.parquet) or a cluster job's output prefix (summary.json,
 * scores/part-NNNNNN.parquet, topk.parquet). Everything is read through an ObjectStore, so a
 * local folder and S3 are the same code.
 */
import { RANKING_COLUMN_PATTERN } from '../scoring/ranking-method.ts';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { z } from 'zod';
import { InputError, isTransientIoError } from '../errors.ts';
import { rangedBuffer } from '../storage/byte-sources.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { joinKey } from '../storage/location.ts';
import { objectUri, type ObjectStore } from '../storage/object-store.ts';

/** An audit's outputs: a local folder, or a store and the key prefix of the outputs there ('' for its root). */
export type OutputsLocation = string | { store: ObjectStore; prefix: string };

export const REPORT_FILE = 'report.html';

const anchorRef = z.object({ row: z.number(), request: z.string() });
const count = z.number().finite();

/** The parts of summary.json (local or cluster) the report shows; every field but `ranking` may be absent. */
const summarySchema = z.looseObject({
  safesift: z.string().optional(),
  status: z.string().optional(),
  error: z.string().optional(),
  demo: z.boolean().optional(),
  model: z.looseObject({
    path: z.string().optional(),
    fingerprint: z.string().optional(),
    synthetic: z.boolean().optional(),
    warning: z.string().optional(),
    architecture: z.record(z.string(), z.unknown()).optional(),
  }).optional(),
  features: z.looseObject({
    probe: z.string().optional(),
    probe_note: z.string().nullable().optional(),
    projection: z.string().optional(),
    projection_seed: z.number().nullable().optional(),
    sketch: z.unknown().optional(),
    dtype: z.string().optional(),
    gradient_dim: z.number().optional(),
    representation_dim: z.number().optional(),
  }).optional(),
  ranking: z.looseObject({ method: z.string().optional(), column: z.string().regex(RANKING_COLUMN_PATTERN), k: z.number().int().min(0), bottom_k: z.number().optional() }),
  anchor_sets: z.array(z.looseObject({
    name: z.string(),
    role: z.string().optional(),
    weight: z.number().optional(),
    source: z.string().optional(),
    // How many anchors were used, and each one's file row and request (summaries from before the list lack it).
    anchors: count.optional(),
    anchor_requests: z.array(anchorRef).optional(),
    records: count.optional(),
    rejected: count.optional(),
  })).default([]),
  bidirectional: z.boolean().optional(),
  options: z.looseObject({ name: z.string().optional(), recordShape: z.string().optional(), format: z.string().optional(), topN: z.number().optional(), maxTokens: z.number().optional() }).optional(),
  inputs: z.array(z.looseObject({ source: z.string(), records: count, scored: count, errors: count, truncated: count.optional(), top_reasons: z.record(z.string(), count).optional() })).default([]),
  counts: z.looseObject({ records: count.optional(), scored: count.optional(), errors: count.optional(), truncated: count.optional(), top_k: count.optional(), dead_letter_batches: count.optional() }).optional(),
  unusable_inputs: z.array(z.string()).optional(),
  warnings: z.array(z.string()).default([]),
  outputs: z.looseObject({ score_parts: z.array(z.string()).optional() }).optional(),
  cache: z.looseObject({ uri: z.string(), namespace: z.string().optional(), hits: count.optional(), misses: count.optional(), anchor_hits: count.optional(), anchor_misses: count.optional(), gradient_reads: count.optional() }).optional(),
  diff: z.unknown().optional(),
  timings_ms: z.record(z.string(), z.number().nullable()).optional(),
  throughput: z.looseObject({ examples_per_s: z.number().nullable().optional() }).optional(),
  peak_rss_mib: z.number().optional(),
  job: z.looseObject({ id: z.string().optional(), name: z.string().optional(), submitted_at: z.string().optional(), finished_at: z.string().optional(), batches: z.number().nullable().optional() }).optional(),
  execution: z.looseObject({ device: z.string().optional(), sessions: z.number().optional(), threads_per_session: z.number().optional(), estimated_peak: z.string().optional() }).optional(),
  machine: z.looseObject({ cpus: z.number().optional(), cpu_model: z.string().optional(), memory_gib: z.number().optional(), node: z.string().optional(), role: z.string().optional() }).optional(),
});

export type ReportSummary = z.infer<typeof summarySchema>;
export type AnchorSetInfo = ReportSummary['anchor_sets'][number];

/** Each anchor's file row → its request text, when the summary has them. */
export function anchorRequests(set: AnchorSetInfo): Map<number, string> | null {
  const list = set.anchor_requests;
  return list === undefined ? null : new Map(list.map((a) => [a.row, a.request]));
}

/** Number of usable anchors of a set. */
export function anchorCount(set: AnchorSetInfo): number | null {
  return set.anchors ?? set.anchor_requests?.length ?? null;
}

export interface AuditOutputFiles {
  store: ObjectStore;
  prefix: string;
  /** Where the outputs are, for messages and the report's header. */
  uri: string;
  summary: ReportSummary;
  /** The score table: one key (local) or the job's parts in order. */
  scoreKeys: string[];
  topkKey: string;
}

export function resolveLocation(outputs: OutputsLocation): { store: ObjectStore; prefix: string } {
  return typeof outputs === 'string' ? { store: new LocalObjectStore(outputs), prefix: '' } : { store: outputs.store, prefix: outputs.prefix.replace(/^\/+|\/+$/g, '') };
}

/**
 * Finds the outputs: summary.json (or the summary object given, for a writer that has not stored
 * it yet), then the score table (the parts the summary lists, else scores.parquet, else every
 * `scores/part-*.parquet`). Anything missing or unreadable is an InputError naming the object.
 */
export async function openAuditOutputFiles(outputs: OutputsLocation, given?: unknown): Promise<AuditOutputFiles> {
  const { store, prefix } = resolveLocation(outputs);
  const uri = objectUri(store.description, prefix);
  const summaryKey = joinKey(prefix, 'summary.json');
  let raw: unknown = given;
  if (raw === undefined) {
    const text = await readText(store, summaryKey, 'no summary.json: expected the --out folder of a finished audit, or a cluster job\'s output prefix');
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new InputError(objectUri(store.description, summaryKey), -1, `not JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  const parsed = summarySchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InputError(objectUri(store.description, summaryKey), -1, `not a safesift audit summary (${why})`);
  }
  const summary = parsed.data;
  let scoreKeys: string[];
  const parts = summary.outputs?.score_parts;
  if (parts !== undefined) {
    scoreKeys = parts.map((part) => joinKey(prefix, part));
  } else if ((await head(store, joinKey(prefix, 'scores.parquet'))) !== null) {
    scoreKeys = [joinKey(prefix, 'scores.parquet')];
  } else {
    scoreKeys = [];
    for await (const info of store.list(joinKey(prefix, 'scores/'))) if (/(^|\/)scores\/part-\d+\.parquet$/.test(info.key)) scoreKeys.push(info.key);
  }
  return { store, prefix, uri, summary, scoreKeys, topkKey: joinKey(prefix, 'topk.parquet') };
}

/** A Parquet table opened for row-group reads. */
export interface OpenTable {
  name: string;
  file: AsyncBuffer;
  metadata: FileMetaData;
  columns: Set<string>;
}

export async function openTable(store: ObjectStore, key: string): Promise<OpenTable> {
  const name = objectUri(store.description, key);
  try {
    const file = await rangedBuffer(store, key);
    const metadata = await parquetMetadataAsync(file);
    return { name, file, metadata, columns: new Set(metadata.schema.slice(1).map((s) => s.name)) };
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(name, -1, `cannot read the Parquet table: ${(err as Error).message}`, { cause: err });
  }
}

/** Rows [start, end) of `columns` as objects. */
export async function readRows(table: OpenTable, columns: string[], start: number, end: number): Promise<Record<string, unknown>[]> {
  try {
    return await parquetReadObjects({ file: table.file, metadata: table.metadata, columns, rowStart: start, rowEnd: end, compressors });
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(table.name, -1, `cannot decode rows ${start}-${end - 1}: ${(err as Error).message}`, { cause: err });
  }
}

/** One entry of topk.parquet. */
export interface TopEntry {
  rank: number;
  id: string;
  source: string;
  row: number;
  score: number;
  repScore: number;
  gradScore: number;
  promptPreview: string;
  responsePreview: string;
}

/** topk.parquet (k rows: read whole), best first; null when there is none. */
export async function readTopK(store: ObjectStore, key: string): Promise<TopEntry[] | null> {
  if ((await head(store, key)) === null) return null;
  const table = await openTable(store, key);
  const rows = await readRows(table, ['rank', 'id', 'source', 'row', 'score', 'rep_score', 'grad_score', 'prompt_preview', 'response_preview'], 0, Number(table.metadata.num_rows));
  return rows
    .map((r) => ({
      rank: Number(r.rank),
      id: String(r.id ?? ''),
      source: String(r.source ?? ''),
      row: Number(r.row),
      score: numberOrNaN(r.score),
      repScore: numberOrNaN(r.rep_score),
      gradScore: numberOrNaN(r.grad_score),
      promptPreview: String(r.prompt_preview ?? ''),
      responsePreview: String(r.response_preview ?? ''),
    }))
    .sort((a, b) => a.rank - b.rank);
}

export function numberOrNaN(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return NaN;
}

async function head(store: ObjectStore, key: string) {
  try {
    return await store.head(key);
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(objectUri(store.description, key), -1, `cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

async function readText(store: ObjectStore, key: string, missing: string): Promise<string> {
  if ((await head(store, key)) === null) throw new InputError(objectUri(store.description, key), -1, missing);
  try {
    return new TextDecoder().decode(await store.get(key));
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(objectUri(store.description, key), -1, `cannot be read: ${(err as Error).message}`, { cause: err });
  }
}
