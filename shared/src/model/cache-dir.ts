import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** safesift's cache folder: `$SAFESIFT_CACHE_DIR`, else `~/.cache/safesift`. */
export function defaultCacheDir(): string {
  const fromEnv = process.env['SAFESIFT_CACHE_DIR'];
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.cache', 'safesift');
}
