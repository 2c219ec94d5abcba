/**
 * The full conversation of each top-k entry, read back from its corpus file by (source, row)
 * when the file is reachable (a local path, or an s3:// URI with a client), checked against the
 * entry's content id so an edited file never shows someone else's text. Bounded: only the k
 * wanted records are kept (each message cut at `maxChars`), and each file is read only up to its
 * last wanted row. Anything unreachable or changed falls back to topk.parquet's previews.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ChatMessage, RecordShape } from '../corpus/example.ts';
import { readCorpusWith } from '../corpus/read-corpus.ts';
import { RECORD_SHAPES } from '../corpus/example.ts';
import { toMessages } from '../prompt/chat-template.ts';
import { storageByteSources } from '../storage/byte-sources.ts';
import type { TopEntry } from './report-inputs.ts';
import { topRowKey } from './score-pass.ts';

export interface EntryText {
  messages: ChatMessage[];
  /** Some message was cut at maxChars. */
  cut: boolean;
}

export interface TopTexts {
  /** By topRowKey(source, row). */
  texts: Map<string, EntryText>;
  /** Per source that could not be used: why (previews are shown for its entries). */
  unavailable: Map<string, string>;
}

export interface TopTextOptions {
  /** S3 client for s3:// corpus files; without one their entries show previews. */
  s3?: () => S3Client;
  /** The audit's --record-shape, if it forced one (ids depend on it). */
  shape?: string;
  /** Characters kept per message (default 20,000). */
  maxChars?: number;
}

export async function readTopTexts(entries: readonly TopEntry[], options: TopTextOptions = {}): Promise<TopTexts> {
  const maxChars = options.maxChars ?? 20_000;
  const shape = RECORD_SHAPES.includes(options.shape as RecordShape) ? (options.shape as RecordShape) : undefined;
  const opener = storageByteSources(options.s3 ?? (() => {
    throw new Error('no S3 client: the report was written without S3 access');
  }));
  const bySource = new Map<string, Map<number, TopEntry>>();
  for (const e of entries) {
    if (!Number.isSafeInteger(e.row) || e.row < 0) continue;
    const rows = bySource.get(e.source) ?? new Map<number, TopEntry>();
    rows.set(e.row, e);
    bySource.set(e.source, rows);
  }
  const result: TopTexts = { texts: new Map(), unavailable: new Map() };
  for (const [source, rows] of bySource) {
    if (/^s3:\/\//i.test(source) && options.s3 === undefined) {
      result.unavailable.set(source, 'an S3 file, and the report had no S3 access');
      continue;
    }
    const last = Math.max(...rows.keys());
    let mismatched = 0;
    try {
      for await (const item of readCorpusWith(opener, source, { limit: last + 1, ...(shape ? { shape } : {}) })) {
        if (item.kind !== 'example') continue;
        const entry = rows.get(item.example.row);
        if (entry === undefined) continue;
        if (item.example.id !== entry.id) {
          mismatched++;
          continue;
        }
        let cut = false;
        const messages = toMessages(item.example.content).map((m) => {
          if (m.content.length <= maxChars) return m;
          cut = true;
          return { role: m.role, content: `${m.content.slice(0, maxChars)}…` };
        });
        result.texts.set(topRowKey(source, entry.row), { messages, cut });
      }
    } catch (err) {
      result.unavailable.set(source, `cannot be read now (${(err as Error).message})`);
      continue;
    }
    if (mismatched > 0) result.unavailable.set(source, `${mismatched} record(s) changed since the audit (content ids differ)`);
  }
  return result;
}
