import { posix, resolve } from 'node:path';
import { corpusFormat, type CorpusFormat } from '../corpus/read-corpus.ts';
import { ConfigError } from '../errors.ts';
import { AUDIT_OUTPUTS } from '../output/output-folder.ts';
import { joinKey, parseLocation } from '../storage/location.ts';
import { FILTER_SUMMARY, FLAGGED_LOG } from './filter-output.ts';
import type { FlagRule } from './select-flagged.ts';

/** Records up to this size are held to be copied (one at a time); the audit's own default limit is 4 MiB. */
export const DEFAULT_FILTER_MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** The flags of `safesift filter`, as parsed. */
export interface RawFilterOptions {
  /** The audit's --out folder, or a cluster job's output prefix (s3://bucket/prefix). Required. */
  scores?: string;
  /** Corpus files to filter (local or s3://). At least one. */
  data?: string[];
  /** Folder or s3://bucket/prefix for the filtered copies, flagged.jsonl and filter-summary.json. Required. */
  out?: string;
  /** Flag every score row whose ranking score is >= this. Default: the audit's top-k. */
  threshold?: string | number;
  /** Flag the best fraction (0 < F <= 1) of the scored rows. Default: the audit's top-k. */
  topFraction?: string | number;
  /** Write only the flagged records (a review set) instead of everything else. Default false. */
  keepFlagged?: boolean;
  /** Largest record held to be copied. Default 64 MiB. */
  maxRecordBytes?: number;
}

export interface FilterInput {
  /** As given. */
  source: string;
  format: CorpusFormat;
  /** The file name of its copy under --out: the input's base name. */
  name: string;
}

export interface FilterOptions {
  scores: string;
  out: string;
  inputs: FilterInput[];
  rule: FlagRule;
  keepFlagged: boolean;
  maxRecordBytes: number;
}

/** Checks the flags and their combinations; ConfigError (exit 2) naming the flags. */
export function compileFilterOptions(raw: RawFilterOptions): FilterOptions {
  const scores = required(raw.scores, '--scores');
  const out = required(raw.out, '--out');
  const data = raw.data ?? [];
  if (data.length === 0) throw new ConfigError('--data: give at least one corpus file to filter');
  if (raw.threshold !== undefined && raw.topFraction !== undefined) {
    throw new ConfigError('--threshold and --top-fraction cannot be used together: choose one (the default flags the audit\'s top-k)');
  }
  let rule: FlagRule = { kind: 'top-k' };
  if (raw.threshold !== undefined) rule = { kind: 'threshold', threshold: finite(raw.threshold, '--threshold') };
  if (raw.topFraction !== undefined) {
    const fraction = finite(raw.topFraction, '--top-fraction');
    if (!(fraction > 0 && fraction <= 1)) throw new ConfigError(`--top-fraction: expected a fraction in (0, 1], got ${raw.topFraction}`);
    rule = { kind: 'top-fraction', fraction };
  }
  const maxRecordBytes = raw.maxRecordBytes ?? DEFAULT_FILTER_MAX_RECORD_BYTES;
  if (!(Number.isSafeInteger(maxRecordBytes) && maxRecordBytes > 0)) throw new ConfigError(`--max-record-bytes: expected a whole number > 0, got ${maxRecordBytes}`);

  const inputs = data.map((source): FilterInput => ({ source, format: corpusFormat(source), name: baseName(source) }));
  checkNames(inputs, out, scores);
  return { scores, out, inputs, rule, keepFlagged: raw.keepFlagged === true, maxRecordBytes };
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') throw new ConfigError(`${flag} is required`);
  return value;
}

function finite(value: string | number, flag: string): number {
  const n = typeof value === 'number' ? value : value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n)) throw new ConfigError(`${flag}: expected a number, got '${value}'`);
  return n;
}

/** The last path segment of a local path or an S3 key. */
function baseName(location: string): string {
  const parsed = parseLocation(location);
  return posix.basename(parsed.kind === 'local' ? parsed.path.replaceAll('\\', '/') : parsed.key);
}

/** Where a name lands under a location, comparable across spellings of the same place. */
function placeOf(location: string, name?: string): string {
  const parsed = parseLocation(location);
  if (parsed.kind === 'local') return `file:${name === undefined ? parsed.path : resolve(parsed.path, name)}`;
  return `s3://${parsed.bucket}/${name === undefined ? joinKey(parsed.key) : joinKey(parsed.key, name)}`;
}

/**
 * Each copy is named after its input: two inputs with one base name, an input named like the
 * filter's own outputs, a copy that would replace its input, or one that would replace the audit's
 * outputs (--out = --scores) are refused before any work.
 */
function checkNames(inputs: FilterInput[], out: string, scores: string): void {
  const seen = new Map<string, string>();
  for (const input of inputs) {
    const other = seen.get(input.name);
    if (other !== undefined) throw new ConfigError(`--data ${other} and ${input.source} have the same file name '${input.name}': their copies under --out would collide; rename one`);
    seen.set(input.name, input.source);
    if (input.name === FLAGGED_LOG || input.name === FILTER_SUMMARY) {
      throw new ConfigError(`--data ${input.source}: its copy would replace the filter's own ${input.name} under --out; rename the file`);
    }
    if (placeOf(out, input.name) === placeOf(input.source)) {
      throw new ConfigError(`--out ${out} would overwrite the input ${input.source}: choose another --out`);
    }
    if (placeOf(out) === placeOf(scores) && (AUDIT_OUTPUTS as readonly string[]).includes(input.name)) {
      throw new ConfigError(`--data ${input.source}: its copy would replace the audit's ${input.name} in ${scores}; choose another --out`);
    }
  }
}
