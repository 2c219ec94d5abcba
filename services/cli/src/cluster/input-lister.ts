import type { S3Client } from '@aws-sdk/client-s3';
import { resolve } from 'node:path';
import type { InputLister } from '@safesift/core/distributed/expand-inputs.ts';
import { LocalObjectStore } from '@safesift/core/storage/local-object-store.ts';
import { parseLocation } from '@safesift/core/storage/location.ts';
import { S3ObjectStore } from '@safesift/core/storage/s3-object-store.ts';

/** Lists files under a local folder or an S3 prefix, named as the prefix plus the relative path. */
export function storageLister(s3: () => S3Client): InputLister {
  return async function* list(base: string) {
    if (/^s3:\/\//i.test(base)) {
      const location = parseLocation(base);
      if (location.kind !== 's3') return;
      const store = new S3ObjectStore(s3(), location.bucket);
      for await (const info of store.list(location.key)) yield `s3://${location.bucket}/${info.key}`;
      return;
    }
    const store = new LocalObjectStore(resolve(base === '' ? '.' : base));
    try {
      for await (const info of store.list('')) yield `${base}${info.key}`;
    } catch {
      // A folder that does not exist holds no files; expandInputs then names the pattern.
    }
  };
}
