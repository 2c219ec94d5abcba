import type { S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ConfigError, ModelError } from '../errors.ts';
import { parseLocation } from './location.ts';
import { checkKey, objectUri, type ObjectInfo, type ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';

export interface MaterializeOptions {
  /** safesift's cache folder (see defaultCacheDir); copies go under `${cacheDir}/models`. */
  cacheDir: string;
  /** Called only for s3:// URIs. */
  s3: () => S3Client;
}

/** Written last into a finished copy: a folder with it is complete. */
export const COMPLETION_MARKER = '.safesift-complete.json';

const DOWNLOADS_AT_ONCE = 4;

/**
 * A local folder holding the model at `uri`. A local path comes back as is (made absolute).
 * For `s3://bucket/prefix` the objects under `prefix/` are copied once into
 * `${cacheDir}/models/s3-<fingerprint>`, where the fingerprint covers every (key, size, etag),
 * so a changed model gets a fresh folder. The copy is built in a temp folder and renamed into
 * place with its completion marker, so racing processes never see half a model (the loser
 * discards its copy). `downloaded` is true when this call's copy was installed.
 */
export async function materializeModel(uri: string, options: MaterializeOptions): Promise<{ dir: string; downloaded: boolean }> {
  const location = parseLocation(uri);
  if (location.kind === 'local') return { dir: location.path, downloaded: false };

  const store = new S3ObjectStore(options.s3(), location.bucket);
  const prefix = location.key === '' || location.key.endsWith('/') ? location.key : `${location.key}/`;
  const files = await listFiles(store, prefix, uri);
  const dir = join(options.cacheDir, 'models', `s3-${fingerprint(files).slice(0, 16)}`);
  if (await isComplete(dir)) return { dir, downloaded: false };

  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await download(store, files, tmp, uri);
    await writeFile(join(tmp, COMPLETION_MARKER), `${JSON.stringify({ source: uri, files: files.map(({ path, size, etag }) => ({ path, size, etag })) }, null, 2)}\n`);
    return { dir, downloaded: await install(tmp, dir) };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

interface ModelFile extends ObjectInfo {
  /** Key relative to the model prefix, '/'-separated. */
  path: string;
}

async function listFiles(store: ObjectStore, prefix: string, uri: string): Promise<ModelFile[]> {
  const files: ModelFile[] = [];
  for await (const object of store.list(prefix)) {
    if (object.key.endsWith('/')) continue; // "folder" placeholder objects made by some S3 tools
    const path = object.key.slice(prefix.length);
    try {
      checkKey(path);
    } catch (err) {
      throw new ModelError(`${uri}: cannot copy object '${object.key}' into a folder: ${(err as Error).message}`, { cause: err });
    }
    files.push({ ...object, path });
  }
  if (files.length === 0) throw new ConfigError(`no model files under ${uri} (expected s3://bucket/prefix holding a checkpoint folder)`);
  return files;
}

function fingerprint(files: ModelFile[]): string {
  const hash = createHash('sha256');
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const { path, size, etag } of sorted) hash.update(`${JSON.stringify([path, size, etag])}\n`);
  return hash.digest('hex');
}

async function isComplete(dir: string): Promise<boolean> {
  try {
    await access(join(dir, COMPLETION_MARKER));
    return true;
  } catch {
    return false;
  }
}

async function download(store: ObjectStore, files: ModelFile[], tmp: string, uri: string): Promise<void> {
  await mkdir(tmp, { recursive: true });
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let file = files[next++]; file !== undefined; file = files[next++]) {
      const target = join(tmp, ...file.path.split('/'));
      await mkdir(dirname(target), { recursive: true });
      await pipeline(await store.getStream(file.key), createWriteStream(target));
      const { size } = await stat(target);
      if (size !== file.size) {
        throw new ModelError(`${objectUri(store.description, file.key)} changed while copying ${uri}: listed ${file.size} bytes, got ${size}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DOWNLOADS_AT_ONCE, files.length) }, worker));
}

/** Renames the finished copy into place; false when another process got there first. */
async function install(tmp: string, dir: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(tmp, dir);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      if (await isComplete(dir)) return false;
      if (attempt > 0) throw err;
      // A folder without the marker was not made by us (renames carry the marker): replace it.
      await rm(dir, { recursive: true, force: true });
    }
  }
}
