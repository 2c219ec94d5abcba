// Throughput and memory of the reducer's top-k merge, each size in a fresh child process.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MergeChildResult } from './reducer-merge-child.ts';

export interface ReducerMergeRow extends MergeChildResult {
  mergePerSecond: number;
  batchTopPerSecond: number;
  /** Scores per CPU second. */
  mergePerCpuSecond: number;
  batchTopPerCpuSecond: number;
  peakRssMiB: number;
  retainedHeapMiB: number;
}

export interface ReducerMergeSetup {
  /** Score counts, e.g. [1e6, 1e7]. */
  sizes: number[];
  /** `random`: scores in no order (a real corpus); `ascending`: every score enters the top-k (worst case). */
  orders: ReadonlyArray<'random' | 'ascending'>;
  k?: number;
  batch?: number;
}

const CHILD = fileURLToPath(new URL('./reducer-merge-child.ts', import.meta.url));

export async function measureReducerMerge(setup: ReducerMergeSetup): Promise<ReducerMergeRow[]> {
  const rows: ReducerMergeRow[] = [];
  for (const order of setup.orders) {
    for (const scores of setup.sizes) {
      const args = ['--expose-gc', '--import', 'tsx', CHILD, '--scores', String(scores), '--order', order, '--k', String(setup.k ?? 1000), '--batch', String(setup.batch ?? 64)];
      const output = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout))),
      );
      const r = JSON.parse(output) as MergeChildResult;
      const row: ReducerMergeRow = {
        ...r,
        mergePerSecond: r.scores / r.mergeSeconds,
        batchTopPerSecond: r.scores / r.batchTopSeconds,
        mergePerCpuSecond: r.scores / r.mergeCpuSeconds,
        batchTopPerCpuSecond: r.scores / r.batchTopCpuSeconds,
        peakRssMiB: r.peakRssBytes / 2 ** 20,
        retainedHeapMiB: r.retainedHeapBytes / 2 ** 20,
      };
      rows.push(row);
      console.error(`  merge ${order} ${scores}: ${(row.mergePerSecond / 1e6).toFixed(2)}M scores/s (${(row.mergePerCpuSecond / 1e6).toFixed(2)}M per CPU s), peak RSS ${row.peakRssMiB.toFixed(1)} MiB`);
    }
  }
  return rows;
}
