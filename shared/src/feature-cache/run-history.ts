/**
 * The last run of each run name, kept in the cache (`runs/<name>/latest.json`), so a nightly
 * re-audit can say what entered and left the top-k and how the scores moved.
 */
import { ObjectNotFoundError } from '../storage/object-store.ts';
import { cacheKey, type CacheRoot } from './cache-root.ts';

export interface ScoreSummary {
  /** Examples with a finite ranking score. */
  count: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

export interface RankedId {
  rank: number;
  id: string;
  source: string;
  row: number;
  score: number;
}

export interface RunRecord {
  version: 1;
  name: string;
  finished_at: string;
  /** Feature namespace of the corpus features: scores of runs in one namespace are comparable. */
  namespace: string;
  method: 'grad' | 'rep';
  k: number;
  counts: { records: number; scored: number; errors: number };
  scores: ScoreSummary;
  top: RankedId[];
}

export interface RunDiff {
  previous: { finished_at: string; method: string; k: number; same_features: boolean; counts: RunRecord['counts'] };
  /** In this top-k, not in the previous one. */
  entered: Array<{ id: string; rank: number; score: number }>;
  /** In the previous top-k, not in this one; `score` is this run's, null when the example is gone. */
  left: Array<{ id: string; previous_rank: number; previous_score: number; score: number | null }>;
  /** In both top-ks: how far their scores moved. */
  stayed: { count: number; mean_abs_shift: number | null; max_abs_shift: number | null };
  scores: { previous: ScoreSummary; current: ScoreSummary };
}

/** Streaming count, mean, min and max of the finite ranking scores. */
export class ScoreStats {
  private count = 0;
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;

  push(score: number): void {
    if (!Number.isFinite(score)) return;
    this.count++;
    this.sum += score;
    this.min = Math.min(this.min, score);
    this.max = Math.max(this.max, score);
  }

  summary(): ScoreSummary {
    const any = this.count > 0;
    return { count: this.count, mean: any ? this.sum / this.count : null, min: any ? this.min : null, max: any ? this.max : null };
  }
}

const runKey = (root: CacheRoot, name: string) => cacheKey(root, 'runs', name, 'latest.json');

/** The last run of `name`, or null when there is none (or it cannot be read). */
export async function readRunRecord(root: CacheRoot, name: string): Promise<RunRecord | null> {
  try {
    const value = JSON.parse(new TextDecoder().decode(await root.store.get(runKey(root, name)))) as Partial<RunRecord>;
    return value.version === 1 && Array.isArray(value.top) && typeof value.namespace === 'string' ? (value as RunRecord) : null;
  } catch (error) {
    if (error instanceof ObjectNotFoundError || error instanceof SyntaxError) return null;
    throw error;
  }
}

export async function writeRunRecord(root: CacheRoot, record: RunRecord): Promise<void> {
  await root.store.put(runKey(root, record.name), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * This run against the previous one. `currentScores` holds this run's score of every id of the
 * previous top-k that was scored again (collect it with `previous.top` while scoring).
 */
export function diffRuns(previous: RunRecord, current: Omit<RunRecord, 'version' | 'name' | 'finished_at'>, currentScores: ReadonlyMap<string, number>): RunDiff {
  const before = new Map(previous.top.map((e) => [e.id, e]));
  const now = new Set(current.top.map((e) => e.id));
  const shifts: number[] = [];
  const entered: RunDiff['entered'] = [];
  for (const e of current.top) {
    const old = before.get(e.id);
    if (old === undefined) entered.push({ id: e.id, rank: e.rank, score: e.score });
    else shifts.push(Math.abs(e.score - old.score));
  }
  const left = previous.top
    .filter((e) => !now.has(e.id))
    .map((e) => ({ id: e.id, previous_rank: e.rank, previous_score: e.score, score: currentScores.get(e.id) ?? null }));
  return {
    previous: {
      finished_at: previous.finished_at,
      method: previous.method,
      k: previous.k,
      same_features: previous.namespace === current.namespace && previous.method === current.method,
      counts: previous.counts,
    },
    entered,
    left,
    stayed: {
      count: shifts.length,
      mean_abs_shift: shifts.length > 0 ? shifts.reduce((a, b) => a + b, 0) / shifts.length : null,
      max_abs_shift: shifts.length > 0 ? Math.max(...shifts) : null,
    },
    scores: { previous: previous.scores, current: current.scores },
  };
}
