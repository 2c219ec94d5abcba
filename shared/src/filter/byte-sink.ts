import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { OutputError } from '../errors.ts';

const GATHER_BYTES = 64 * 1024;

/**
 * Bytes to a new local file, waiting for the disk when the stream's buffer is full, so writing
 * a large output keeps memory at the stream's high-water mark. Failures are OutputErrors naming the file.
 */
export class ByteSink {
  readonly #out: WriteStream;
  #failure: unknown = null;
  #bytes = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  private constructor(
    out: WriteStream,
    readonly path: string,
  ) {
    this.#out = out;
    out.on('error', (err) => {
      this.#failure ??= err;
    });
  }

  /** Creates (or truncates) `path`; fails here if it cannot be opened. */
  static async open(path: string): Promise<ByteSink> {
    const out = createWriteStream(path, { flags: 'w' });
    await new Promise<void>((resolve, reject) => {
      out.once('ready', () => resolve());
      out.once('error', (err) => reject(failed(path, err)));
    });
    return new ByteSink(out, path);
  }

  get bytes(): number {
    return this.#bytes;
  }

  async write(chunk: Uint8Array | string): Promise<void> {
    this.#check();
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#bytes += bytes.length;
    // Small writes (one JSON line each) are gathered: one stream write per ~64 KiB, not per line.
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= GATHER_BYTES) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!this.#out.write(data)) {
      await drained(this.#out);
      this.#check();
    }
  }

  async close(): Promise<void> {
    await this.#flush();
    this.#out.end();
    await finished(this.#out).catch((err: unknown) => {
      this.#failure ??= err;
    });
    this.#check();
  }

  #check(): void {
    if (this.#failure !== null) throw failed(this.path, this.#failure);
  }

  async abort(): Promise<void> {
    this.#out.destroy();
    await finished(this.#out).catch(() => {});
  }
}

function failed(path: string, err: unknown): OutputError {
  return new OutputError(`writing ${path} failed: ${(err as Error).message}`, { cause: err });
}

/** Resolves on 'drain', or on 'close'/'error' (the failure is kept by the stream's own error listener). */
function drained(out: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      out.off('error', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
    out.on('error', done);
  });
}
