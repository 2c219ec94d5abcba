import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { parquetMetadataAsync } from 'hyparquet';

/**
 * Records a file will yield, for progress and ETA only: JSONL non-blank lines (a fast byte scan)
 * or Parquet row counts from the footer; null when it cannot be known cheaply (JSON arrays).
 */
export async function estimateRecordCount(path: string): Promise<number | null> {
  if (/\.(jsonl|ndjson)$/i.test(path)) return countLines(path);
  if (/\.parquet$/i.test(path)) {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const buffer = {
        byteLength: size,
        async slice(start: number, end = size): Promise<ArrayBuffer> {
          const bytes = new Uint8Array(end - start);
          await handle.read(bytes, 0, bytes.length, start);
          return bytes.buffer;
        },
      };
      return Number((await parquetMetadataAsync(buffer)).num_rows);
    } finally {
      await handle.close();
    }
  }
  return null;
}

async function countLines(path: string): Promise<number> {
  let lines = 0;
  let lineHasContent = false;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (const byte of chunk) {
      if (byte === 0x0a) {
        if (lineHasContent) lines++;
        lineHasContent = false;
      } else if (byte !== 0x20 && byte !== 0x0d && byte !== 0x09) {
        lineHasContent = true;
      }
    }
  }
  return lines + (lineHasContent ? 1 : 0);
}
