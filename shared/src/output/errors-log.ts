/**
 * errors.jsonl: one JSON line per rejected record. Written to `<path>.partial` and renamed at
 * close, so the file exists (possibly empty) exactly when the run finished writing it.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { finished } from 'node:stream/promises';

/** `row` is the 0-based record index in `source`, or -1 when the whole file was rejected. */
export interface RecordError { source: string; row: number; reason: string }

export interface ErrorsLog {
  record(err: RecordError): void;
  readonly count: number;
  close(): Promise<void>;
  abort(): Promise<void>;
}

export async function openErrorsLog(path: string): Promise<ErrorsLog> {
  const partial = `${path}.partial`;
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(partial, { flags: 'w' });
  let failure: unknown = null;
  out.on('error', (err) => { failure ??= err; });
  await new Promise<void>((resolve, reject) => {
    out.once('ready', () => resolve());
    out.once('error', reject);
  });
  let count = 0;
  let closed = false;

  return {
    record({ source, row, reason }) {
      if (closed) throw new Error(`errors log ${path} is closed`);
      // Only the three documented fields: an InputError instance would otherwise drag its stack along.
      out.write(`${JSON.stringify({ source, row, reason })}\n`);
      count++;
    },
    get count() { return count; },
    async close() {
      if (closed) throw new Error(`errors log ${path} is closed`);
      closed = true;
      out.end();
      await finished(out).catch((err: unknown) => { failure ??= err; });
      if (failure !== null) {
        await rm(partial, { force: true });
        throw new Error(`writing ${path} failed`, { cause: failure });
      }
      await rename(partial, path);
    },
    async abort() {
      if (closed) return;
      closed = true;
      out.destroy();
      await finished(out).catch(() => {});
      await rm(partial, { force: true });
    },
  };
}
