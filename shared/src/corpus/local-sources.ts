import { open } from 'node:fs/promises';
import type { AsyncBuffer } from 'hyparquet';

/** An AsyncBuffer that holds an open resource until closed. */
export interface ClosableAsyncBuffer extends AsyncBuffer {
  close(): Promise<void>;
}

/**
 * Where readCorpus gets bytes from. Only local files exist today; an S3 opener can implement
 * the same two methods (a streamed GET, and ranged GETs behind an AsyncBuffer).
 */
export interface ByteSourceOpener {
  /** Sequential bytes, for JSON lines and JSON arrays. Fails here if the file cannot be opened. */
  openStream(location: string): Promise<AsyncIterable<Uint8Array>>;
  /** Random access, for Parquet. */
  openBuffer(location: string): Promise<ClosableAsyncBuffer>;
}

async function openStream(path: string): Promise<AsyncIterable<Uint8Array>> {
  // Opening first makes a missing or unreadable file fail now, not on the first read.
  const handle = await open(path, 'r');
  return handle.createReadStream({ autoClose: true });
}

async function openBuffer(path: string): Promise<ClosableAsyncBuffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    return {
      byteLength: size,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = Math.min(end ?? size, size);
        const buffer = new Uint8Array(Math.max(0, stop - start));
        let filled = 0;
        while (filled < buffer.length) {
          const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
          if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + filled}`);
          filled += bytesRead;
        }
        return buffer.buffer;
      },
      close: () => handle.close(),
    };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

export const localFiles: ByteSourceOpener = { openStream, openBuffer };
