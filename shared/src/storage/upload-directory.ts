import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { joinKey } from './location.ts';
import type { ObjectStore } from './object-store.ts';

const UPLOADS_AT_ONCE = 4;

/**
 * Copies every file under `localDir` (recursively) to `${keyPrefix}/<relative path>` in `store`.
 * Returns the keys written, ascending. Symlinks and other non-files are skipped.
 */
export async function uploadDirectory(localDir: string, store: ObjectStore, keyPrefix: string): Promise<string[]> {
  const entries = await readdir(localDir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return { path, key: joinKey(keyPrefix, ...relative(localDir, path).split(sep)) };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let file = files[next++]; file !== undefined; file = files[next++]) await store.putFile(file.key, file.path);
  };
  await Promise.all(Array.from({ length: Math.min(UPLOADS_AT_ONCE, files.length) }, worker));
  return files.map((file) => file.key);
}
