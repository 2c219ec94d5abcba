/**
 * Corpus records on the bus: one Arrow IPC stream per batch, one row per corpus item.
 * Columns: source, row (int64), id / content (JSON of ExampleContent) for examples, error (the
 * reason) for records that could not be read. jobId, batch number and item count travel in the
 * schema metadata. Decoding checks everything and throws CorruptBatchError.
 */
import { Field, Int64, Utf8, vectorFromArray } from 'apache-arrow';
import type { Vector } from 'apache-arrow';
import { z } from 'zod';
import type { CorpusItem, ExampleContent } from '../corpus/example.ts';
import { asCorrupt, metadataEntry, readIpcStream, readUtf8Column, writeIpcStream } from './arrow-ipc.ts';
import { CorruptBatchError } from './corrupt-batch-error.ts';

export interface RecordBatchMessage {
  jobId: string;
  /** 0-based batch number within the job. */
  batch: number;
  items: CorpusItem[];
}

const PAYLOAD = 'record-batch/v1';

const FIELDS = [
  new Field('source', new Utf8(), false),
  new Field('row', new Int64(), false),
  new Field('id', new Utf8(), true),
  new Field('content', new Utf8(), true),
  new Field('error', new Utf8(), true),
];

// Bytes per item besides its strings: the int64 row, four utf8 offsets, validity bits.
const ITEM_FIXED_BYTES = 8 + 4 * 4 + 1;
// Schema + record batch headers, per-buffer padding and the end marker (measured: under 1 KB).
const BATCH_FIXED_BYTES = 2048;

export function encodeRecordBatch(msg: RecordBatchMessage): Uint8Array {
  checkHeader(msg.jobId, msg.batch);
  const n = msg.items.length;
  const source: string[] = new Array(n);
  const row: bigint[] = new Array(n);
  const id: (string | null)[] = new Array(n);
  const content: (string | null)[] = new Array(n);
  const error: (string | null)[] = new Array(n);
  msg.items.forEach((item, i) => {
    const where = item.kind === 'example' ? item.example : item.error;
    if (!Number.isSafeInteger(where.row)) throw new TypeError(`record batch item ${i}: row ${where.row} is not an integer`);
    source[i] = where.source;
    row[i] = BigInt(where.row);
    if (item.kind === 'example') {
      id[i] = item.example.id;
      content[i] = JSON.stringify(item.example.content);
      error[i] = null;
    } else {
      id[i] = null;
      content[i] = null;
      error[i] = item.error.reason;
    }
  });
  const vectors: Vector[] = [
    vectorFromArray(source, new Utf8()),
    vectorFromArray(row, new Int64()),
    vectorFromArray(id, new Utf8()),
    vectorFromArray(content, new Utf8()),
    vectorFromArray(error, new Utf8()),
  ];
  return writeIpcStream(PAYLOAD, FIELDS, vectors, { jobId: msg.jobId, batch: String(msg.batch), items: String(n) });
}

/**
 * Upper bound on what one item adds to an encoded batch; a batch of items takes at most
 * recordBatchOverheadBytes(jobId) + the sum of their estimates.
 */
export function estimateItemBytes(item: CorpusItem): number {
  if (item.kind === 'error') return ITEM_FIXED_BYTES + utf8Bytes(item.error.source) + utf8Bytes(item.error.reason);
  const { source, id, content } = item.example;
  return ITEM_FIXED_BYTES + utf8Bytes(source) + utf8Bytes(id) + utf8Bytes(JSON.stringify(content));
}

export function recordBatchOverheadBytes(jobId: string): number {
  return BATCH_FIXED_BYTES + utf8Bytes(jobId);
}

export function decodeRecordBatch(bytes: Uint8Array): RecordBatchMessage {
  return asCorrupt(PAYLOAD, () => decode(bytes));
}

function decode(bytes: Uint8Array): RecordBatchMessage {
  const { table, metadata } = readIpcStream(bytes, PAYLOAD);
  const jobId = metadataEntry(metadata, 'jobId', PAYLOAD);
  const batch = wholeNumber(metadataEntry(metadata, 'batch', PAYLOAD), 'batch');
  const count = wholeNumber(metadataEntry(metadata, 'items', PAYLOAD), 'items');
  if (jobId === '') throw corrupt('empty jobId');
  if (table.numRows !== count) throw corrupt(`${table.numRows} rows, the header says ${count} (truncated?)`);
  const names = table.schema.fields.map((f) => `${f.name}: ${String(f.type)}`);
  const expected = FIELDS.map((f) => `${f.name}: ${String(f.type)}`);
  if (names.join(', ') !== expected.join(', ')) throw corrupt(`columns [${names.join(', ')}], expected [${expected.join(', ')}]`);
  const text = (name: string) => readUtf8Column(table.getChild(name)!, name, PAYLOAD);
  const [source, id, content, error] = [text('source'), text('id'), text('content'), text('error')];
  const row = table.getChild('row')!;

  const items: CorpusItem[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const src = source[i] ?? null;
    const r = row.get(i) as bigint | null;
    if (src === null) throw corrupt(`row ${i}: source is null`);
    if (typeof r !== 'bigint' || r < -1n || r > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`row ${i}: bad record index ${String(r)}`);
    const reason = error[i] ?? null;
    const exampleId = id[i] ?? null;
    const json = content[i] ?? null;
    if (reason !== null) {
      if (exampleId !== null || json !== null) throw corrupt(`row ${i}: an error row with an id or content`);
      items[i] = { kind: 'error', error: { source: src, row: Number(r), reason } };
      continue;
    }
    if (exampleId === null || json === null) throw corrupt(`row ${i}: an example row without ${exampleId === null ? 'id' : 'content'}`);
    if (r < 0n) throw corrupt(`row ${i}: example with record index ${r}`);
    items[i] = { kind: 'example', example: { id: exampleId, source: src, row: Number(r), content: parseContent(json, i) } };
  }
  return { jobId, batch, items };
}

const chatMessage = z.strictObject({ role: z.enum(['system', 'user', 'assistant']), content: z.string() });
const contentSchema = z.discriminatedUnion('shape', [
  z.strictObject({ shape: z.literal('alpaca'), instruction: z.string(), input: z.string(), output: z.string() }),
  z.strictObject({ shape: z.literal('dolly'), instruction: z.string(), context: z.string(), response: z.string() }),
  z.strictObject({ shape: z.literal('gsm8k'), question: z.string(), answer: z.string() }),
  z.strictObject({ shape: z.literal('chat'), messages: z.array(chatMessage) }),
]) satisfies z.ZodType<ExampleContent>;

function parseContent(json: string, i: number): ExampleContent {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw corrupt(`row ${i}: content is not JSON`);
  }
  const parsed = contentSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(content)'}: ${issue.message}`);
    throw corrupt(`row ${i}: content is not an example: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function checkHeader(jobId: string, batch: number): void {
  if (typeof jobId !== 'string' || jobId === '') throw new TypeError('record batch: jobId must be a non-empty string');
  if (!Number.isSafeInteger(batch) || batch < 0) throw new TypeError(`record batch: batch must be a whole number, got ${batch}`);
}

function wholeNumber(text: string, key: string): number {
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw corrupt(`metadata '${key}' is not a whole number: ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

function corrupt(what: string): CorruptBatchError {
  return new CorruptBatchError(`${PAYLOAD}: ${what}`);
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
