import { parquetMetadataAsync } from 'hyparquet';
import { corpusFormat } from '../corpus/read-corpus.ts';
import { localFiles } from '../corpus/local-sources.ts';

/**
 * Records a file will yield, for progress and ETA only: JSONL non-blank lines (a fast byte scan)
 * or Parquet row counts from the footer; null when it cannot be known cheaply (JSON arrays).
 */
export async function estimateRecordCount(path: string): Promise<number | null> {
  const format = corpusFormat(path);
  if (format === 'jsonl') return countLines(await localFiles.openStream(path));
  if (format === 'parquet') {
    const file = await localFiles.openBuffer(path);
    try {
      return Number((await parquetMetadataAsync(file)).num_rows);
    } finally {
      await file.close();
    }
  }
  return null;
}

async function countLines(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let lines = 0;
  let lineHasContent = false;
  for await (const chunk of chunks) {
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
