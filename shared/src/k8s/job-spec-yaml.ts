/**
 * A job spec as the YAML file that `safesift submit` reads back inside the cluster (parseJobSpec).
 * The spec stays raw: `data` globs are expanded in the cluster, where the bucket can be listed, and
 * defaults are filled by the image's own safesift.
 */
import { stringify } from 'yaml';
import type { RawJobSpec } from '../distributed/job-spec.ts';

/** Kebab-case keys like the CLI flags; fields left undefined are omitted. */
export function jobSpecYaml(spec: RawJobSpec, header?: string): string {
  const entries = Object.entries(spec).filter(([, value]) => value !== undefined);
  const body = stringify(Object.fromEntries(entries.map(([key, value]) => [kebab(key), value])), { lineWidth: 0 });
  return header === undefined ? body : `${header.split('\n').map((line) => `# ${line}`).join('\n')}\n${body}`;
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
