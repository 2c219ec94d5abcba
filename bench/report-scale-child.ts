// Child process of the report-scale benchmark: writes report.html for one audit folder and reports
// the time and its own peak RSS (a fresh process per size, so the peaks do not mix).
import { peakRssBytes } from '../shared/src/audit/peak-memory.ts';
import { writeReport } from '../shared/src/report/write-report.ts';

export interface ReportChildResult {
  rows: number;
  seconds: number;
  bytes: number;
  peakRssBytes: number;
}

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: report-scale-child.ts DIR');
const started = performance.now();
const result = await writeReport(dir);
const child: ReportChildResult = { rows: result.rows, seconds: (performance.now() - started) / 1000, bytes: result.bytes, peakRssBytes: peakRssBytes() };
process.stdout.write(`${JSON.stringify(child)}\n`);
