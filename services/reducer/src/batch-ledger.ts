import type { JobContext } from '@safesift/core/cluster/job-context.ts';
import { batchOfResultKey, workKeys } from '@safesift/core/cluster/work-layout.ts';

export interface LedgerEntry {
  dead: boolean;
}

/**
 * Which batches of a job are accounted for (a stored result or dead letter). Keyed by batch
 * number, so a batch processed or reported twice counts once. The stored result objects are the
 * truth: a restarted reducer rebuilds the ledger by listing them.
 */
export class BatchLedger {
  private readonly batches = new Map<number, LedgerEntry>();
  scored = 0;
  errors = 0;

  private constructor(readonly jobId: string) {}

  static async load(job: JobContext): Promise<BatchLedger> {
    const ledger = new BatchLedger(job.id);
    for await (const info of job.out.store.list(`${workKeys.results(job.work)}/`)) {
      const parsed = batchOfResultKey(info.key);
      if (parsed) ledger.add(parsed.batch, parsed.dead);
    }
    return ledger;
  }

  /** Records a batch; false when it was already accounted for. A result wins over a dead letter. */
  add(batch: number, dead: boolean): boolean {
    const known = this.batches.get(batch);
    if (known && (dead || !known.dead)) return false;
    this.batches.set(batch, { dead });
    return known === undefined;
  }

  entry(batch: number): LedgerEntry | undefined {
    return this.batches.get(batch);
  }

  get accounted(): number {
    return this.batches.size;
  }

  get deadCount(): number {
    let n = 0;
    for (const e of this.batches.values()) if (e.dead) n++;
    return n;
  }
}
