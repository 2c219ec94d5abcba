import { Command } from 'commander';
import { jobSubject } from '@safesift/core/bus/topology.ts';
import { encodeJson } from '@safesift/core/cluster/bus-messages.ts';
import { connectCluster } from '@safesift/core/cluster/cluster-connection.ts';
import { now } from '@safesift/core/cluster/job-records.ts';
import { newJobId } from '@safesift/core/distributed/job-id.ts';
import { resolveJobSpec, toStoredSpec } from '@safesift/core/distributed/job-spec.ts';
import { addAuditOptions } from '../audit-command.ts';
import { jobSpecFromArgs } from '../job-spec-args.ts';
import { integer } from '../cli-parsers.ts';
import { addClusterOptions, clusterSettings } from './cluster-flags.ts';
import { storageLister } from './input-lister.ts';
import { waitForJob } from './wait-for-job.ts';

export function submitCommand(): Command {
  const command = addClusterOptions(addAuditOptions(new Command('submit')))
    .description('Submit an audit to the cluster, from a job spec (YAML or JSON) or from the same flags as `audit` (s3:// URIs allowed)')
    .argument('[spec]', 'job spec file; flags given on the command line override its fields')
    .option('--name <name>', 'job name (default: from the spec file or the output prefix)')
    .option('--cache <dir|s3://…>', 'feature cache shared by the job\'s workers: a re-audit featurizes only new or changed examples')
    .option('--batch-examples <n>', 'examples per bus batch (default 64)', integer('--batch-examples'))
    .option('--wait', 'wait for the job to finish and print its summary')
    .option('--json', 'print JSON on stdout')
    .action(async (specFile: string | undefined, flags: Record<string, unknown>) => {
      const { raw } = await jobSpecFromArgs(specFile, flags, command, 'a job needs an output prefix (s3://bucket/prefix or a folder every process can reach)');
      const cluster = clusterSettings(flags, 'safesift-submit');
      const conn = await connectCluster(cluster, 'client');
      try {
        const spec = await resolveJobSpec(raw, storageLister(conn.s3));
        const id = newJobId(spec.name);
        await conn.jobs.putSpec({ id, name: spec.name, submittedAt: now(), spec: toStoredSpec(spec) });
        await conn.js.publish(jobSubject(id), encodeJson({ jobId: id }), { msgID: `submit:${id}` });
        if (!flags.wait) {
          process.stdout.write(flags.json ? `${JSON.stringify({ id, name: spec.name, out: spec.audit.out, state: 'queued' })}\n` : `submitted ${id}\n`);
          return;
        }
        await waitForJob(conn, id, { json: Boolean(flags.json) });
      } finally {
        await conn.close();
      }
    });
  return command;
}
