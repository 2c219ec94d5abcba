import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError } from '../errors.ts';

export interface KeyPathOptions {
  /** Stripped from the key first (e.g. a job's output prefix ending in '/'); the key must start with it. */
  prefix?: string;
  /** Names the store in messages, e.g. "s3://bucket". */
  store?: string;
  /**
   * Take '\' as an ordinary name character. Only for local folders on POSIX, where a file name may
   * hold one; keys from elsewhere must not, as Windows reads it as a folder separator.
   */
  allowBackslash?: boolean;
}

/**
 * The local path for object `key` under folder `root`: `${root}/${key minus prefix}`. Object keys
 * may come from anyone who can write to the bucket, so a key that is absolute, has empty, '.' or
 * '..' segments, a backslash or a NUL, or would otherwise resolve outside `root`, throws
 * InputError naming the key and why.
 */
export function safeKeyPath(root: string, key: string, options: KeyPathOptions = {}): string {
  const prefix = options.prefix ?? '';
  const refuse = (why: string): never => {
    const where = options.store === undefined ? '' : ` in ${options.store}`;
    // JSON quoting shows NUL and other control characters instead of printing them raw.
    throw new InputError(`object key ${JSON.stringify(key)}${where}`, -1, `refused: ${why}; keys must be relative '/'-separated names that stay inside ${root}`);
  };
  if (!key.startsWith(prefix)) refuse(`it is not under the prefix ${JSON.stringify(prefix)}`);
  const rest = key.slice(prefix.length);
  const segments = rest.split('/');
  if (rest === '') refuse('it names no file below the prefix');
  if (rest.includes('\0')) refuse('it contains a NUL character');
  if (!options.allowBackslash && rest.includes('\\')) refuse("it contains a backslash ('\\'), a folder separator on Windows");
  if (rest.startsWith('/') || isAbsolute(rest)) refuse('it is an absolute path');
  if (segments.some((s) => s === '')) refuse("it has an empty segment (leading, trailing or double '/')");
  if (segments.some((s) => s === '.' || s === '..')) refuse("it has a '.' or '..' segment");
  // The checks above should make this unreachable; resolving is what actually guarantees it.
  const base = resolve(root);
  const target = resolve(join(base, ...segments));
  const inside = relative(base, target);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) refuse(`it resolves outside ${base}`);
  return target;
}
