import type { S3Client } from '@aws-sdk/client-s3';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.ts';
import { LocalObjectStore } from './local-object-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';

/** Where data lives: an S3 object or prefix, or a local path. */
export type Location = { kind: 's3'; bucket: string; key: string } | { kind: 'local'; path: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * `s3://bucket/key...` → { kind: 's3', bucket, key } (key may be '' for the whole bucket);
 * `file:///abs` or a plain path → { kind: 'local', path } with the path made absolute.
 * Throws ConfigError for `s3://` without a bucket and for other schemes.
 */
export function parseLocation(uri: string): Location {
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (uri.trim() === '') throw new ConfigError('empty location: expected a path or an s3://bucket/key URI');
    return { kind: 'local', path: resolve(uri) };
  }
  if (scheme === 'file') {
    try {
      return { kind: 'local', path: fileURLToPath(uri) };
    } catch (err) {
      throw new ConfigError(`invalid file URI '${uri}': ${(err as Error).message}`, { cause: err });
    }
  }
  if (scheme !== 's3') throw new ConfigError(`unsupported location '${uri}': expected a local path or an s3://bucket/key URI`);
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (bucket === '') throw new ConfigError(`invalid S3 location '${uri}': no bucket name (expected s3://bucket/key)`);
  return { kind: 's3', bucket, key: slash < 0 ? '' : rest.slice(slash + 1) };
}

/**
 * The store holding `uri` and its key there. S3: the bucket, key as in the URI. Local: the
 * parent folder, key the base name, so `joinKey(key, 'child')` addresses files inside a folder
 * output. `s3` is called only for S3 locations.
 */
export function openLocation(uri: string, s3: () => S3Client): { store: ObjectStore; key: string } {
  const location = parseLocation(uri);
  if (location.kind === 's3') return { store: new S3ObjectStore(s3(), location.bucket), key: location.key };
  return { store: new LocalObjectStore(dirname(location.path)), key: basename(location.path) };
}

/** Joins key parts with single '/', dropping empty parts and stray slashes: joinKey('a/', '/b', 'c') = 'a/b/c'. */
export function joinKey(prefix: string, ...parts: string[]): string {
  return [prefix, ...parts]
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter((part) => part !== '')
    .join('/');
}
