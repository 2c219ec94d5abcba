import type { S3Client } from '@aws-sdk/client-s3';
import { joinKey, openLocation } from '../storage/location.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/** Where a cache lives: a store, the key prefix of the cache's folder there, and the URI as given. */
export interface CacheRoot {
  store: ObjectStore;
  prefix: string;
  uri: string;
}

/** A local folder or an `s3://bucket/prefix`; `s3` is called only for S3. */
export function openCacheRoot(uri: string, s3: () => S3Client): CacheRoot {
  const { store, key } = openLocation(uri, s3);
  return { store, prefix: key, uri };
}

export function cacheKey(root: CacheRoot, ...parts: string[]): string {
  return joinKey(root.prefix, ...parts);
}
