/**
 * Job specs: the options of `safesift audit` as a YAML or JSON file, plus what a distributed job
 * needs (name, output prefix, examples per bus batch). Keys are camelCase or kebab-case like the
 * CLI flags; unknown keys are errors. Errors name the file and the field. Defaults come from
 * compileAuditOptions, so a job audits exactly what `safesift audit` would.
 */
import { formatDirectionLayers, parseDirectionLayers } from '../scoring/direction-layers.ts';
import { RANKING_METHODS } from '../scoring/ranking-method.ts';
import { basename, extname } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { compileAuditOptions, DEFAULT_PROJECTION, type RawAuditOptions } from '../audit/audit-options.ts';
import { RECORD_SHAPES } from '../corpus/example.ts';
import { ConfigError } from '../errors.ts';
import { PROBES } from '../graph/probes.ts';
import { parseProjectionChoice } from '../graph/projection.ts';
import { parseWeights } from '../scoring/anchor-sets.ts';
import { expandInputs, isInputPattern, type InputLister } from './expand-inputs.ts';
import { JOB_NAME_MAX, JOB_NAME_PATTERN, toJobName } from './job-id.ts';

export { expandInputs, type InputLister } from './expand-inputs.ts';

export const DEFAULT_BATCH_EXAMPLES = 64;
export const MAX_BATCH_EXAMPLES = 4096;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.number({ error: 'expected a number' })
    .int({ error: 'expected a whole number' })
    .min(min, { error: `expected a number >= ${min}` })
    .max(max, { error: `expected a number <= ${max}` });
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `expected one of ${values.join(', ')}` });
const location = z.string({ error: 'expected a path or s3:// URI' }).superRefine((text, ctx) => {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1];
  if (text === '') ctx.addIssue({ code: 'custom', message: 'expected a path or s3:// URI, got an empty string' });
  else if (scheme !== undefined && scheme.toLowerCase() !== 's3') ctx.addIssue({ code: 'custom', message: `unsupported URI scheme '${scheme}': expected a local path or s3://bucket/key` });
  else if (scheme !== undefined && !/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/s.test(text)) ctx.addIssue({ code: 'custom', message: `expected s3://bucket/key, got '${text}'` });
});
// A single path may stand for a list of one, as `--data x` does on the command line.
const locations = z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(location, { error: 'expected a list of paths (or one path)' }));
const weights = z.preprocess((v, ctx) => {
  if (typeof v !== 'string') return v;
  try {
    return parseWeights(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^--weights:? ?/, ''), input: v });
    return z.NEVER;
  }
}, z.array(z.number({ error: 'expected a finite number' }), { error: 'expected a list of numbers (or text such as "1,-1")' }));
const directionLayers = z.string({ error: 'expected a string' }).superRefine((text, ctx) => {
  try {
    parseDirectionLayers(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^--direction-layers: /, '') });
  }
});
const projection = z.string({ error: 'expected a string' }).superRefine((text, ctx) => {
  try {
    parseProjectionChoice(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^--proj: /, '') });
  }
});

