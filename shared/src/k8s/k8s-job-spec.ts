/**
 * A job spec for a cluster on Kubernetes: the same fields as a `safesift submit` spec file, but
 * every input and output must be an s3:// URI (a local path would name a file inside the pod).
 * Empty `data` or anchors still mean the demo files shipped in the image, and the model may be
 * `tiny`. The YAML written here is what parseJobSpec reads from the mounted ConfigMap.
 */
import { stringify } from 'yaml';
import { parseJobSpec, type RawJobSpec } from '../distributed/job-spec.ts';
import { toJobName } from '../distributed/job-id.ts';
import { ConfigError } from '../errors.ts';
import { SPEC_KEY } from './audit-job.ts';
import { jobSpecYaml } from './job-spec-yaml.ts';

export interface K8sJobSpec {
  name: string;
  /** The spec file as mounted at /spec/job.yaml (kebab-case keys, like the CLI flags). */
  yaml: string;
  spec: RawJobSpec;
}

const isS3 = (location: string) => /^s3:\/\//i.test(location);

/** Checks and normalises spec fields (camelCase or kebab-case keys); `where` names them in errors. */
export function k8sJobSpec(fields: Record<string, unknown>, where = 'job spec'): K8sJobSpec {
  const given = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  if (given.name === undefined && typeof given.out === 'string') {
    // parseJobSpec would name the job after the mounted file ("job"); name it after its output, as submit does.
    given.name = toJobName(given.out.replace(/^s3:\/\//i, '').split('/').filter((s) => s !== '').at(-1) ?? '') ?? 'audit';
  }
  const spec = parseJobSpec(stringify(given), `${where}.yaml`);
  const problems: string[] = [];
  if (spec.out === undefined) problems.push(`${where}: out: required (s3://bucket/prefix for the outputs)`);
  else if (!isS3(spec.out)) problems.push(`${where}: out: '${spec.out}' must be an s3:// URI on Kubernetes (pods do not share folders)`);
  for (const key of ['data', 'harmful', 'safe'] as const) {
    for (const location of spec[key] ?? []) {
      if (!isS3(location)) problems.push(`${where}: ${key}: '${location}' must be an s3:// URI on Kubernetes`);
    }
  }
  const cache = (spec as { cache?: unknown }).cache;
  if (typeof cache === 'string' && !isS3(cache)) problems.push(`${where}: cache: '${cache}' must be an s3:// URI on Kubernetes`);
  if (spec.model !== undefined && spec.model !== 'tiny' && !isS3(spec.model)) {
    problems.push(`${where}: model: '${spec.model}' must be 'tiny' or an s3:// URI on Kubernetes`);
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  const yaml = jobSpecYaml({ name: spec.name, ...spec });
  // What the pod will read must be what was checked.
  parseJobSpec(yaml, SPEC_KEY);
  return { name: spec.name!, yaml, spec };
}
