import type { S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputError } from '../errors.ts';
import { writeJsonAtomic } from '../output/atomic-json.ts';
import { joinKey, parseLocation } from '../storage/location.ts';
import { objectUri } from '../storage/object-store.ts';
import { S3ObjectStore } from '../storage/s3-object-store.ts';

/** Written last: its presence in --out means the filter finished. */
export const FILTER_SUMMARY = 'filter-summary.json';
export const FLAGGED_LOG = 'flagged.jsonl';
/** Local temp files: `<name>.<pid>-<8 hex>.partial`, beside their target. */
const TEMP_NAME = /\.\d+-[0-9a-f]{8}\.partial$/;

/**
 * Where a filter writes (--out): a local folder or `s3://bucket/prefix`. Each file is written to a
 * local temp file first and then committed whole: renamed into place locally (the temp file sits
 * in the same folder), uploaded by one atomic put on S3. Failures are OutputErrors naming --out.
 */
export interface FilterOutput {
  readonly uri: string;
  /** Checks that --out can be written (before any work) and removes an older filter-summary.json. */
  prepare(): Promise<void>;
  /** The location `name` will have, for messages and the summary. */
  locationOf(name: string): string;
  /** A fresh local temp file for `name`. */
  tempFile(name: string): Promise<string>;
  /** Moves a finished temp file into place as `name`. */
  commit(name: string, temp: string): Promise<void>;
  writeSummary(value: unknown): Promise<void>;
  /** Removes what temp files are left (after a failure). */
  cleanup(): Promise<void>;
}

export function openFilterOutput(uri: string, s3: () => S3Client): FilterOutput {
  const location = parseLocation(uri);
  return location.kind === 'local' ? localOutput(uri, location.path) : s3Output(uri, new S3ObjectStore(s3(), location.bucket), location.key.replace(/\/+$/, ''));
}

function localOutput(uri: string, dir: string): FilterOutput {
  const temps = new Set<string>();
  const unusable = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'is not writable' : code === 'ENOTDIR' ? 'has a file where a folder should be' : 'cannot be used';
    return new OutputError(`--out ${uri} ${why} (${code ?? (err as Error).message}): choose a folder you can write to`, { cause: err });
  };
  return {
    uri,
    async prepare() {
      const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw unusable(err);
      });
      if (info !== null && !info.isDirectory()) throw new OutputError(`--out ${uri} is a file, not a folder: choose another --out or remove the file`);
      try {
        await mkdir(dir, { recursive: true });
        // mkdir succeeds on an existing read-only folder: only a write shows it is usable.
        const probe = join(dir, `.safesift-write-test-${process.pid}`);
        await writeFile(probe, '');
        await rm(probe, { force: true });
        await rm(join(dir, FILTER_SUMMARY), { force: true });
        // Temp files of a filter that was killed outright.
        for (const name of await readdir(dir)) if (TEMP_NAME.test(name)) await rm(join(dir, name), { force: true });
      } catch (err) {
        throw unusable(err);
      }
    },
    locationOf: (name) => join(dir, name),
    async tempFile(name) {
      const temp = join(dir, `${name}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
      temps.add(temp);
      return temp;
    },
    async commit(name, temp) {
      try {
        await rename(temp, join(dir, name));
        temps.delete(temp);
      } catch (err) {
        throw unusable(err);
      }
    },
    async writeSummary(value) {
      await writeJsonAtomic(join(dir, FILTER_SUMMARY), value).catch((err: unknown) => {
        throw unusable(err);
      });
    },
    async cleanup() {
      for (const temp of temps) await rm(temp, { force: true });
      temps.clear();
    },
  };
}

function s3Output(uri: string, store: S3ObjectStore, prefix: string): FilterOutput {
  let tempDir: string | null = null;
  const failed = (what: string, err: unknown) => new OutputError(`--out ${uri}: ${what} failed (${(err as Error).message}): check the bucket, the prefix and your credentials`, { cause: err });
  return {
    uri,
    async prepare() {
      // A put and a delete: listing or a HEAD would pass a bucket we may only read.
      const probe = joinKey(prefix, `.safesift-write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        await store.put(probe, '');
        await store.delete(probe);
        await store.delete(joinKey(prefix, FILTER_SUMMARY));
      } catch (err) {
        throw failed('writing a test object', err);
      }
    },
    locationOf: (name) => objectUri(store.description, joinKey(prefix, name)),
    async tempFile(name) {
      tempDir ??= await mkdtemp(join(tmpdir(), 'safesift-filter-'));
      return join(tempDir, `${randomBytes(4).toString('hex')}-${name}`);
    },
    async commit(name, temp) {
      try {
        await store.putFile(joinKey(prefix, name), temp);
      } catch (err) {
        throw failed(`uploading ${name}`, err);
      } finally {
        await rm(temp, { force: true });
      }
    },
    async writeSummary(value) {
      try {
        await store.put(joinKey(prefix, FILTER_SUMMARY), `${JSON.stringify(value, null, 2)}\n`);
      } catch (err) {
        throw failed(`writing ${FILTER_SUMMARY}`, err);
      }
    },
    async cleanup() {
      if (tempDir !== null) await rm(tempDir, { recursive: true, force: true });
      tempDir = null;
    },
  };
}
