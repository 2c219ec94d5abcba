import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseJobSpec, type RawJobSpec } from '@safesift/core/distributed/job-spec.ts';
import { ConfigError } from '@safesift/core/errors.ts';
import { rawAuditFlags } from './audit-command.ts';

/** Audit flags that describe the job (the rest, e.g. --threads, belong to the processes). */
export const JOB_FIELDS = [
  'data', 'model', 'harmful', 'safe', 'weights', 'format', 'recordShape', 'method', 'directionLayers', 'k', 'bottomK', 'topN', 'maxTokens',
  'anchorTokens', 'probes', 'proj', 'projSeed', 'projDim', 'batchSize', 'batchTokens', 'dtype', 'limit', 'maxRecordBytes', 'minAnchors', 'out', 'cache',
] as const;

export interface JobSpecArgs {
  raw: RawJobSpec;
  /** Names a field in messages: the flag when the command line gave it, else the spec file's key. */
  label: (field: string) => string;
}

/**
 * A job spec from `[SPEC] [audit flags]`: the spec file's fields, overridden by flags given on the
 * command line (commander's defaults do not count). Without a spec file, --out is required.
 */
export async function jobSpecFromArgs(specFile: string | undefined, flags: Record<string, unknown>, command: Command, outHint: string): Promise<JobSpecArgs> {
  const fromFlags = rawAuditFlags(flags) as Record<string, unknown>;
  const given = (name: string) => command.getOptionValueSource(name) === 'cli' || command.getOptionValueSource(name) === 'env';
  const overrides: Record<string, unknown> = {};
  for (const field of JOB_FIELDS) if (given(field) && fromFlags[field] !== undefined) overrides[field] = fromFlags[field];
  if (typeof flags.name === 'string') overrides.name = flags.name;
  if (typeof flags.batchExamples === 'number') overrides.batchExamples = flags.batchExamples;
  const label = (field: string) => (field in overrides || specFile === undefined ? `--${kebab(field)}` : `${specFile}: ${kebab(field)}`);
  if (specFile === undefined) {
    if (!given('out')) throw new ConfigError(`--out: ${outHint}`);
    return { raw: overrides as unknown as RawJobSpec, label };
  }
  let text: string;
  try {
    text = await readFile(specFile, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read job spec ${specFile}: ${(error as Error).message}`);
  }
  return { raw: { ...parseJobSpec(text, specFile), ...overrides } as RawJobSpec, label };
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
