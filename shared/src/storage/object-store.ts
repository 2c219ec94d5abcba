import { ConfigError, SafesiftError } from '../errors.ts';

/** One stored object. `etag` changes whenever the content is replaced. */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
}

/**
 * Flat key → bytes storage (S3, or a local folder). Keys are '/'-separated relative paths
 * without empty, '.' or '..' segments.
 */
export interface ObjectStore {
  /** e.g. "s3://bucket" or "/abs/dir", for messages. */
  readonly description: string;
  /** The object's size and etag, or null when there is none. */
  head(key: string): Promise<ObjectInfo | null>;
  /** The whole object; ObjectNotFoundError when it is missing. */
  get(key: string): Promise<Uint8Array>;
  /** Bytes [start, end), cut short at the end of the object; ObjectNotFoundError when missing. */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>;
  /** The object as a stream; fails here (ObjectNotFoundError) rather than on the first read. */
  getStream(key: string): Promise<AsyncIterable<Uint8Array>>;
  /** Atomic: readers see the old object or the whole new one, never part of it. */
  put(key: string, body: Uint8Array | string): Promise<void>;
  /** Streams a local file into the store (multipart on S3); atomic like put. */
  putFile(key: string, localPath: string): Promise<void>;
  /** Every object whose key starts with `prefix` (a plain string prefix), at any depth, keys ascending. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; a missing key is not an error. */
  delete(key: string): Promise<void>;
}

/** The object does not exist (or the key names a folder, for local stores). */
export class ObjectNotFoundError extends SafesiftError {
  constructor(
    readonly store: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`no such object: ${objectUri(store, key)}`, options);
  }
}

/**
 * Any other storage failure, naming the object it concerns; the SDK or fs error is the cause.
 * `transient`: the store was unreachable or answered 5xx/429/408, so trying again may work.
 */
export class ObjectStoreError extends SafesiftError {
  readonly transient: boolean;
  constructor(
    readonly store: string,
    readonly key: string,
    reason: string,
    options?: { cause?: unknown; transient?: boolean },
  ) {
    super(`${objectUri(store, key)}: ${reason}`, options);
    this.transient = options?.transient ?? false;
  }
}


/** "s3://bucket/key" or "/dir/key": how messages name an object. */
export function objectUri(store: string, key: string): string {
  return key === '' ? store : `${store.replace(/\/+$/, '')}/${key}`;
}

/** Throws ConfigError unless `key` is a well-formed object key. */
export function checkKey(key: string): void {
  const segments = key.split('/');
  const bad =
    key === '' ? 'it is empty'
    : key.includes('\0') ? 'it contains a NUL character'
    : segments.some((s) => s === '') ? "it has an empty segment (leading, trailing or double '/')"
    : segments.some((s) => s === '.' || s === '..') ? "it has a '.' or '..' segment"
    : undefined;
  if (bad !== undefined) throw new ConfigError(`invalid object key '${key}': ${bad}`);
}

/** Throws ConfigError for a list prefix that could never match a valid key (or would leave the store). */
export function checkPrefix(prefix: string): void {
  // The last segment may be a partial name ('.hid' matches '.hidden'); whole segments must be valid.
  const folders = prefix.split('/').slice(0, -1);
  if (prefix.startsWith('/') || prefix.includes('\0') || folders.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ConfigError(`invalid object key prefix '${prefix}': expected '/'-separated names without empty, '.' or '..' folders`);
  }
}

/** Ascending order of keys as S3 lists them: by UTF-8 bytes, not UTF-16 code units. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Throws RangeError unless [start, end) is a valid byte range. */
export function checkRange(start: number, end: number): void {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end >= start)) {
    throw new RangeError(`invalid byte range [${start}, ${end}): expected whole numbers with 0 <= start <= end`);
  }
}
