import type { ClusterConnection } from '@safesift/core/cluster/cluster-connection.ts';
import { isFinished, type JobStatus } from '@safesift/core/cluster/job-status.ts';
import { outputKeys } from '@safesift/core/cluster/work-layout.ts';
import { jobContext } from '@safesift/core/cluster/job-context.ts';
import { EXIT } from '../exit-codes.ts';
import { formatStatus } from './format-status.ts';

const POLL_MS = 500;

/** Follows a job until it finishes; prints progress on a TTY and the final summary (or status). */
export async function waitForJob(conn: ClusterConnection, id: string, options: { json: boolean }): Promise<JobStatus> {
  const tty = process.stderr.isTTY;
  let last = '';
  for (;;) {
    const status = await conn.jobs.status(id);
    if (status === null) throw new Error(`job ${id} disappeared from the jobs bucket`);
    const line = formatStatus(status).split('\n')[0]!;
    if (tty && line !== last) process.stderr.write(`\r\x1b[K${line}`);
    last = line;
    if (isFinished(status.state)) {
      if (tty) process.stderr.write('\n');
      await printOutcome(conn, id, status, options.json);
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function printOutcome(conn: ClusterConnection, id: string, status: JobStatus, json: boolean): Promise<void> {
  if (status.state !== 'complete') {
    process.exitCode = EXIT.internal;
    process.stdout.write(json ? `${JSON.stringify({ status: status.state, job: status })}\n` : `${formatStatus(status)}\n`);
    return;
  }
  const record = await conn.jobs.get(id, 'spec');
  const job = jobContext(record!, conn.s3);
  const summary = JSON.parse(new TextDecoder().decode(await job.out.store.get(outputKeys.summary(job.out.key)))) as Record<string, unknown>;
  process.stdout.write(json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatStatus(status)}\n`);
}
