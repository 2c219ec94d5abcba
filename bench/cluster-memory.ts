// Peak RSS of the cluster's processes as the corpus grows: fresh processes per corpus size, each
// process's VmHWM read while it is still alive once the job is complete.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { S3ObjectStore } from '../shared/src/storage/s3-object-store.ts';
import { processPeakRssBytes, runJob, startBenchCluster, stopBenchCluster } from './bench-cluster.ts';
import { REPO_ROOT } from './bench-models.ts';

export interface ClusterMemoryRow {
  records: number;
  scored: number;
  batches: number;
  wallSeconds: number;
  coordinatorPeakMiB: number;
  workerPeakMiB: number;
  reducerPeakMiB: number;
}

export interface ClusterMemorySetup {
  /** Corpus sizes, e.g. [200, 2000]: the demo corpus's records repeated up to each. */
  sizes: number[];
  batchExamples?: number;
  workerThreads?: number;
}

const DEMO = join(REPO_ROOT, 'demo');

/** The tiny demo model and the demo anchors: memory of the runtime itself, not of a large model. */
export async function measureClusterMemory(setup: ClusterMemorySetup): Promise<ClusterMemoryRow[]> {
  const { cluster } = await startBenchCluster();
  try {
    const store = new S3ObjectStore(cluster.s3.client, cluster.bucket);
    const anchors = {
      model: 'tiny',
      harmful: await cluster.uploadFile(join(DEMO, 'anchors', 'harmful.jsonl'), 'anchors/harmful.jsonl'),
      safe: [
        await cluster.uploadFile(join(DEMO, 'anchors', 'safe-refusals-1.jsonl'), 'anchors/safe1.jsonl'),
        await cluster.uploadFile(join(DEMO, 'anchors', 'safe-refusals-2.jsonl'), 'anchors/safe2.jsonl'),
      ],
    };
    const base = readFileSync(join(DEMO, 'corpus.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
    const flags = ['--batch-examples', String(setup.batchExamples ?? 64), '--k', '100'];
    const rows: ClusterMemoryRow[] = [];
    for (const records of setup.sizes) {
      const lines = Array.from({ length: records }, (_, i) => base[i % base.length]!);
      await store.put(`data/corpus-${records}.jsonl`, `${lines.join('\n')}\n`);
      // Fresh processes: each one's high-water mark then belongs to this corpus size alone.
      await cluster.stopProcesses();
      const coordinator = cluster.spawn('coordinator', ['--threads', '1']);
      const worker = cluster.spawn('worker', setup.workerThreads ? ['--threads', String(setup.workerThreads)] : []);
      const reducer = cluster.spawn('reducer');
      await Promise.all([coordinator.waitFor('coordinator ready'), worker.waitFor('worker ready')]);
      const run = await runJob(cluster, anchors, cluster.uri(`data/corpus-${records}.jsonl`), `memory-${records}`, flags);
      const peak = (p: typeof worker) => {
        const bytes = p.child.pid === undefined ? null : processPeakRssBytes(p.child.pid);
        if (bytes === null) throw new Error(`${p.role} exited before its peak RSS was read:\n${p.tail()}`);
        return bytes / 2 ** 20;
      };
      const row: ClusterMemoryRow = {
        records,
        scored: run.summary.counts.scored,
        batches: run.summary.job.batches,
        wallSeconds: run.wallSeconds,
        coordinatorPeakMiB: peak(coordinator),
        workerPeakMiB: peak(worker),
        reducerPeakMiB: peak(reducer),
      };
      rows.push(row);
      console.error(`  ${records} records: coordinator ${row.coordinatorPeakMiB.toFixed(1)} MiB, worker ${row.workerPeakMiB.toFixed(1)} MiB, reducer ${row.reducerPeakMiB.toFixed(1)} MiB`);
    }
    return rows;
  } finally {
    await stopBenchCluster(cluster);
  }
}
