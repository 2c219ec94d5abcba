import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface AuditMemoryRow {
  copies: number;
  records: number;
  peakRssMiB: number;
  examplesPerSecond: number;
}

const CLI = fileURLToPath(new URL('../bin/safesift.mjs', import.meta.url));

/** Peak RSS of `safesift audit` (tiny model) on N copies of one corpus: flat if the audit streams. */
export async function measureAuditMemory(corpusPath: string, copiesList: number[], workDir: string, env: Record<string, string>): Promise<AuditMemoryRow[]> {
  const base = readFileSync(corpusPath, 'utf8').trim();
  const rows: AuditMemoryRow[] = [];
  for (const copies of copiesList) {
    const data = join(workDir, `corpus-x${copies}.jsonl`);
    writeFileSync(data, `${Array.from({ length: copies }, () => base).join('\n')}\n`);
    const out = join(workDir, `out-x${copies}`);
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [CLI, 'audit', '--data', data, '--out', out, '--json'], { env: { ...process.env, ...env }, maxBuffer: 1 << 26 }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { counts: { records: number }; peak_rss_mib: number; throughput: { examples_per_s: number } };
    rows.push({ copies, records: summary.counts.records, peakRssMiB: summary.peak_rss_mib, examplesPerSecond: summary.throughput.examples_per_s });
    console.error(`  audit x${copies}: ${summary.counts.records} records, peak RSS ${summary.peak_rss_mib} MiB`);
  }
  return rows;
}
