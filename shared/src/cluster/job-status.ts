import type { JobState, PlanRecord, ReduceRecord, SpecRecord } from './job-records.ts';

/** One job as `status` and `jobs` show it: the three records folded into one view. */
export interface JobStatus {
  id: string;
  name: string;
  state: JobState;
  submittedAt: string;
  out: string | null;
  /** Batches published by the coordinator, and the total once planning is done. */
  batches: { published: number; total: number | null; accounted: number; deadLetters: number };
  records: { read: number; scored: number; errors: number };
  cancelled: boolean;
  error: string | null;
  /** While planning: the last transient failure, being retried. */
  retrying: string | null;
  finishedAt: string | null;
  outputs: Record<string, string> | null;
}

export function foldJobStatus(spec: SpecRecord, plan: PlanRecord | null, reduce: ReduceRecord | null, cancelled: boolean): JobStatus {
  return {
    id: spec.id,
    name: spec.name,
    state: jobState(plan, reduce, cancelled),
    submittedAt: spec.submittedAt,
    out: outOf(spec.spec),
    batches: {
      published: plan?.published ?? 0,
      total: plan?.batches ?? null,
      accounted: reduce?.accounted ?? 0,
      deadLetters: reduce?.deadLetters.length ?? 0,
    },
    records: { read: plan?.records ?? 0, scored: reduce?.scored ?? 0, errors: reduce?.errors ?? 0 },
    cancelled,
    error: reduce?.error ?? plan?.error ?? null,
    retrying: plan?.state === 'planning' && reduce?.state !== 'failed' ? (plan.lastError ?? null) : null,
    finishedAt: reduce?.finishedAt ?? null,
    outputs: reduce?.outputs ?? null,
  };
}

function jobState(plan: PlanRecord | null, reduce: ReduceRecord | null, cancelled: boolean): JobState {
  if (reduce?.state === 'complete') return 'complete';
  if (reduce?.state === 'failed' || plan?.state === 'failed') return 'failed';
  if (cancelled) return 'cancelled';
  if (plan === null) return 'queued';
  if (plan.state === 'planning') return 'planning';
  return plan.batches !== null && reduce !== null && reduce.accounted >= plan.batches ? 'reducing' : 'running';
}

function outOf(spec: unknown): string | null {
  if (typeof spec !== 'object' || spec === null) return null;
  const audit = (spec as { audit?: { out?: unknown } }).audit;
  return typeof audit?.out === 'string' ? audit.out : null;
}

export function isFinished(state: JobState): boolean {
  return state === 'complete' || state === 'failed' || state === 'cancelled';
}
