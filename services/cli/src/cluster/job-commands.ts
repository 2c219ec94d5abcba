import { Command } from 'commander';
import { connectCluster, type ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { jobContext } from '@safesift/core/cluster/job-context.ts';
import { ConfigError } from '@safesift/core/errors.ts';
import { addClusterOptions, clusterSettings } from './cluster-flags.ts';
import { downloadOutputs, refusedKeysError } from './download-outputs.ts';
import { formatStatus } from './format-status.ts';

type Flags = Record<string, unknown>;

async function withCluster<T>(flags: Flags, name: string, fn: (conn: ClusterConnection) => Promise<T>): Promise<T> {
  const conn = await connectCluster(clusterSettings(flags, `safesift-${name}`), 'client');
  try {
    return await fn(conn);
  } finally {
    await conn.close();
  }
}

async function requireStatus(conn: ClusterConnection, id: string) {
  const status = await conn.jobs.status(id);
  if (status === null) throw new ConfigError(`no job ${id} (see \`safesift jobs\`)`);
  return status;
}

const print = (flags: Flags, value: unknown, human: string) => process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);

/** `status`, `jobs`, `cancel` and `download`: what a user does with submitted jobs. */
export function jobCommands(): Command[] {
  const status = addClusterOptions(new Command('status'))
    .description('Show a job\'s state and progress counts')
    .argument('<job>', 'job id')
    .option('--json', 'print JSON on stdout')
    .action((id: string, flags: Flags) => withCluster(flags, 'status', async (conn) => {
      const s = await requireStatus(conn, id);
      print(flags, s, formatStatus(s));
    }));
  const jobs = addClusterOptions(new Command('jobs'))
    .description('List jobs, oldest first')
    .option('--json', 'print JSON on stdout')
    .action((flags: Flags) => withCluster(flags, 'jobs', async (conn) => {
      const list = await conn.jobs.list();
      print(flags, list, list.length === 0 ? 'no jobs' : list.map(formatStatus).join('\n'));
    }));
  const cancel = addClusterOptions(new Command('cancel'))
    .description('Cancel a job: no more batches are published or scored, and no outputs are written')
    .argument('<job>', 'job id')
    .option('--json', 'print JSON on stdout')
    .action((id: string, flags: Flags) => withCluster(flags, 'cancel', async (conn) => {
      const s = await requireStatus(conn, id);
      if (s.state === 'complete' || s.state === 'failed') throw new ConfigError(`job ${id} already ${s.state}`);
      await conn.jobs.cancel(id, 'cli');
      print(flags, { id, cancelled: true }, `cancelling ${id}`);
    }));
  const download = addClusterOptions(new Command('download'))
    .description('Fetch a finished job\'s outputs (top-k, score parts, errors, summary) into a folder')
    .argument('<job>', 'job id')
    .requiredOption('--to <dir>', 'destination folder')
    .option('--json', 'print JSON on stdout')
    .action((id: string, flags: Flags) => withCluster(flags, 'download', async (conn) => {
      const s = await requireStatus(conn, id);
      // A job failed after its outputs were written (every batch dead-lettered) has them to show why.
      const written = s.state === 'complete' || (s.state === 'failed' && s.outputs !== null);
      if (!written) throw new ConfigError(`job ${id} is ${s.state}: outputs are written when it completes (see \`safesift status ${id}\`)`);
      const record = await conn.jobs.get(id, 'spec');
      const job = jobContext(record!, conn.s3);
      const to = String(flags.to);
      const result = await downloadOutputs(job.out.store, job.out.key, to);
      // Files already written stay; the refused keys make it exit with the input code.
      if (result.refused.length > 0) throw refusedKeysError(to, result);
      print(flags, { id, to, files: result.files }, `downloaded ${result.files.length} files to ${to}`);
    }));
  return [status, jobs, cancel, download];
}
