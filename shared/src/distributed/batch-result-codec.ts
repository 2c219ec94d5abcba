/**
 * A worker's answer for one record batch, as one Arrow IPC stream: the score rows as a table typed
 * from the ColumnSpecs (float64 exact, NaN and null kept apart, int64 rows), everything else as
 * exact JSON (NaN, ±Infinity and -0 survive) in the schema metadata. A batch that kept failing is
 * answered by a dead letter instead, so the reducer can account for every batch.
 */
import { Field } from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import { z } from 'zod';
import type { RecordError } from '../corpus/example.ts';
import type { RankedEntry } from '../scoring/ranked-entry.ts';
import type { ColumnSpec, ColumnType, Row } from '../output/parquet-table-writer.ts';
import { ARROW_TYPES, decodeColumn, encodeColumn } from './row-columns.ts';
import { asCorrupt, metadataEntry, readIpcStream, readUtf8Column, writeIpcStream } from './arrow-ipc.ts';
import { CorruptBatchError } from './corrupt-batch-error.ts';
import { parseExact, stringifyExact } from './exact-json.ts';

export interface BatchResult {
  kind: 'result';
  jobId: string;
  batch: number;
  worker: string;
  /** scores.parquet rows of the batch's scored examples (columns: scoreColumns(sets)). */
  rows: Row[];
  /** The batch's own top-k and bottom-k, for the reducer to merge. */
  top: RankedEntry[];
  bottom: RankedEntry[];
  errors: RecordError[];
  /** Items in the batch, and how many of them were scored. */
  records: number;
  scored: number;
  featureMs: number;
  /** With the job's feature cache: how the batch's examples were served. */
  cache?: BatchCacheStats;
}

/** A batch's use of the feature cache: hits, misses, and segments whose gradients were read back. */
export interface BatchCacheStats {
  hits: number;
  misses: number;
  gradientReads: number;
}

/** A batch given up on after `deliveries` attempts. */
export interface DeadLetter {
  kind: 'dead-letter';
  jobId: string;
  batch: number;
  reason: string;
  deliveries: number;
}

export type BatchOutcome = BatchResult | DeadLetter;

const PAYLOAD = 'batch-result/v1';

const TYPE_OF_ARROW = new Map<string, ColumnType>(
  (Object.keys(ARROW_TYPES) as ColumnType[]).map((t) => [String(ARROW_TYPES[t]()), t]),
);
const isFloat = (t: ColumnType): boolean => t === 'float32' || t === 'float64';

/** Encodes a result (rows typed by `columns`) or a dead letter (`columns` unused). */
export function encodeBatchResult(outcome: BatchOutcome, columns: readonly ColumnSpec[] = []): Uint8Array {
  if (outcome.kind === 'dead-letter') return writeIpcStream(PAYLOAD, [], [], { outcome: stringifyExact(outcome) });
  const { rows, ...rest } = outcome;
  checkColumns(columns, rows);
  // Float columns are nullable whatever the spec says, as in scores.parquet.
  const fields = columns.map((c) => new Field(c.name, ARROW_TYPES[c.type](), isFloat(c.type) || c.nullable === true));
  const vectors = columns.map((c, i) => encodeColumn(c, fields[i]!.nullable, rows));
  return writeIpcStream(PAYLOAD, fields, vectors, { outcome: stringifyExact({ ...rest, rows: rows.length }) });
}

/**
 * Decodes and checks a result; with `columns`, the table must have exactly those columns (names
 * and types, in order). int64 values come back as numbers when safe integers, else as bigints.
 */
export function decodeBatchResult(bytes: Uint8Array, options: { columns?: readonly ColumnSpec[] } = {}): BatchOutcome {
  return asCorrupt(PAYLOAD, () => decode(bytes, options.columns));
}

