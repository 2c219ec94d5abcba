import { z } from 'zod';

/**
 * What a job's state looks like in the jobs KV bucket. Each process owns its own key, so no two
 * processes ever write the same entry: submit writes `spec`, the coordinator `plan`, the reducer
 * `reduce`, and `cancel` marks a cancellation.
 */
export const JOB_STATES = ['queued', 'planning', 'running', 'reducing', 'complete', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const specRecord = z.object({
  id: z.string(),
  name: z.string(),
  submittedAt: z.string(),
  /** The job spec in its stored (JSON) form; see distributed/job-spec.ts. */
  spec: z.unknown(),
});
export type SpecRecord = z.infer<typeof specRecord>;

const recordError = z.object({ source: z.string(), row: z.number(), reason: z.string() });

export const planRecord = z.object({
  state: z.enum(['planning', 'published', 'failed', 'cancelled']),
  /** Batches published so far, in plan order: a restarted coordinator resumes after them. */
  published: z.number().int().min(0),
  /** Total batches, once every input has been read. */
  batches: z.number().int().min(0).nullable(),
  /** Records read (good and bad) so far. */
  records: z.number().int().min(0),
  /** Anchor records that could not be used (they are not part of any batch). */
  anchorErrors: z.array(recordError),
  /** Each input's version (etag) when planning began: a re-plan after a crash must read the same bytes. */
  inputVersions: z.record(z.string(), z.string()).optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  error: z.string().optional(),
  /** The last transient failure while planning (it is being retried); cleared once published. */
  lastError: z.string().optional(),
});
export type PlanRecord = z.infer<typeof planRecord>;

export const deadLetter = z.object({ batch: z.number().int(), reason: z.string(), deliveries: z.number().int().optional() });
export type DeadLetter = z.infer<typeof deadLetter>;

export const reduceRecord = z.object({
  state: z.enum(['running', 'complete', 'failed', 'cancelled']),
  /** Batches with a result or a dead letter. */
  accounted: z.number().int().min(0),
  scored: z.number().int().min(0),
  errors: z.number().int().min(0),
  deadLetters: z.array(deadLetter),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
  /** Where the final outputs are (output prefix URI). */
  outputs: z.record(z.string(), z.string()).optional(),
  error: z.string().optional(),
});
export type ReduceRecord = z.infer<typeof reduceRecord>;

export const cancelRecord = z.object({ at: z.string(), by: z.string().optional() });
export type CancelRecord = z.infer<typeof cancelRecord>;

export const RECORD_KINDS = { spec: specRecord, plan: planRecord, reduce: reduceRecord, cancel: cancelRecord } as const;
export type RecordKind = keyof typeof RECORD_KINDS;

/** KV key of one record of a job; job ids are [a-z0-9-], valid in NATS KV keys. */
export function jobKey(jobId: string, kind: RecordKind): string {
  return `job.${jobId}.${kind}`;
}

export function now(): string {
  return new Date().toISOString();
}
