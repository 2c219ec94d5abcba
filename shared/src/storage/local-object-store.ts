import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { ConfigError, InputError } from '../errors.ts';
import { checkKey, checkPrefix, checkRange, compareKeys, ObjectNotFoundError, ObjectStoreError, type ObjectInfo, type ObjectStore } from './object-store.ts';
import { safeKeyPath } from './safe-key-path.ts';

// Temp files live beside their target (so rename is atomic) and are never listed as objects.
const TEMP_MARKER = '.safesift-tmp-';

/**
 * An ObjectStore in a local folder: key "a/b" is the file `${rootDir}/a/b`. Writes go to a temp
 * file in the same folder and are renamed into place. The etag hashes (size, mtime, inode), so
 * it changes on every replacement without reading the file.
 */
export class LocalObjectStore implements ObjectStore {
  readonly description: string;
  readonly #root: string;

  constructor(rootDir: string) {
    this.#root = resolve(rootDir);
    this.description = this.#root;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const stats = await this.#stat(key);
    return stats === null ? null : info(key, stats);
  }

  async get(key: string): Promise<Uint8Array> {
    const handle = await this.#open(key);
    try {
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    checkRange(start, end);
    const handle = await this.#open(key);
    try {
      const { size } = await handle.stat();
      const buffer = new Uint8Array(Math.max(0, Math.min(end, size) - start));
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
        if (bytesRead === 0) break; // shrank under us: return what exists
        filled += bytesRead;
      }
      return filled === buffer.length ? buffer : buffer.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array>> {
    const handle = await this.#open(key);
    return handle.createReadStream({ autoClose: true });
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    await this.#replace(key, async (tmp) => {
      const handle = await open(tmp, 'wx');
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }

  async putFile(key: string, localPath: string): Promise<void> {
    await this.#replace(key, (tmp) => copyFile(localPath, tmp));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    // Walk only the deepest folder the prefix names; the rest of the prefix filters names.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const found: ObjectInfo[] = [];
    await this.#walk(folder, prefix, found);
    found.sort((a, b) => compareKeys(a.key, b.key));
    yield* found;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const stats = await this.#stat(key);
    if (stats !== null) await rm(this.#path(key), { force: true });
  }

  #path(key: string): string {
    checkKey(key);
    if (key.split('/').some((s) => s.includes(TEMP_MARKER))) {
      throw new ConfigError(`invalid object key '${key}': '${TEMP_MARKER}' is reserved for temp files`);
    }
    try {
      // Resolved and checked to stay under the root, not just joined. On POSIX '\\' is a plain
      // name character (local files may have it); elsewhere it would split the key.
      return safeKeyPath(this.#root, key, { store: this.description, allowBackslash: sep === '/' });
    } catch (err) {
      // The store's contract: a malformed key is a ConfigError.
      if (!(err instanceof InputError)) throw err;
      throw new ConfigError(`invalid object key '${key}': ${err.reason}`, { cause: err });
    }
  }

  async #stat(key: string): Promise<Stats | null> {
    const path = this.#path(key);
    try {
      const stats = await stat(path);
      return stats.isFile() ? stats : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw new ObjectStoreError(this.description, key, (err as Error).message, { cause: err });
    }
  }

  async #open(key: string) {
    const path = this.#path(key);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(this.description, key, { cause: err });
      throw new ObjectStoreError(this.description, key, (err as Error).message, { cause: err });
    }
    // open() succeeds on a folder; a folder is not an object.
    if (!(await handle.stat()).isFile()) {
      await handle.close();
      throw new ObjectNotFoundError(this.description, key);
    }
    return handle;
  }

  async #replace(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const path = this.#path(key);
    const tmp = join(dirname(path), `${TEMP_MARKER}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(dirname(path), { recursive: true });
      await write(tmp);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new ObjectStoreError(this.description, key, `write failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async #walk(folder: string, prefix: string, found: ObjectInfo[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(folder === '' ? this.#root : join(this.#root, ...folder.split('/')), { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw new ObjectStoreError(this.description, folder, `cannot list: ${(err as Error).message}`, { cause: err });
    }
    for (const entry of entries) {
      if (entry.name.includes(TEMP_MARKER)) continue;
      const key = folder === '' ? entry.name : `${folder}/${entry.name}`;
      // Descend only into folders that can still hold keys with this prefix.
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await this.#walk(key, prefix, found);
      } else if (key.startsWith(prefix)) {
        const stats = await this.#stat(key); // follows symlinks; null if it vanished
        if (stats !== null) found.push(info(key, stats));
      }
    }
  }
}

function info(key: string, stats: Stats): ObjectInfo {
  const etag = createHash('sha256').update(`${stats.size}:${stats.mtimeMs}:${stats.ino}:${stats.dev}`).digest('hex').slice(0, 32);
  return { key, size: stats.size, etag };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