/** Every field a spec may hold; bounds mirror compileAuditOptions' (the tests check they agree). */
const fields = {
  name: z.string({ error: 'expected a string' }).max(JOB_NAME_MAX, { error: `expected at most ${JOB_NAME_MAX} characters` })
    .regex(JOB_NAME_PATTERN, { error: 'expected lower-case letters, digits and inner dashes' }),
  data: locations,
  model: z.string({ error: 'expected a string' }).min(1, { error: 'expected a model folder or tiny' }),
  harmful: locations,
  safe: locations,
  weights,
  format: oneOf(['paper-llama2', 'chat-template']),
  recordShape: oneOf(RECORD_SHAPES),
  method: oneOf(RANKING_METHODS),
  directionLayers,
  k: int(1),
  bottomK: int(0),
  topN: int(1),
  maxTokens: int(2),
  anchorTokens: int(1),
  probes: oneOf(PROBES),
  proj: projection,
  projSeed: int(0),
  projDim: int(1),
  batchSize: int(1),
  batchTokens: int(2),
  dtype: oneOf(['float32', 'float16']),
  limit: int(1),
  maxRecordBytes: int(1),
  /** Usable anchors each anchor set needs (default: all of its records). */
  minAnchors: int(1),
  out: location,
  batchExamples: int(1, MAX_BATCH_EXAMPLES),
  /** Feature cache shared by the job's workers (optional). */
  cache: location,
};
type FieldName = keyof typeof fields;
const FIELD_NAMES = Object.keys(fields) as FieldName[];
const specSchema = z.object(fields).partial().extend({
  out: z.string({ error: (issue) => (issue.input === undefined ? 'required: the output prefix (s3://bucket/prefix or a folder)' : 'expected a path or s3:// URI') })
    .pipe(location),
});

/** A spec as read (keys camelCase), before defaults. */
export type RawJobSpec = z.output<typeof specSchema>;

/** A compiled job: every audit option explicit (defaults filled), so all workers agree on them. */
export interface JobSpec {
  name: string;
  batchExamples: number;
  audit: RawAuditOptions;
}

/** The form kept in the job's KV entry (JSON.stringify it). */
export interface StoredJobSpec {
  version: 1;
  name: string;
  batchExamples: number;
  audit: RawAuditOptions;
}

/** Reads a spec; `file` names it in errors and picks the syntax (.json, else YAML unless it starts with '{'). */
export function parseJobSpec(text: string, file: string): RawJobSpec {
  const ext = extname(file).toLowerCase();
  const json = ext === '.json' || (ext !== '.yaml' && ext !== '.yml' && text.trimStart().startsWith('{'));
  let value: unknown;
  if (json) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
    }
  } else {
    const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    const problem = doc.errors[0];
    if (problem) throw new ConfigError(`${file}: not valid YAML: ${problem.message.trimEnd()}`);
    value = doc.toJS();
  }
  if (value === null || value === undefined) throw new ConfigError(`${file}: the job spec is empty (it needs at least 'out')`);
  const raw = checkFields(value, file, 'both');
  if (raw.name === undefined) {
    const name = toJobName(basename(file, extname(file)));
    if (name !== undefined) raw.name = name;
  }
  return raw;
}

/** Fills defaults via compileAuditOptions. `data` must already be expanded (see expandInputs). */
export function compileJobSpec(raw: RawJobSpec): JobSpec {
  for (const key of ['data', 'harmful', 'safe'] as const) {
    for (const entry of raw[key] ?? []) {
      if (isInputPattern(entry)) {
        throw new ConfigError(key === 'data'
          ? `data: '${entry}' is a pattern; expand it with expandInputs (resolveJobSpec) first`
          : `${key}: '${entry}' must name one anchor file (each file is one anchor set)`);
      }
    }
  }
  const { name, batchExamples, ...given } = raw;
  const audit: RawAuditOptions = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const options = compileAuditOptions(audit);
  const demoAnchors = (audit.harmful ?? []).length === 0 && (audit.safe ?? []).length === 0;
  const explicit: RawAuditOptions = {
    // No data (or no anchors) means the shipped demo files: stored as "none" so that every machine
    // compiles them to its own copy of the demo files.
    data: options.demo ? [] : options.data,
    model: options.model,
    harmful: demoAnchors ? [] : options.harmful,
    safe: demoAnchors ? [] : options.safe,
    ...(options.weights === undefined ? {} : { weights: options.weights }),
    format: options.format,
    ...(options.recordShape === undefined ? {} : { recordShape: options.recordShape }),
    method: options.method,
    directionLayers: formatDirectionLayers(options.directionLayers),
    k: options.k,
    bottomK: options.bottomK,
    topN: options.topN,
    maxTokens: options.maxTokens,
    anchorTokens: options.anchorTokens,
    probes: options.probes,
    proj: audit.proj ?? DEFAULT_PROJECTION,
    projSeed: options.projSeed,
    ...(options.sketch === null ? {} : { projDim: options.sketch.dim }),
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    ...(options.batchTokens === undefined ? {} : { batchTokens: options.batchTokens }),
    dtype: options.dtype,
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    maxRecordBytes: options.maxRecordBytes,
    ...(options.minAnchors === undefined ? {} : { minAnchors: options.minAnchors }),
    out: options.out,
    ...(options.cache === undefined ? {} : { cache: options.cache }),
  };
  return {
    name: name ?? toJobName(lastSegment(raw.out)) ?? 'job',
    batchExamples: batchExamples ?? DEFAULT_BATCH_EXAMPLES,
    audit: explicit,
  };
}

