/**
 * Where a job keeps its intermediate files, under the output prefix: `_work/<job>/` holds the
 * shared anchor features, the summary parts known at planning time, and one result object per
 * batch (its key is the batch number, so a batch processed twice is stored, and counted, once).
 */
export const WORK_DIR = '_work';

export function workPrefix(outKey: string, jobId: string): string {
  return joinKeys(outKey, WORK_DIR, jobId);
}

export const workKeys = {
  anchors: (work: string) => joinKeys(work, 'anchors.arrow'),
  summaryBase: (work: string) => joinKeys(work, 'summary-base.json'),
  results: (work: string) => joinKeys(work, 'results'),
  result: (work: string, batch: number) => joinKeys(work, 'results', `batch-${pad(batch)}.arrow`),
  deadLetter: (work: string, batch: number) => joinKeys(work, 'results', `batch-${pad(batch)}.dead.json`),
};

/** Batch number of a result or dead-letter key, or null for any other key. */
export function batchOfResultKey(key: string): { batch: number; dead: boolean } | null {
  const match = /batch-(\d+)\.(arrow|dead\.json)$/.exec(key);
  return match ? { batch: Number(match[1]), dead: match[2] === 'dead.json' } : null;
}

export const outputKeys = {
  topk: (out: string) => joinKeys(out, 'topk.parquet'),
  bottomk: (out: string) => joinKeys(out, 'bottomk.parquet'),
  scoresPart: (out: string, part: number) => joinKeys(out, 'scores', `part-${pad(part)}.parquet`),
  errors: (out: string) => joinKeys(out, 'errors.jsonl'),
  summary: (out: string) => joinKeys(out, 'summary.json'),
};

function pad(n: number): string {
  return String(n).padStart(6, '0');
}

function joinKeys(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/').replace(/\/{2,}/g, '/');
}
