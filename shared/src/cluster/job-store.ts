import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import { foldJobStatus, type JobStatus } from './job-status.ts';
import { jobKey, now, RECORD_KINDS, type CancelRecord, type PlanRecord, type ReduceRecord, type RecordKind, type SpecRecord } from './job-records.ts';

type RecordOf<K extends RecordKind> = z.infer<(typeof RECORD_KINDS)[K]>;

/** Job records in the jobs KV bucket, validated on the way in and out. */
export class JobStore {
  constructor(private readonly kv: KV) {}

  async get<K extends RecordKind>(jobId: string, kind: K): Promise<RecordOf<K> | null> {
    const entry = await this.kv.get(jobKey(jobId, kind));
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return null;
    const parsed = RECORD_KINDS[kind].safeParse(entry.json());
    if (!parsed.success) throw new Error(`job ${jobId}: stored ${kind} record is invalid: ${parsed.error.message}`);
    return parsed.data as RecordOf<K>;
  }

  async put<K extends RecordKind>(jobId: string, kind: K, record: RecordOf<K>): Promise<void> {
    await this.kv.put(jobKey(jobId, kind), JSON.stringify(RECORD_KINDS[kind].parse(record)));
  }

  putSpec(record: SpecRecord): Promise<void> {
    return this.put(record.id, 'spec', record);
  }

  async updatePlan(jobId: string, change: (plan: PlanRecord | null) => PlanRecord): Promise<PlanRecord> {
    const plan = change(await this.get(jobId, 'plan'));
    await this.put(jobId, 'plan', { ...plan, updatedAt: now() });
    return plan;
  }

  async putReduce(jobId: string, record: ReduceRecord): Promise<void> {
    await this.put(jobId, 'reduce', { ...record, updatedAt: now() });
  }

  /**
   * Claims the writing of a job's outputs for `owner`: of several reducer replicas exactly one gets
   * true (a KV create is atomic). A claim older than `staleMs` (its owner died mid-write) can be
   * taken over, again by exactly one (an update on the revision read).
   */
  async claimFinalize(jobId: string, owner: string, staleMs: number): Promise<boolean> {
    const key = `job.${jobId}.finalize`;
    const claim = JSON.stringify({ owner, at: now() });
    try {
      await this.kv.create(key, claim);
      return true;
    } catch {
      const entry = await this.kv.get(key);
      if (entry === null) return false;
      const held = entry.json<{ owner?: string; at?: string }>();
      if (held.owner === owner) return true;
      if (Date.now() - Date.parse(held.at ?? '') < staleMs) return false;
      try {
        await this.kv.update(key, claim, entry.revision);
        return true;
      } catch {
        return false; // another replica took it over first
      }
    }
  }

  async cancel(jobId: string, by?: string): Promise<void> {
    const record: CancelRecord = { at: now(), ...(by ? { by } : {}) };
    await this.put(jobId, 'cancel', record);
  }

  async isCancelled(jobId: string): Promise<boolean> {
    return (await this.get(jobId, 'cancel')) !== null;
  }

  async status(jobId: string): Promise<JobStatus | null> {
    const spec = await this.get(jobId, 'spec');
    if (spec === null) return null;
    const [plan, reduce, cancelled] = await Promise.all([this.get(jobId, 'plan'), this.get(jobId, 'reduce'), this.isCancelled(jobId)]);
    return foldJobStatus(spec, plan, reduce, cancelled);
  }

  /** Every job id with a spec, oldest first (ids start with the name, so order by submission time). */
  async jobIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of await this.kv.keys('job.*.spec')) ids.push(key.slice('job.'.length, -'.spec'.length));
    return ids;
  }

  async list(): Promise<JobStatus[]> {
    const statuses = await Promise.all((await this.jobIds()).map((id) => this.status(id)));
    return statuses.filter((s): s is JobStatus => s !== null).sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || a.id.localeCompare(b.id));
  }
}
