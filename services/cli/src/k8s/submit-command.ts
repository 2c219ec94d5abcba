import { randomBytes } from 'node:crypto';
import { Command } from 'commander';
import type { V1Job } from '@kubernetes/client-node';
import { SAFESIFT_VERSION } from '@safesift/core/audit/version.ts';
import { isInputPattern } from '@safesift/core/distributed/expand-inputs.ts';
import { compileJobSpec, parseJobSpec, type RawJobSpec } from '@safesift/core/distributed/job-spec.ts';
import { ConfigError } from '@safesift/core/errors.ts';
import { auditJobManifest, auditSpecConfigMap } from '@safesift/core/k8s/audit-job.ts';
import { jobSpecYaml } from '@safesift/core/k8s/job-spec-yaml.ts';
import { addAuditOptions } from '../audit-command.ts';
import { jobSpecFromArgs, type JobSpecArgs } from '../job-spec-args.ts';
import { integer } from '../cli-parsers.ts';
import { addKubeOptions, kubeTarget, loadKubeClient } from './kube-flags.ts';

export const DEFAULT_IMAGE = `ghcr.io/safesift/safesift:${SAFESIFT_VERSION}`;

/** Names a spec field in messages: the flag when the command line gave it, else the spec file's key. */
type Label = JobSpecArgs['label'];

export function k8sSubmitCommand(): Command {
  const command = addKubeOptions(addAuditOptions(new Command('submit')))
    .exitOverride()
    .description('Run an audit as a Kubernetes Job in the current kubeconfig context; inputs and outputs are s3:// URIs')
    .argument('[spec]', 'job spec file (YAML or JSON); flags given on the command line override its fields')
    .option('--name <name>', 'job name (default: from the spec file or the output prefix)')
    .option('--cache <dir|s3://…>', 'feature cache shared by the job\'s workers: a re-audit featurizes only new or changed examples')
    .option('--batch-examples <n>', 'examples per bus batch (default 64)', integer('--batch-examples'))
    .option('--image <image>', 'container image of the audit Job', DEFAULT_IMAGE)
    .option('--service-account <name>', "service account of the Job's pod (default: safesift)")
    .option('--json', 'print the created objects as JSON on stdout')
    .action(async (specFile: string | undefined, flags: Record<string, unknown>) => {
      const { raw, label } = await jobSpecFromArgs(specFile, flags, command, 'a Kubernetes job needs an output prefix (s3://bucket/prefix)');
      requireS3(raw, label);
      const spec = checkSpec(raw, `job spec (from ${specFile ?? 'the command line'})`);
      const specYaml = jobSpecYaml(spec, `safesift job spec, written by safesift k8s submit ${SAFESIFT_VERSION}`);

      const { connectKube, kubeCall, toKubeError } = await loadKubeClient();
      const kube = connectKube(kubeTarget(flags));
      const { namespace } = kube;
      // Kubernetes names must be unique in the namespace; the same audit is often submitted again.
      const jobName = `${spec.name}-${randomBytes(3).toString('hex')}`;
      const configMapName = `${jobName}-spec`;
      const image = String(flags.image);
      const configMap = auditSpecConfigMap(configMapName, namespace, specYaml);
      const manifest = auditJobManifest({
        jobName,
        namespace,
        image,
        specConfigMap: configMapName,
        ...(typeof flags.serviceAccount === 'string' ? { serviceAccount: flags.serviceAccount } : {}),
      });

      await kubeCall(kube, `creating ConfigMap ${configMapName} in namespace ${namespace}`,
        () => kube.core.createNamespacedConfigMap({ namespace, body: configMap }));
      let job: V1Job;
      try {
        job = await kubeCall(kube, `creating Job ${jobName} in namespace ${namespace}`,
          () => kube.batch.createNamespacedJob({ namespace, body: manifest }));
      } catch (error) {
        await kube.core.deleteNamespacedConfigMap({ name: configMapName, namespace }).catch(() => undefined);
        throw error;
      }
      // Owned by the Job, the spec goes when the Job is deleted (by hand or by its TTL).
      const uid = job.metadata?.uid;
      if (uid !== undefined) {
        const owner = [{ apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid }];
        await kube.core.patchNamespacedConfigMap({
          name: configMapName,
          namespace,
          body: [{ op: 'add', path: '/metadata/ownerReferences', value: owner }],
        }).catch((error: unknown) => {
          const problem = toKubeError(kube, `making Job ${jobName} the owner of ConfigMap ${configMapName}`, error);
          process.stderr.write(`safesift: warning: ${problem.message} (delete the ConfigMap with the Job)\n`);
        });
      }

      if (flags.json) {
        const out = { job: jobName, namespace, context: kube.context, configMap: configMapName, image, name: spec.name, out: spec.out, state: 'submitted' };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        process.stdout.write(`${jobName}\n`);
        process.stderr.write(`submitted Job ${jobName} in namespace ${namespace} (context ${kube.context}); follow it with: safesift k8s logs ${jobName} --namespace ${namespace} --follow\n`);
      }
    });
  return command;
}

/** The pod reads nothing from this machine: every input and the output must be on S3. */
function requireS3(raw: RawJobSpec, label: Label): void {
  const problems: string[] = [];
  const isS3 = (location: string) => /^s3:\/\//i.test(location);
  for (const field of ['data', 'harmful', 'safe'] as const) {
    for (const entry of raw[field] ?? []) {
      if (!isS3(entry)) problems.push(`${label(field)} ${entry}: a Kubernetes job reads its inputs from S3; use s3://…`);
    }
  }
  if (raw.model !== undefined && raw.model !== 'tiny' && !isS3(raw.model)) {
    problems.push(`${label('model')} ${raw.model}: a Kubernetes job reads its model from S3; use s3://… (or tiny)`);
  }
  if (typeof raw.out === 'string' && !isS3(raw.out)) problems.push(`${label('out')} ${raw.out}: a Kubernetes job writes its outputs to S3; use s3://…`);
  // A feature cache (spec files may name one) is shared by the cluster's workers, so it too lives on S3.
  const { cache } = raw as { cache?: unknown };
  if (typeof cache === 'string' && !isS3(cache)) problems.push(`${label('cache')} ${cache}: a Kubernetes job keeps its feature cache on S3; use s3://…`);
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
}

/**
 * Checks the spec as the cluster will read it (the YAML through parseJobSpec), then compiles it;
 * data globs are left out of the compile: the bucket is listed in the cluster, not here.
 */
function checkSpec(raw: RawJobSpec, where: string): RawJobSpec & { name: string } {
  const parsed = parseJobSpec(jobSpecYaml(raw), where);
  // parseJobSpec names a nameless spec after its file (`where` is no file name); compileJobSpec then takes the output prefix.
  if (raw.name === undefined) delete parsed.name;
  const data = parsed.data ?? [];
  const { name } = compileJobSpec({ ...parsed, data: data.filter((entry) => !isInputPattern(entry)) });
  return { ...parsed, name };
}

