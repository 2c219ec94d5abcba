/**
 * The last run of each run name, kept in the cache (`runs/<name>/latest.json`), so a nightly
 * re-audit can say what entered and left the top-k and how the scores moved.
 */
import type { RankingMethod } from '../scoring/ranking-method.ts';
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
  /** Names the run that wrote the record (a distributed job's id): writing it again is idempotent. */
  run_id?: string;
  finished_at: string;
  /** Feature namespace of the corpus features: scores of runs in one namespace are comparable. */
  namespace: string;
  method: RankingMethod;
  k: number;
  counts: { records: number; scored: number; errors: number };
  scores: ScoreSummary;
  top: RankedId[];
  /** The record this one replaced, kept so that rewriting the same run diffs against the same previous run. */
  replaces?: RunRecord | null;
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

/**
 * Follows one run name through a run: reads the name's last record, takes every scored example's
 * ranking score, and at the end stores this run as the name's last and diffs it against the one
 * before. The local audit and the distributed reducer both use it.
 */
export class RunTracker {
  private readonly scores = new ScoreStats();
  /** This run's score of each id of the previous top-k, for the diff. */
  private readonly previousTopScores = new Map<string, number>();
  private readonly previousTop: ReadonlySet<string>;

  private constructor(
    private readonly root: CacheRoot,
    readonly name: string,
    readonly runId: string,
    /** The run this one is compared with. */
    readonly previous: RunRecord | null,
  ) {
    this.previousTop = new Set(previous?.top.map((e) => e.id) ?? []);
  }

  /** `runId` names this run; a record it wrote before (a finalize that is run again) is looked past. */
  static async open(root: CacheRoot, name: string, runId: string): Promise<RunTracker> {
    const latest = await readRunRecord(root, name);
    const previous = latest !== null && latest.run_id === runId ? (latest.replaces ?? null) : latest;
    return new RunTracker(root, name, runId, previous);
  }

  /** Every scored example passes here once (any order). */
  observe(id: string, score: number): void {
    this.scores.push(score);
    if (this.previousTop.has(id) && !this.previousTopScores.has(id)) this.previousTopScores.set(id, score);
  }

  /** Stores this run as the name's last and returns the diff against the previous one (null: none). */
  async finish(run: { namespace: string; method: RankingMethod; k: number; counts: RunRecord['counts']; top: ReadonlyArray<Omit<RankedId, 'rank'>> }): Promise<RunDiff | null> {
    const record: RunRecord = {
      version: 1,
      name: this.name,
      run_id: this.runId,
      finished_at: new Date().toISOString(),
      namespace: run.namespace,
      method: run.method,
      k: run.k,
      counts: run.counts,
      scores: this.scores.summary(),
      top: run.top.map((e, i) => ({ rank: i + 1, id: e.id, source: e.source, row: e.row, score: e.score })),
    };
    const diff = this.previous === null ? null : diffRuns(this.previous, record, this.previousTopScores);
    // One level of history: the record it replaces, without that one's own.
    const replaces = this.previous === null ? null : { ...this.previous, replaces: null };
    await writeRunRecord(this.root, { ...record, replaces });
    return diff;
  }
}

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
