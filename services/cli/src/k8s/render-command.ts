import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { parseJobSpec } from '@safesift/core/distributed/job-spec.ts';
import { ConfigError } from '@safesift/core/errors.ts';
import { manifestsToYaml, OVERLAYS, renderManifests, type Overlay } from '@safesift/core/k8s/render-manifests.ts';
import { addAuditOptions, rawAuditFlags } from '../audit-command.ts';
import { integer } from '../cli-parsers.ts';
import { JOB_FIELDS } from '../job-spec-args.ts';


/** `safesift k8s render`: the manifests of an overlay, and optionally a one-off audit Job. */
export function renderCommand(): Command {
  const command = addAuditOptions(new Command('render'))
    .description('Print the Kubernetes manifests of a safesift cluster (YAML for `kubectl apply -f -`); with --spec or job flags (s3:// URIs), also a ConfigMap and Job that submit that audit')
    .addOption(new Option('--overlay <name>', 'base; dev (CPU, one worker, local S3); prod (GPU workers scaled by KEDA)').choices([...OVERLAYS]).default('base'))
    .option('--namespace <ns>', 'namespace of every object (default: the overlay\'s, safesift)')
    .option('--image <image>', 'image of the safesift containers that use no GPU (registry/name:tag)')
    .option('--gpu-image <image>', 'image of the GPU workers (prod overlay)')
    .option('--spec <file>', 'job spec (YAML or JSON, as for `submit`) of a one-off audit; job flags override its fields')
    .option('--name <name>', 'audit job name (default: from the spec file or the output prefix)')
    .option('--batch-examples <n>', 'examples per bus batch (default 64)', integer('--batch-examples'))
    .option('--cache <s3-uri>', 'feature cache shared by the job\'s workers: a re-audit featurizes only new or changed examples')
    .option('--job-only', 'print only the audit\'s ConfigMap and Job (for a cluster already deployed)')
    .option('--json', 'print a JSON List instead of YAML')
    .exitOverride()
    .action(async (flags: Record<string, unknown>) => {
      const job = await jobFields(flags, command);
      const objects = await renderManifests({
        overlay: flags.overlay as Overlay,
        ...(typeof flags.namespace === 'string' ? { namespace: flags.namespace } : {}),
        ...(typeof flags.image === 'string' ? { image: flags.image } : {}),
        ...(typeof flags.gpuImage === 'string' ? { gpuImage: flags.gpuImage } : {}),
        ...(job === undefined ? {} : { job: { spec: job } }),
        jobOnly: Boolean(flags.jobOnly),
      });
      process.stdout.write(flags.json ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n` : manifestsToYaml(objects));
    });
  return command;
}

/** The job's spec fields from --spec and the flags given on the command line; undefined without either. */
async function jobFields(flags: Record<string, unknown>, command: Command): Promise<Record<string, unknown> | undefined> {
  const fromFlags = rawAuditFlags(flags) as Record<string, unknown>;
  const given = (name: string) => command.getOptionValueSource(name) === 'cli';
  const overrides: Record<string, unknown> = {};
  for (const field of JOB_FIELDS) if (given(field) && fromFlags[field] !== undefined) overrides[field] = fromFlags[field];
  if (typeof flags.name === 'string') overrides.name = flags.name;
  if (typeof flags.batchExamples === 'number') overrides.batchExamples = flags.batchExamples;
  if (typeof flags.spec !== 'string') return Object.keys(overrides).length === 0 ? undefined : overrides;
  let text: string;
  try {
    text = await readFile(flags.spec, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read job spec ${flags.spec}: ${(error as Error).message}`);
  }
  return { ...parseJobSpec(text, flags.spec), ...overrides };
}
