/**
 * Turns the `data` entries of a job spec into concrete files before compileAuditOptions (which
 * checks extensions) sees them. An entry is a literal path or URI (kept as is, not checked for
 * existence), a prefix ending in '/' (every corpus file under it), or a glob: `*` and `?` match
 * within one path segment, `**` any number of segments. Globs and prefixes yield only corpus files.
 */
import { corpusFormat } from '../corpus/read-corpus.ts';
import { ConfigError } from '../errors.ts';

/**
 * Lists every file under a folder or key prefix, recursively, each named as the prefix followed by
 * its relative path (`data/` yields `data/a.jsonl`, `data/x/b.parquet`; '' is the current folder).
 */
export type InputLister = (dirOrPrefixUri: string) => AsyncIterable<string>;

const GLOB_CHARS = /[*?]/;

/** True for entries that expandInputs must list: globs and '/'-terminated prefixes. */
export function isInputPattern(entry: string): boolean {
  return GLOB_CHARS.test(entry) || entry.endsWith('/');
}

/** Expanded, deduplicated, sorted inputs; a pattern that matches no corpus file is a ConfigError. */
export async function expandInputs(patterns: readonly string[], list: InputLister): Promise<string[]> {
  const found = new Set<string>();
  for (const pattern of patterns) {
    if (!isInputPattern(pattern)) {
      found.add(pattern);
      continue;
    }
    const { base, regex } = compilePattern(pattern);
    let matched = 0;
    for await (const entry of list(base)) {
      if (regex.test(entry) && isCorpusFile(entry)) {
        found.add(entry);
        matched++;
      }
    }
    if (matched === 0) throw new ConfigError(`data: '${pattern}' matched no corpus files (.jsonl, .ndjson, .json, .parquet)`);
  }
  return [...found].sort();
}

/** The folder or prefix to list (everything before the segment holding the first glob character) and the full-path regex. */
export function compilePattern(pattern: string): { base: string; regex: RegExp } {
  const first = pattern.search(GLOB_CHARS);
  const base = first === -1 ? pattern : pattern.slice(0, pattern.lastIndexOf('/', first) + 1);
  const bucket = /^s3:\/\/[^/*?]+\//i.exec(pattern);
  if (/^s3:\/\//i.test(pattern) && (bucket === null || base.length < bucket[0].length)) {
    throw new ConfigError(`data: '${pattern}': globs cannot name the bucket; expected s3://bucket/<key pattern>`);
  }
  if (first === -1) return { base, regex: new RegExp(`^${escape(pattern)}.+$`, 's') };
  let source = escape(base);
  for (let i = base.length; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` may match no folder at all; a bare `**` matches anything, slashes included.
      if (pattern[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += escape(c);
  }
  return { base, regex: new RegExp(`^${source}$`, 's') };
}

function isCorpusFile(name: string): boolean {
  try {
    corpusFormat(name);
    return true;
  } catch {
    return false;
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
