import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';

/**
 * Job names: lower-case letters, digits and inner dashes, at most 40 characters, so a job id
 * (`<name>-<yyyymmddhhmmss>-<6 hex>`, at most 62 characters) is a valid NATS subject token and
 * KV key, and fits in S3 keys and Kubernetes names.
 */
export const JOB_NAME_MAX = 40;
export const JOB_NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const JOB_ID_PATTERN = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-(\d{14})-([0-9a-f]{6})$/;

export function isJobName(name: string): boolean {
  return name.length <= JOB_NAME_MAX && JOB_NAME_PATTERN.test(name);
}

export function isJobId(id: string): boolean {
  const match = JOB_ID_PATTERN.exec(id);
  return match !== null && isJobName(match[1]!);
}

/** `<name>-<UTC yyyymmddhhmmss>-<6 random hex>`. */
export function newJobId(name: string, now: Date = new Date()): string {
  if (!isJobName(name)) {
    throw new ConfigError(`job name '${name}': expected 1-${JOB_NAME_MAX} lower-case letters, digits and inner dashes`);
  }
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
  return `${name}-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** A job name made from free text (a file or folder name); undefined when nothing usable is left. */
export function toJobName(text: string): string | undefined {
  const name = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, JOB_NAME_MAX).replace(/^-+|-+$/g, '');
  return name === '' ? undefined : name;
}