/** expandInputs on `data`, then compileJobSpec. */
export async function resolveJobSpec(raw: RawJobSpec, list: InputLister): Promise<JobSpec> {
  return compileJobSpec({ ...raw, data: await expandInputs(raw.data ?? [], list) });
}

export function toStoredSpec(spec: JobSpec): StoredJobSpec {
  return { version: 1, name: spec.name, batchExamples: spec.batchExamples, audit: structuredClone(spec.audit) };
}

/** Checks a stored spec (parsed JSON) as strictly as a spec file, and compiles it again. */
export function fromStoredSpec(value: unknown): JobSpec {
  const where = 'stored job spec';
  if (!isPlainObject(value)) throw new ConfigError(`${where}: expected an object`);
  const { version, name, batchExamples, audit, ...extra } = value;
  if (version !== 1) throw new ConfigError(`${where}: unsupported version ${JSON.stringify(version)}`);
  const unknown = Object.keys(extra);
  if (unknown.length > 0) throw new ConfigError(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  if (!isPlainObject(audit)) throw new ConfigError(`${where}: audit: expected an object`);
  if ('name' in audit || 'batchExamples' in audit) throw new ConfigError(`${where}: audit: holds job fields`);
  if (name === undefined || batchExamples === undefined) throw new ConfigError(`${where}: name and batchExamples are required`);
  return compileJobSpec(checkFields({ ...audit, name, batchExamples }, where, 'camel'));
}

function checkFields(value: unknown, file: string, keys: 'both' | 'camel'): RawJobSpec {
  if (!isPlainObject(value)) {
    throw new ConfigError(`${file}: expected a mapping of job fields, got ${describe(value)}`);
  }
  const problems: string[] = [];
  const written = new Map<string, string>();
  const normalised: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = FIELD_NAMES.find((f) => f === key || (keys === 'both' && kebab(f) === key));
    if (field === undefined) {
      const near = FIELD_NAMES.find((f) => squash(f) === squash(key));
      problems.push(`${file}: ${key}: unknown key${near ? ` (did you mean '${keys === 'both' && key.includes('-') ? kebab(near) : near}'?)` : ''}`);
    } else if (written.has(field)) {
      problems.push(`${file}: ${key}: given twice (also as ${written.get(field)})`);
    } else {
      written.set(field, key);
      if (v !== undefined) normalised[field] = v;
    }
  }
  const parsed = specSchema.safeParse(normalised, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [head, ...rest] = issue.path;
      const label = `${written.get(String(head)) ?? String(head)}${rest.map((p) => `[${String(p)}]`).join('')}`;
      const input = (issue as { input?: unknown }).input;
      const got = issue.code === 'custom' || input === undefined ? '' : `, got ${describe(input)}`;
      problems.push(`${file}: ${label}: ${issue.message}${got}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems.join('\n'));
  return parsed.data;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (no value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 39)}…` : value);
  return String(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lastSegment(location: string): string {
  return location.replace(/^s3:\/\//i, '').split('/').filter((s) => s !== '').at(-1) ?? '';
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const squash = (name: string): string => name.toLowerCase().replace(/[-_]/g, '');
