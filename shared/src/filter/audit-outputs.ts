import { RANKING_COLUMN_PATTERN } from '../scoring/ranking-method.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { z } from 'zod';
import { outputKeys } from '../cluster/work-layout.ts';
import { RECORD_SHAPES, type RecordShape } from '../corpus/example.ts';
import { InputError, isTransientIoError } from '../errors.ts';
import { rangedBuffer } from '../storage/byte-sources.ts';
import { LocalObjectStore } from '../storage/local-object-store.ts';
import { joinKey, parseLocation } from '../storage/location.ts';
import { objectUri, type ObjectStore } from '../storage/object-store.ts';
import { S3ObjectStore } from '../storage/s3-object-store.ts';

/** The local audit's single score table (output-folder.ts AUDIT_OUTPUTS); a cluster job writes `scores/part-NNNNNN.parquet`. */
export const LOCAL_SCORES = 'scores.parquet';
const SCORE_PART = /(^|\/)scores\/part-\d+\.parquet$/;

/** What a filter needs of summary.json (a local audit's or a cluster job's: both carry `ranking` and `options`). */
const summarySchema = z.object({
  ranking: z.object({ column: z.string().regex(RANKING_COLUMN_PATTERN), k: z.number().int().min(0) }),
  options: z.object({ recordShape: z.enum(RECORD_SHAPES).optional() }).optional(),
  outputs: z.object({ score_parts: z.array(z.string()).optional() }).optional(),
  status: z.string().optional(),
});

export interface AuditOutputs {
  /** --scores as given. */
  uri: string;
  store: ObjectStore;
  /** Key prefix of the outputs in `store` ('' for a local folder). */
  prefix: string;
  /** The score the audit ranked by: what --threshold and --top-fraction compare. */
  column: string;
  /** The audit's --k. */
  k: number;
  /** The audit's --record-shape, if it forced one (ids are computed with it). */
  recordShape: RecordShape | undefined;
  /** The score table: one key (local audit) or the cluster job's parts, in order. */
  scoreKeys: string[];
  topkKey: string;
}

/**
 * Finds an audit's outputs in a local folder or under `s3://bucket/prefix`: summary.json (written
 * last, so its presence means the audit finished), topk.parquet, and the score table as a local
 * audit writes it (scores.parquet) or as a cluster job does (the parts summary.json lists, else
 * every `scores/part-*.parquet`). Anything missing or unreadable is an InputError naming it.
 */
export async function openAuditOutputs(uri: string, s3: () => S3Client): Promise<AuditOutputs> {
  const location = parseLocation(uri);
  const store: ObjectStore = location.kind === 'local' ? new LocalObjectStore(location.path) : new S3ObjectStore(s3(), location.bucket);
  const prefix = location.kind === 'local' ? '' : location.key.replace(/\/+$/, '');
  const name = (key: string) => objectUri(store.description, key);
  const summaryKey = outputKeys.summary(prefix);
  const text = await readObject(store, summaryKey, `no summary.json: --scores takes the --out folder of a finished audit (or a cluster job's output prefix)`);
  let parsed: z.infer<typeof summarySchema>;
  try {
    const result = summarySchema.safeParse(JSON.parse(text));
    if (!result.success) throw new Error(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    parsed = result.data;
  } catch (err) {
    throw new InputError(name(summaryKey), -1, `not a safesift audit summary (${(err as Error).message})`, { cause: err });
  }
  if (parsed.status !== undefined && parsed.status !== 'complete') {
    throw new InputError(name(summaryKey), -1, `the audit did not complete (status '${parsed.status}'): its scores cannot be used to filter`);
  }

  let scoreKeys: string[];
  const parts = parsed.outputs?.score_parts;
  if (parts !== undefined) {
    scoreKeys = parts.map((part) => joinKey(prefix, part));
  } else if ((await headOrFail(store, joinKey(prefix, LOCAL_SCORES))) !== null) {
    scoreKeys = [joinKey(prefix, LOCAL_SCORES)];
  } else {
    scoreKeys = [];
    for await (const info of store.list(joinKey(prefix, 'scores/'))) if (SCORE_PART.test(info.key)) scoreKeys.push(info.key);
    if (scoreKeys.length === 0) throw new InputError(name(joinKey(prefix, LOCAL_SCORES)), -1, 'no score table (scores.parquet, or scores/part-*.parquet of a cluster job) beside summary.json');
  }
  return {
    uri,
    store,
    prefix,
    column: parsed.ranking.column,
    k: parsed.ranking.k,
    recordShape: parsed.options?.recordShape,
    scoreKeys,
    topkKey: outputKeys.topk(prefix),
  };
}

/** A Parquet table of the audit's outputs, opened for row-group reads. */
export interface OutputTable {
  name: string;
  file: AsyncBuffer;
  metadata: FileMetaData;
  rows: number;
}

export async function openOutputTable(outputs: AuditOutputs, key: string): Promise<OutputTable> {
  const name = objectUri(outputs.store.description, key);
  try {
    const file = await rangedBuffer(outputs.store, key);
    const metadata = await parquetMetadataAsync(file);
    return { name, file, metadata, rows: Number(metadata.num_rows) };
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(name, -1, `cannot read the Parquet table: ${(err as Error).message}`, { cause: err });
  }
}

/** The rows of `columns`, one row group at a time (memory: one row group of those columns). */
export async function* tableRows(table: OutputTable, columns: string[]): AsyncGenerator<Record<string, unknown>[]> {
  const present = new Set(table.metadata.schema.map((s) => s.name));
  const absent = columns.filter((c) => !present.has(c));
  if (absent.length > 0) throw new InputError(table.name, -1, `not a safesift score table: no column ${absent.join(', ')}`);
  let start = 0;
  for (const group of table.metadata.row_groups) {
    const end = start + Number(group.num_rows);
    try {
      yield await parquetReadObjects({ file: table.file, metadata: table.metadata, columns, rowStart: start, rowEnd: end, compressors });
    } catch (err) {
      if (isTransientIoError(err)) throw err;
      throw new InputError(table.name, -1, `cannot decode rows ${start}-${end - 1}: ${(err as Error).message}`, { cause: err });
    }
    start = end;
  }
}

async function readObject(store: ObjectStore, key: string, missing: string): Promise<string> {
  if ((await headOrFail(store, key)) === null) throw new InputError(objectUri(store.description, key), -1, missing);
  try {
    return new TextDecoder().decode(await store.get(key));
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(objectUri(store.description, key), -1, `cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

async function headOrFail(store: ObjectStore, key: string) {
  try {
    return await store.head(key);
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(objectUri(store.description, key), -1, `cannot be read (--scores): ${(err as Error).message}`, { cause: err });
  }
}
