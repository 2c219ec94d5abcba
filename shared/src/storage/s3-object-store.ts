import { createReadStream } from 'node:fs';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConfigError } from '../errors.ts';
import { checkKey, checkPrefix, checkRange, ObjectNotFoundError, ObjectStoreError, type ObjectInfo, type ObjectStore } from './object-store.ts';

export interface S3ObjectStoreOptions {
  /** Keys per ListObjectsV2 page (S3's maximum and default: 1000). Small values exercise paging in tests. */
  pageSize?: number;
  /** Part size for putFile's multipart uploads, in bytes (default and S3 minimum: 5 MiB). */
  partSize?: number;
  /** Parts uploaded at once by putFile (default 4). */
  queueSize?: number;
}

/**
 * An ObjectStore over one S3 bucket. Puts are atomic by S3's own semantics (a multipart upload
 * becomes visible only when completed). The client should come from createS3Client.
 */
export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  readonly #options: Required<S3ObjectStoreOptions>;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    options: S3ObjectStoreOptions = {},
  ) {
    if (bucket === '' || bucket.includes('/')) throw new ConfigError(`invalid S3 bucket name '${bucket}'`);
    this.description = `s3://${bucket}`;
    const { pageSize = 1000, partSize = 5 * 1024 * 1024, queueSize = 4 } = options;
    if (!(Number.isSafeInteger(pageSize) && pageSize >= 1 && pageSize <= 1000)) {
      throw new ConfigError(`S3 pageSize must be a whole number in 1..1000, got ${pageSize}`);
    }
    if (!(Number.isSafeInteger(partSize) && partSize >= 5 * 1024 * 1024)) {
      throw new ConfigError(`S3 partSize must be a whole number >= 5 MiB, got ${partSize}`);
    }
    if (!(Number.isSafeInteger(queueSize) && queueSize >= 1)) {
      throw new ConfigError(`S3 queueSize must be a whole number >= 1, got ${queueSize}`);
    }
    this.#options = { pageSize, partSize, queueSize };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, etag: unquote(out.ETag) };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.#wrap(key, 'HeadObject', err);
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const { Body } = await this.#get(key);
    return Body.transformToByteArray();
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    checkRange(start, end);
    if (end === start) {
      // No empty HTTP range exists; still report a missing object.
      if ((await this.head(key)) === null) throw new ObjectNotFoundError(this.description, key);
      return new Uint8Array(0);
    }
    let out;
    try {
      out = await this.#get(key, `bytes=${start}-${end - 1}`);
    } catch (err) {
      // 416: the range starts at or past the end of the object.
      if (statusOf(err) === 416) return new Uint8Array(0);
      throw err;
    }
    // A server may answer with more than asked (the whole object, or s3rver's reply to
    // "bytes=0-0"): cut out [start, end) using where the returned bytes begin.
    const from = out.ContentRange === undefined ? 0 : Number(/^bytes (\d+)-/.exec(out.ContentRange)?.[1] ?? NaN);
    const bytes = await out.Body.transformToByteArray();
    if (!(from <= start)) {
      throw new ObjectStoreError(this.description, key, `asked for bytes from ${start}, got Content-Range '${out.ContentRange}'`);
    }
    return from === start && bytes.length <= end - start ? bytes : bytes.subarray(start - from, end - from);
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const { Body: body } = await this.#get(key);
    if (!isAsyncIterable(body)) throw new ObjectStoreError(this.description, key, 'GetObject body is not a stream');
    return body;
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
    } catch (err) {
      throw this.#wrap(key, 'PutObject', err);
    }
  }

  async putFile(key: string, localPath: string): Promise<void> {
    checkKey(key);
    const { partSize, queueSize } = this.#options;
    const body = createReadStream(localPath);
    try {
      // Files under partSize go up as one PutObject; larger ones as a multipart upload,
      // aborted on failure so no parts are left behind.
      const upload = new Upload({ client: this.client, params: { Bucket: this.bucket, Key: key, Body: body }, partSize, queueSize });
      await upload.done();
    } catch (err) {
      throw this.#wrap(key, `upload of ${localPath}`, err);
    } finally {
      body.destroy();
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    const pages = paginateListObjectsV2(
      { client: this.client, pageSize: this.#options.pageSize },
      { Bucket: this.bucket, Prefix: prefix, MaxKeys: this.#options.pageSize },
    );
    try {
      // S3 lists in ascending UTF-8 byte order already.
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          yield { key: object.Key, size: object.Size ?? 0, etag: unquote(object.ETag) };
        }
      }
    } catch (err) {
      throw this.#wrap(prefix, 'ListObjectsV2', err);
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.#wrap(key, 'DeleteObject', err);
    }
  }

  async #get(key: string, range?: string) {
    checkKey(key);
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: range }));
      const { Body, ContentRange } = out;
      if (Body === undefined) throw new Error('GetObject returned no body');
      return { Body, ContentRange };
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(this.description, key, { cause: err });
      if (statusOf(err) === 416) throw err;
      throw this.#wrap(key, 'GetObject', err);
    }
  }

  #wrap(key: string, operation: string, err: unknown): ObjectStoreError | ObjectNotFoundError {
    if (err instanceof ObjectStoreError || err instanceof ObjectNotFoundError) return err;
    const status = statusOf(err);
    // A HEAD answer has no body, so the SDK can only say "UnknownError": the status tells more.
    const message = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)) + (status === undefined ? '' : `, HTTP ${status}`);
    // No status: the request never got an answer (connection refused, reset, timed out).
    const transient = status === undefined || status >= 500 || status === 429 || status === 408;
    return new ObjectStoreError(this.description, key, `${operation} failed (${message})`, { cause: err, transient });
  }
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

// NoSuchBucket is also a 404 but is a configuration problem, not a missing object.
function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(err) === 404 && name !== 'NoSuchBucket');
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
