import { isAbsolute, relative, sep } from 'node:path';
import type { AuditOptions } from '../audit/audit-options.ts';
import { DEMO_INPUTS } from '../audit/demo-inputs.ts';
import { ConfigError } from '../errors.ts';
import { parseLocation, type Location } from '../storage/location.ts';

/**
 * Which locations the services of a cluster read and write for a job. Anyone who can publish a
 * job spec chooses its paths, so by default a service refuses every local path (the pod's own
 * files, a mounted secret) and takes any S3 location its identity reaches; `--allowed-locations`
 * lists local folders to allow, and S3 prefixes to restrict S3 to.
 */
export interface LocationPolicy {
  /** Local folders (absolute) a job may name. */
  localFolders: string[];
  /** S3 prefixes a job may name; null: any. */
  s3Prefixes: { bucket: string; key: string }[] | null;
}

export const DEFAULT_LOCATION_POLICY: LocationPolicy = { localFolders: [], s3Prefixes: null };

/** `s3://bucket/prefix,/data/corpora,...` → a policy (from --allowed-locations or $SAFESIFT_ALLOWED_LOCATIONS). */
export function parseLocationPolicy(list: string | undefined): LocationPolicy {
  if (list === undefined || list.trim() === '') return DEFAULT_LOCATION_POLICY;
  const localFolders: string[] = [];
  const s3Prefixes: { bucket: string; key: string }[] = [];
  for (const entry of list.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!/^s3:\/\//i.test(entry) && !isAbsolute(entry)) throw new ConfigError(`--allowed-locations: '${entry}' is neither an s3:// prefix nor an absolute folder`);
    const location = parseLocation(entry);
    if (location.kind === 'local') localFolders.push(location.path);
    else s3Prefixes.push({ bucket: location.bucket, key: location.key.replace(/\/+$/, '') });
  }
  return { localFolders, s3Prefixes: s3Prefixes.length > 0 ? s3Prefixes : null };
}

/** Every location a job names, by field. The demo files and the `tiny` model are the package's own. */
function jobLocations(audit: AuditOptions): [string, string][] {
  const shipped = new Set<string>([DEMO_INPUTS.corpus, DEMO_INPUTS.harmful, ...DEMO_INPUTS.safe]);
  const named: [string, string][] = [
    ...audit.data.map((d): [string, string] => ['data', d]),
    ...audit.harmful.map((h): [string, string] => ['harmful', h]),
    ...audit.safe.map((s): [string, string] => ['safe', s]),
    ...(audit.model === 'tiny' ? [] : [['model', audit.model] as [string, string]]),
    ['out', audit.out],
    ...(audit.cache === undefined ? [] : [['cache', audit.cache] as [string, string]]),
  ];
  return named.filter(([, uri]) => !shipped.has(uri));
}

/** Throws a ConfigError (the job fails, permanently) naming the first location the policy refuses. */
export function checkJobLocations(jobId: string, audit: AuditOptions, policy: LocationPolicy): void {
  for (const [field, uri] of jobLocations(audit)) {
    const why = refusal(parseLocation(uri), policy);
    if (why !== null) throw new ConfigError(`job ${jobId}: ${field} ${uri} refused: ${why}`);
  }
}

function refusal(location: Location, policy: LocationPolicy): string | null {
  if (location.kind === 'local') {
    if (policy.localFolders.some((folder) => inside(folder, location.path))) return null;
    return policy.localFolders.length === 0
      ? 'cluster services take no local paths unless --allowed-locations (or $SAFESIFT_ALLOWED_LOCATIONS) lists a folder holding it'
      : `not under an allowed folder (${policy.localFolders.join(', ')})`;
  }
  if (policy.s3Prefixes === null) return null;
  const ok = policy.s3Prefixes.some((p) => p.bucket === location.bucket && (p.key === '' || location.key === p.key || location.key.startsWith(`${p.key}/`)));
  return ok ? null : `not under an allowed S3 prefix (${policy.s3Prefixes.map((p) => `s3://${p.bucket}/${p.key}`).join(', ')})`;
}

/** Whether `path` is `folder` or below it (resolved paths; '..' cannot climb out). */
function inside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