function decode(bytes: Uint8Array, expected: readonly ColumnSpec[] | undefined): BatchOutcome {
  const { table, metadata } = readIpcStream(bytes, PAYLOAD);
  let json: unknown;
  try {
    json = parseExact(metadataEntry(metadata, 'outcome', PAYLOAD));
  } catch (err) {
    if (err instanceof CorruptBatchError) throw err;
    throw corrupt('the outcome metadata is not JSON');
  }
  const parsed = outcomeSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(outcome)'}: ${issue.message}`);
    throw corrupt(`bad outcome: ${problems.join('; ')}`);
  }
  const meta = parsed.data;
  if (meta.kind === 'dead-letter') {
    if (table.numRows !== 0 || table.schema.fields.length !== 0) throw corrupt('a dead letter with score rows');
    return meta;
  }
  const { rows: count, ...rest } = meta;
  if (table.numRows !== count) throw corrupt(`${table.numRows} score rows, the header says ${count} (truncated?)`);
  const columns = table.schema.fields.map((f): ColumnSpec => {
    const type = TYPE_OF_ARROW.get(String(f.type));
    if (type === undefined) throw corrupt(`column "${f.name}" has unsupported type ${String(f.type)}`);
    return { name: f.name, type, nullable: f.nullable };
  });
  if (new Set(columns.map((c) => c.name)).size !== columns.length) throw corrupt('duplicate column names');
  if (expected) {
    const shown = (cs: readonly ColumnSpec[]) => cs.map((c) => `${c.name}: ${c.type}`).join(', ');
    if (shown(columns) !== shown(expected)) throw corrupt(`columns [${shown(columns)}], expected [${shown(expected)}]`);
  }
  const values = columns.map((c, j) => readColumn(c, table.getChildAt(j)!, count));
  // Row by row: filling objects column by column is twice as slow with hundreds of columns.
  const rows: Row[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const row: Row = {};
    for (let j = 0; j < columns.length; j++) row[columns[j]!.name] = values[j]![i]!;
    rows[i] = row;
  }
  return { ...rest, rows };
}

function checkColumns(columns: readonly ColumnSpec[], rows: Row[]): void {
  const names = new Set<string>();
  for (const c of columns) {
    if (names.has(c.name)) throw new TypeError(`batch result: duplicate column "${c.name}"`);
    if (!Object.hasOwn(ARROW_TYPES, c.type)) throw new TypeError(`batch result: column "${c.name}" has unknown type ${String(c.type)}`);
    names.add(c.name);
  }
  rows.forEach((row, i) => {
    for (const key of Object.keys(row)) if (!names.has(key)) throw new TypeError(`batch result row ${i}: "${key}" is not a column`);
  });
}

function readColumn(c: ColumnSpec, vector: Vector, count: number): Row[string][] {
  if (!c.nullable && vector.nullCount > 0) throw corrupt(`non-nullable column "${c.name}" holds nulls`);
  if (vector.length !== count) throw corrupt(`column "${c.name}" has ${vector.length} values for ${count} rows`);
  const values = c.type === 'utf8' ? readUtf8Column(vector, c.name, PAYLOAD) : decodeColumn(c, vector);
  if (values.length !== count) throw corrupt(`column "${c.name}" data is short`);
  return values;
}

const anyNumber = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });
const count = z.number().int().min(0);
const rankedEntry = z.strictObject({
  score: anyNumber, id: z.string(), source: z.string(), row: z.number().int(),
  repScore: anyNumber, gradScore: anyNumber, promptPreview: z.string(), responsePreview: z.string(),
}) satisfies z.ZodType<RankedEntry>;
const recordError = z.strictObject({ source: z.string(), row: z.number().int().min(-1), reason: z.string() }) satisfies z.ZodType<RecordError>;
const header = { jobId: z.string().min(1), batch: count };
const outcomeSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('result'), ...header, worker: z.string(), rows: count,
    top: z.array(rankedEntry), bottom: z.array(rankedEntry), errors: z.array(recordError),
    records: count, scored: count, featureMs: anyNumber,
    cache: z.strictObject({ hits: count, misses: count, gradientReads: count }).optional(),
  }),
  z.strictObject({ kind: z.literal('dead-letter'), ...header, reason: z.string(), deliveries: count }),
]);

function corrupt(what: string): CorruptBatchError {
  return new CorruptBatchError(`${PAYLOAD}: ${what}`);
}
