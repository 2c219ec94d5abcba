import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WORK_DIR } from '@safesift/core/cluster/work-layout.ts';
import { InputError } from '@safesift/core/errors.ts';
import type { ObjectStore } from '@safesift/core/storage/object-store.ts';
import { safeKeyPath } from '@safesift/core/storage/safe-key-path.ts';

export interface DownloadResult {
  /** Paths written, relative to `to`, '/'-separated, in listing order. */
  files: string[];
  /** Keys not written because their local path would not stay inside `to`, with why. */
  refused: { key: string; error: InputError }[];
}

/**
 * Copies every object under `outKey/` (except the job's `_work/` files) to the same relative path
 * under `to`. Anyone who can write to the bucket chooses the keys, so a key that would land outside
 * `to` is refused before anything (even a folder) is made for it; the others are still copied.
 */
export async function downloadOutputs(store: ObjectStore, outKey: string, to: string): Promise<DownloadResult> {
  const prefix = outKey === '' ? '' : `${outKey}/`;
  const result: DownloadResult = { files: [], refused: [] };
  for await (const info of store.list(prefix)) {
    const relative = info.key.slice(prefix.length);
    if (relative.startsWith(`${WORK_DIR}/`)) continue;
    if (info.key.endsWith('/')) continue; // "folder" placeholder objects made by some S3 tools
    let target: string;
    try {
      target = safeKeyPath(to, info.key, { prefix, store: store.description });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      result.refused.push({ key: info.key, error: err });
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, await store.get(info.key));
    result.files.push(relative);
  }
  return result;
}

/** The one-line error `download` exits with (the input exit code) when it refused keys. */
export function refusedKeysError(to: string, result: DownloadResult): InputError {
  const [first, ...rest] = result.refused;
  if (first === undefined) throw new Error('refusedKeysError: no refused keys');
  const named = rest.slice(0, 3).map((r) => JSON.stringify(r.key));
  const more = rest.length > named.length ? ` and ${rest.length - named.length} more` : '';
  const also = rest.length > 0 ? ` (also refused: ${named.join(', ')}${more})` : '';
  const { source, reason } = first.error;
  const count = `${result.files.length} file${result.files.length === 1 ? '' : 's'}`;
  return new InputError(source, -1, `${reason}${also}; downloaded the other ${count} to ${to}; delete or rename the refused objects to download them`);
}
