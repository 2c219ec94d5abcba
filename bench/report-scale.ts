// How `writeReport` scales with the score table: synthetic audits (summary.json, scores.parquet in
// 65,536-row groups with the nearest-anchor columns, topk.parquet of 100; test/helpers/
// synthetic-audit.ts) of each size, each report written in a fresh child process that reports its
// time and peak RSS, once with V8's default heap and once with the old space capped at 64 MiB (the
// live memory: peak RSS with the default heap also counts garbage V8 has not collected yet).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticAudit } from '../test/helpers/synthetic-audit.ts';
import type { ReportChildResult } from './report-scale-child.ts';

export interface ReportScaleRow {
  rows: number;
  k: number;
  /** Size of the score table on disk. */
  tableBytes: number;
  /** Default V8 heap. */
  seconds: number;
  peakRssMiB: number;
  /** --max-old-space-size=64. */
  cappedSeconds: number;
  cappedPeakRssMiB: number;
  pageBytes: number;
  /** Seconds to write the synthetic outputs (not part of the report). */
  generateSeconds: number;
}

const CHILD = fileURLToPath(new URL('./report-scale-child.ts', import.meta.url));
export const CAPPED_HEAP_MIB = 64;

function runChild(dir: string, flags: string[]): Promise<ReportChildResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...flags, '--import', 'tsx', CHILD, dir], { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr.slice(-2000)}`)) : resolve(JSON.parse(stdout) as ReportChildResult),
    );
  });
}

export async function measureReportScale(sizes: readonly number[], k = 100): Promise<ReportScaleRow[]> {
  const rows: ReportScaleRow[] = [];
  for (const size of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'safesift-bench-report-'));
    try {
      console.error(`report of ${size} rows…`);
      const started = performance.now();
      await writeSyntheticAudit(dir, { rows: size, k, nearest: true });
      const generateSeconds = (performance.now() - started) / 1000;
      const tableBytes = statSync(join(dir, 'scores.parquet')).size;
      const free = await runChild(dir, []);
      const capped = await runChild(dir, [`--max-old-space-size=${CAPPED_HEAP_MIB}`]);
      rows.push({
        rows: free.rows,
        k,
        tableBytes,
        seconds: free.seconds,
        peakRssMiB: free.peakRssBytes / 2 ** 20,
        cappedSeconds: capped.seconds,
        cappedPeakRssMiB: capped.peakRssBytes / 2 ** 20,
        pageBytes: free.bytes,
        generateSeconds,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

// Run directly: `node --import tsx bench/report-scale.ts 10000 1000000`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number);
  for (const row of await measureReportScale(sizes.length > 0 ? sizes : [10_000, 1_000_000])) console.log(JSON.stringify(row));
}
