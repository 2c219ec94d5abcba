import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { defaultCacheDir } from './cache-dir.ts';

export interface FingerprintFile {
  /** Name that goes into the fingerprint (relative to the checkpoint folder), so moving the folder keeps it. */
  label: string;
  path: string;
  /** Remember this file's digest by (absolute path, size, mtimeMs): for multi-GB weight files. */
  memoise: boolean;
}

export interface FingerprintOptions {
  /** Folder of `fingerprints.json`; default `$SAFESIFT_CACHE_DIR` or `~/.cache/safesift`. */
  cacheDir?: string;
}

interface MemoEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
  usedAt: number;
}

// Enough for many checkpoints' shards; the least recently used entries go first.
const MAX_MEMO_ENTRIES = 1024;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1 << 22 }), hash);
  return hash.digest('hex');
}

async function loadMemo(file: string): Promise<Record<string, MemoEntry>> {
  try {
    const json: unknown = JSON.parse(await readFile(file, 'utf8'));
    return typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, MemoEntry>) : {};
  } catch {
    return {}; // absent or unreadable: start afresh
  }
}

async function saveMemo(file: string, memo: Record<string, MemoEntry>): Promise<void> {
  const entries = Object.entries(memo).sort((a, b) => b[1].usedAt - a[1].usedAt).slice(0, MAX_MEMO_ENTRIES);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true });
    // Write-then-rename so a concurrent reader never sees half a file.
    await writeFile(tmp, JSON.stringify(Object.fromEntries(entries)));
    await rename(tmp, file);
  } catch {
    // A read-only cache only costs re-hashing next time.
  }
}

/**
 * Content fingerprint (sha256 hex) of a list of files: sha256 over one line per file,
 * `label \t size \t sha256(bytes)`, in the given order.
 */
export async function fingerprintFiles(files: readonly FingerprintFile[], options: FingerprintOptions = {}): Promise<string> {
  const memoFile = join(options.cacheDir ?? defaultCacheDir(), 'fingerprints.json');
  let memo: Record<string, MemoEntry> | undefined;
  const outer = createHash('sha256');
  for (const file of files) {
    const abs = resolve(file.path);
    const st = await stat(abs);
    let digest: string;
    if (file.memoise) {
      memo ??= await loadMemo(memoFile);
      const hit = memo[abs];
      if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && typeof hit.sha256 === 'string') {
        digest = hit.sha256;
        hit.usedAt = Date.now();
      } else {
        digest = await sha256File(abs);
        memo[abs] = { size: st.size, mtimeMs: st.mtimeMs, sha256: digest, usedAt: Date.now() };
      }
    } else {
      digest = await sha256File(abs);
    }
    outer.update(`${file.label}\t${st.size}\t${digest}\n`);
  }
  if (memo) await saveMemo(memoFile, memo); // also records usedAt
  return outer.digest('hex');
}
