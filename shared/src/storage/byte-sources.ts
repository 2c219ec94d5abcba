import type { S3Client } from '@aws-sdk/client-s3';
import { localFiles, type ByteSourceOpener, type ClosableAsyncBuffer } from '../corpus/local-sources.ts';
import { parseLocation } from './location.ts';
import { ObjectNotFoundError, objectUri, type ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';

/**
 * Corpus bytes from local paths and s3:// URIs: `readCorpusWith(storageByteSources(s3), uri)`.
 * JSON lines and arrays stream one GET; Parquet reads ranges, sized by one HEAD (s3rver gets
 * suffix ranges wrong, so none are used). `s3` is called once, on the first S3 location.
 */
export function storageByteSources(s3: () => S3Client): ByteSourceOpener {
  let client: S3Client | undefined;
  const open = (location: string): { path: string } | { store: ObjectStore; key: string } => {
    const parsed = parseLocation(location);
    if (parsed.kind === 'local') return { path: parsed.path };
    client ??= s3();
    return { store: new S3ObjectStore(client, parsed.bucket), key: parsed.key };
  };

  return {
    async openStream(location) {
      const at = open(location);
      return 'path' in at ? localFiles.openStream(at.path) : at.store.getStream(at.key);
    },
    async openBuffer(location) {
      const at = open(location);
      return 'path' in at ? localFiles.openBuffer(at.path) : rangedBuffer(at.store, at.key);
    },
  };
}

/** Random access to one object through ranged GETs; nothing is held open between reads. */
export async function rangedBuffer(store: ObjectStore, key: string): Promise<ClosableAsyncBuffer> {
  const info = await store.head(key);
  if (info === null) throw new ObjectNotFoundError(store.description, key);
  const size = info.size;
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      if (stop <= start) return new ArrayBuffer(0);
      const bytes = await store.getRange(key, start, stop);
      if (bytes.length !== stop - start) {
        throw new Error(`${objectUri(store.description, key)}: expected ${stop - start} bytes at ${start}, got ${bytes.length} (object changed?)`);
      }
      // The caller wants an ArrayBuffer of exactly these bytes, not a view into a larger one.
      const fits = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
      return fits ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer;
    },
    close: async () => {},
  };
}
