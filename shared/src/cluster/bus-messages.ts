import { z } from 'zod';

/** Headers on every batch message: they identify the batch even when its body is unreadable. */
export const BATCH_HEADERS = { job: 'Safesift-Job', batch: 'Safesift-Batch' } as const;

/** Message id of a batch: JetStream drops a second publish of the same batch (coordinator restarts). */
export function batchMessageId(jobId: string, batch: number): string {
  return `${jobId}:batch:${batch}`;
}

export function resultMessageId(jobId: string, batch: number): string {
  return `${jobId}:result:${batch}`;
}

/** A submitted job, on the jobs stream. The spec itself is in the jobs KV bucket. */
export const jobNotice = z.object({ jobId: z.string() });
export type JobNotice = z.infer<typeof jobNotice>;

/** A worker's word that a batch's result (or dead letter) is stored under the job's work prefix. */
export const resultNotice = z.object({
  jobId: z.string(),
  batch: z.number().int().min(0),
  kind: z.enum(['result', 'dead-letter']),
  key: z.string(),
  records: z.number().int().min(0),
  scored: z.number().int().min(0),
  errors: z.number().int().min(0),
  worker: z.string(),
  reason: z.string().optional(),
});
export type ResultNotice = z.infer<typeof resultNotice>;

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function decodeJson<T>(schema: z.ZodType<T>, data: Uint8Array, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(data));
  } catch (error) {
    throw new Error(`${what}: not JSON (${(error as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
