import type { S3Client } from '@aws-sdk/client-s3';
import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { connectCluster, type ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { jobContext } from '@safesift/core/cluster/job-context.ts';
import { isJobId } from '@safesift/core/distributed/job-id.ts';
import { ConfigError, InputError } from '@safesift/core/errors.ts';
import type { ReportResult, WriteReportOptions } from '@safesift/core/report/write-report.ts';
import { parseLocation } from '@safesift/core/storage/location.ts';
import { S3ObjectStore } from '@safesift/core/storage/s3-object-store.ts';
import { createS3Client } from '@safesift/core/storage/s3-client.ts';
import { integer } from './cli-parsers.ts';
import { addClusterOptions, clusterSettings } from './cluster/cluster-flags.ts';

type Flags = Record<string, unknown>;

/**
 * `safesift report OUTPUTS`: writes report.html for an audit's outputs, a local --out folder, an
 * `s3://bucket/prefix` (a cluster job's output prefix) or a cluster job id (its output prefix is
 * looked up in the jobs KV, as `safesift download` does). The page goes beside the outputs unless
 * --out names a file.
 */
export function reportCommand(): Command {
  const command = new Command('report')
    .description('Write report.html (header, score charts, the top-k with its full text) for an audit\'s outputs')
    .argument('<outputs>', 'the audit\'s --out folder, a cluster job\'s output prefix (s3://bucket/prefix), or a cluster job id')
    .option('--out <file>', 'write the page to this local file (default: report.html beside the outputs)')
    .option('--no-text', 'do not read the top-k\'s full text back from the corpus files (show the previews)')
    .option('--seed <n>', 'seed of the samples and the bootstrap (default 1)', integer('--seed'))
    .option('--json', 'print the result as JSON on stdout');
  // The NATS options matter only for a job id; --s3-endpoint for S3 locations too.
  return addClusterOptions(command).action(async (target: string, flags: Flags) => {
      const options = {
        ...(typeof flags.out === 'string' ? { out: flags.out } : {}),
        corpusText: flags.text !== false,
        ...(typeof flags.seed === 'number' ? { seed: flags.seed } : {}),
      };
      const result = await reportFor(target, flags, options);
      const value = { status: 'written', path: result.path, bytes: result.bytes, rows: result.rows };
      process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `wrote ${result.path} (${(result.bytes / 1024).toFixed(0)} KiB, ${result.rows.toLocaleString('en-US')} scored examples)\n`);
    });
}

async function reportFor(target: string, flags: Flags, options: WriteReportOptions): Promise<ReportResult> {
  // Loaded here, not at start-up: vega takes ~0.2 s to import, which no other command should pay.
  const { writeReport } = await import('@safesift/core/report/write-report.ts');
  if (/^s3:\/\//i.test(target)) {
    const location = parseLocation(target);
    if (location.kind !== 's3') throw new ConfigError(`not an S3 location: ${target}`);
    let client: S3Client | undefined;
    const endpoint = typeof flags.s3Endpoint === 'string' ? flags.s3Endpoint : undefined;
    const s3 = () => (client ??= createS3Client(endpoint === undefined ? {} : { endpoint }));
    try {
      return await writeReport({ store: new S3ObjectStore(s3(), location.bucket), prefix: location.key }, { ...options, s3 });
    } finally {
      client?.destroy();
    }
  }
  const info = await stat(target).catch(() => null);
  if (info !== null) {
    if (!info.isDirectory()) throw new ConfigError(`${target} is a file: give the audit's --out folder (the one holding summary.json)`);
    return writeReport(target, options);
  }
  if (!isJobId(target)) throw new InputError(target, -1, 'no such folder, and not a cluster job id (name-yyyymmddhhmmss-xxxxxx)');
  const conn: ClusterConnection = await connectCluster(clusterSettings(flags, 'safesift-report'), 'client');
  try {
    const status = await conn.jobs.status(target);
    if (status === null) throw new ConfigError(`no job ${target} (see \`safesift jobs\`)`);
    const written = status.state === 'complete' || (status.state === 'failed' && status.outputs !== null);
    if (!written) throw new ConfigError(`job ${target} is ${status.state}: its outputs are written when it completes (see \`safesift status ${target}\`)`);
    const record = await conn.jobs.get(target, 'spec');
    if (record === null) throw new ConfigError(`job ${target} has no stored spec`);
    const job = jobContext(record, conn.s3);
    return await writeReport({ store: job.out.store, prefix: job.out.key }, { ...options, s3: conn.s3 });
  } finally {
    await conn.close();
  }
}
