/**
 * The run name's history for the report: the top-k cut-off and how many examples entered and
 * left the top-k, per run. The feature cache keeps the last run of a name and the one it replaced
 * (`runs/<name>/latest.json`, feature-cache/run-history.ts), and summary.json → diff compares this
 * run with the previous one; the report shows what of that it can reach.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { openCacheRoot } from '../feature-cache/cache-root.ts';
import { readRunRecord, type RunRecord } from '../feature-cache/run-history.ts';
import type { HistoryRun } from './report-charts.ts';
import type { ReportSummary, TopEntry } from './report-inputs.ts';

export interface RunHistory {
  /** Runs oldest first (empty: nothing to plot). */
  runs: (HistoryRun & { finishedAt: string | null })[];
  /** What the history is (or why there is none), one sentence. */
  note: string;
  /** Entered and left lists of this run's diff, when summary.json has one. */
  diff: { entered: { id: string; rank: number; score: number }[]; left: { id: string; previous_rank: number; previous_score: number; score: number | null }[] } | null;
}

interface DiffShape {
  previous?: { finished_at?: string; k?: number };
  entered?: { id: string; rank: number; score: number }[];
  left?: { id: string; previous_rank: number; previous_score: number; score: number | null }[];
}

const cutoffOf = (top: readonly { score: number }[]): number | null => {
  const last = top[top.length - 1];
  return last !== undefined && Number.isFinite(last.score) ? last.score : null;
};

function moves(current: RunRecord, previous: RunRecord | null | undefined): { entered: number | null; left: number | null } {
  if (!previous) return { entered: null, left: null };
  const now = new Set(current.top.map((e) => e.id));
  const before = new Set(previous.top.map((e) => e.id));
  return { entered: [...now].filter((id) => !before.has(id)).length, left: [...before].filter((id) => !now.has(id)).length };
}

export async function runHistory(summary: ReportSummary, top: readonly TopEntry[] | null, s3: (() => S3Client) | undefined): Promise<RunHistory> {
  const name = summary.job?.name ?? summary.options?.name;
  const diff = (summary.diff ?? null) as DiffShape | null;
  const diffLists = diff && Array.isArray(diff.entered) && Array.isArray(diff.left) ? { entered: diff.entered, left: diff.left } : null;
  if (summary.cache === undefined) {
    return { runs: [], diff: null, note: 'No run history: the audit ran without a feature cache (--cache), which is where a run name (--name) keeps its runs.' };
  }
  const thisCutoff = top ? cutoffOf(top) : null;
  // The run records in the cache, if it can be reached from here.
  let latest: RunRecord | null = null;
  let unreachable: string | null = null;
  if (name !== undefined && (!/^s3:\/\//i.test(summary.cache.uri) || s3 !== undefined)) {
    try {
      latest = await readRunRecord(openCacheRoot(summary.cache.uri, s3 ?? (() => { throw new Error('no S3 client'); })), name);
    } catch (err) {
      unreachable = (err as Error).message;
    }
  } else {
    unreachable = name === undefined ? 'the summary names no run' : 'the cache is in S3 and the report had no S3 access';
  }
  if (latest !== null) {
    const records = [latest.replaces, latest].filter((r): r is RunRecord => r !== null && r !== undefined);
    const topIds = top?.map((e) => e.id).join(',');
    const isThis = (r: RunRecord) => (summary.job?.id !== undefined ? r.run_id === summary.job.id : r.top.map((e) => e.id).join(',') === topIds);
    const runs = records.map((r, i) => ({
      label: isThis(r) ? 'this run' : r.finished_at.slice(5, 16).replace('T', ' '),
      finishedAt: r.finished_at,
      cutoff: cutoffOf(r.top),
      ...moves(r, i > 0 ? records[i - 1] : null),
    }));
    return { runs, diff: diffLists, note: `Run name '${name}': the cache keeps its last run and the one before (${summary.cache.uri}).` };
  }
  if (diff === null) {
    return { runs: [], diff: null, note: `First run of the name '${name ?? '?'}' in this cache: no earlier run to compare with.` };
  }
  const runs: RunHistory['runs'] = [
    { label: 'previous run', finishedAt: diff.previous?.finished_at ?? null, cutoff: null, entered: null, left: null },
    { label: 'this run', finishedAt: null, cutoff: thisCutoff, entered: diff.entered?.length ?? null, left: diff.left?.length ?? null },
  ];
  return { runs, diff: diffLists, note: `From summary.json → diff (the cache's run records could not be read: ${unreachable ?? 'none found'}), so the previous run's cut-off is not shown.` };
}
