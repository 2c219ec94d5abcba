import type { S3Client } from '@aws-sdk/client-s3';
import { writeReport } from '@safesift/core/report/write-report.ts';
import { REPORT_FILE } from '@safesift/core/report/report-inputs.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, totalmem, tmpdir } from 'node:os';
import { peakRssBytes } from '@safesift/core/audit/peak-memory.ts';
import { RANKED_COLUMNS, rankedRows, scoreColumns } from '@safesift/core/audit/score-table.ts';
import type { RankedEntry } from '@safesift/core/scoring/ranked-entry.ts';
import type { AnchorSetSpec } from '@safesift/core/scoring/anchor-sets.ts';
import type { JobContext } from '@safesift/core/cluster/job-context.ts';
import type { DeadLetter, PlanRecord, SpecRecord } from '@safesift/core/cluster/job-records.ts';
import { outputKeys, workKeys } from '@safesift/core/cluster/work-layout.ts';
import type { RecordError } from '@safesift/core/corpus/example.ts';
import { decodeBatchResult } from '@safesift/core/distributed/batch-result-codec.ts';
import { openParquetWriter, type ColumnSpec, type ParquetTableWriter } from '@safesift/core/output/parquet-table-writer.ts';
import { TopK } from '@safesift/core/scoring/top-k.ts';
import type { CacheSummary } from '@safesift/core/feature-cache/audit-cache.ts';
import { openCacheRoot } from '@safesift/core/feature-cache/cache-root.ts';
import { RunTracker } from '@safesift/core/feature-cache/run-history.ts';
import type { BatchLedger } from './batch-ledger.ts';

/** Rows per scores part: parts stay a few tens of MB whatever the corpus size. */
export const ROWS_PER_PART = 500_000;

export interface FinalizeOptions {
  /** S3 client for a job whose feature cache is in S3 (the run history lives there). */
  s3: () => S3Client;
  rowsPerPart?: number;
}

export interface FinalOutputs {
  outputs: Record<string, string>;
  scored: number;
  errors: number;
  deadLetters: DeadLetter[];
  /** Every batch was dead-lettered: the job scored nothing and is failed, not complete. */
  failed: string | null;
}

/**
 * Writes a job's final outputs once every batch is accounted for: score parts, top-k (and
 * bottom-k), errors.jsonl and, last, summary.json. Reads one batch result at a time (memory O(k)
 * plus one batch). Every output is a single atomic put, so no half-written file ever appears
 * under a final name; rerunning after a crash rewrites the same bytes.
 */
export async function finalizeJob(job: JobContext, spec: SpecRecord, plan: PlanRecord, ledger: BatchLedger, options: FinalizeOptions): Promise<FinalOutputs> {
  const rowsPerPart = options.rowsPerPart ?? ROWS_PER_PART;
  const started = performance.now();
  const { store, key: out } = job.out;
  const temp = await mkdtemp(join(tmpdir(), 'safesift-reduce-'));
  try {
    const top = new TopK<RankedEntry>(job.audit.k, 'top');
    const bottom = new TopK<RankedEntry>(job.audit.bottomK, 'bottom');
    const inputs = new Map(job.audit.data.map((source) => [source, { source, records: 0, scored: 0, errors: 0 }]));
    const errorLines: string[] = [];
    const deadLetters: DeadLetter[] = [];
    const recordError = (error: RecordError) => {
      errorLines.push(JSON.stringify(error));
      const counts = inputs.get(error.source);
      if (counts) {
        counts.errors++;
        counts.records++;
      }
    };
    plan.anchorErrors.forEach(recordError);

    const base = JSON.parse(new TextDecoder().decode(await store.get(workKeys.summaryBase(job.work)))) as Record<string, unknown> & {
      anchor_sets: AnchorSetSpec[];
      cache?: CacheSummary;
      ranking: { column: string };
      features: { directions: { column: string }[] };
    };
    // With a feature cache: the job's cache counts, and its run history under the job's name.
    const cacheReport = base.cache === undefined ? null : { ...base.cache };
    const run = cacheReport === null ? null : await RunTracker.open(openCacheRoot(cacheReport.uri, options.s3), job.spec.name, job.id);
    // The coordinator resolved the ranking column and the direction columns with the anchors.
    const rankingColumn = base.ranking.column;
    const directionColumns = base.features.directions.map((d) => d.column);
    const columns = scoreColumns(base.anchor_sets.map(({ name, role, weight, source }) => ({ name, role, weight, source })), directionColumns);
    const outputs: Record<string, string> = {};
    const parts: string[] = [];
    let part: { writer: ParquetTableWriter; rows: number; path: string } | null = null;
    const closePart = async () => {
      if (part === null) return;
      await part.writer.close();
      const key = outputKeys.scoresPart(out, parts.length);
      await store.putFile(key, part.path);
      parts.push(key);
      part = null;
    };
    let scored = 0;

    for (let batch = 0; batch < (plan.batches ?? 0); batch++) {
      const entry = ledger.entry(batch);
      if (entry === undefined) throw new Error(`job ${job.id}: batch ${batch} is not accounted for`);
      if (entry.dead) {
        const dead = JSON.parse(new TextDecoder().decode(await store.get(workKeys.deadLetter(job.work, batch)))) as DeadLetter;
        deadLetters.push({ batch, reason: dead.reason, ...(dead.deliveries === undefined ? {} : { deliveries: dead.deliveries }) });
        recordError({ source: `batch:${batch}`, row: -1, reason: `dead-lettered, its records were not scored: ${dead.reason}` });
        continue;
      }
      const result = decodeBatchResult(await store.get(workKeys.result(job.work, batch)));
      if (result.kind !== 'result') throw new Error(`job ${job.id}: batch ${batch} result object holds a dead letter`);
      result.errors.forEach(recordError);
      for (const row of result.rows) {
        const counts = inputs.get(String(row.source));
        if (counts) {
          counts.scored++;
          counts.records++;
        }
        run?.observe(String(row.id), Number(row[rankingColumn]));
      }
      if (cacheReport && result.cache) {
        cacheReport.hits += result.cache.hits;
        cacheReport.misses += result.cache.misses;
        cacheReport.gradient_reads += result.cache.gradientReads;
      }
      // Each batch's lists come sorted best first: merging stops at the first entry that misses.
      top.mergeSorted(result.top);
      bottom.mergeSorted(result.bottom);
      if (result.rows.length > 0) {
        part ??= await openPart(temp, parts.length, columns);
        await part.writer.append(result.rows);
        part.rows += result.rows.length;
        scored += result.rows.length;
        if (part.rows >= rowsPerPart) await closePart();
      }
    }
    await closePart();

    const ranked = top.sorted();
    outputs.topk = await putRanked(store, outputKeys.topk(out), temp, 'topk', ranked);
    if (job.audit.bottomK > 0) outputs.bottomk = await putRanked(store, outputKeys.bottomk(out), temp, 'bottomk', bottom.sorted());
    outputs.scores = parts.length > 0 ? `${out}/scores/` : '';
    await store.put(outputKeys.errors(out), errorLines.length > 0 ? `${errorLines.join('\n')}\n` : '');
    outputs.errors = outputKeys.errors(out);

    const finishedAt = new Date();
    const totalMs = finishedAt.getTime() - Date.parse(spec.submittedAt);
    const records = [...inputs.values()].reduce((n, i) => n + i.records, 0);
    const diff = run === null || cacheReport === null ? undefined : await run.finish({
      namespace: cacheReport.namespace,
      method: job.audit.method,
      k: job.audit.k,
      counts: { records, scored, errors: errorLines.length },
      top: ranked,
    });
    const failed = plan.batches !== null && plan.batches > 0 && deadLetters.length === plan.batches
      ? `every batch (${plan.batches}) was dead-lettered: ${deadLetters[0]?.reason ?? 'no reason given'}`
      : null;
    const summary = {
      ...base,
      status: failed === null ? 'complete' : 'failed',
      ...(failed === null ? {} : { error: failed }),
      job: { id: job.id, name: job.spec.name, submitted_at: spec.submittedAt, finished_at: finishedAt.toISOString(), batches: plan.batches, batch_examples: job.spec.batchExamples, dead_letters: deadLetters },
      inputs: [...inputs.values()],
      counts: { records, scored, errors: errorLines.length, top_k: top.size, dead_letter_batches: deadLetters.length },
      outputs: { ...relativeOutputs(out, outputs), report: REPORT_FILE, score_parts: parts.map((k) => relative(out, k)) } as Record<string, unknown>,
      warnings: Array.isArray(base.warnings) ? (base.warnings as string[]) : [],
      timings_ms: { total: totalMs, reduce: Math.round(performance.now() - started) },
      throughput: { examples_per_s: totalMs > 0 ? Math.round((scored * 100_000) / totalMs) / 100 : null },
      peak_rss_mib: Math.round((peakRssBytes() / 2 ** 20) * 100) / 100,
      ...(cacheReport ? { cache: cacheReport, diff: diff ?? null } : {}),
      machine: { role: 'reducer', cpus: cpus().length, cpu_model: cpus()[0]?.model ?? 'unknown', memory_gib: Math.round((totalmem() / 2 ** 30) * 100) / 100, node: process.version },
    };
    // report.html, a view of the other outputs: a failure leaves a warning, not a failed job.
    try {
      await writeReport({ store, prefix: out }, { summary, s3: options.s3 });
    } catch (error) {
      delete summary.outputs.report;
      summary.warnings = [...summary.warnings, `report.html not written (${(error as Error).message}); \`safesift report ${job.id}\` writes it from these outputs`];
    }
    // summary.json last: its presence says every other output is complete.
    await store.put(outputKeys.summary(out), `${JSON.stringify(summary, null, 2)}\n`);
    outputs.summary = outputKeys.summary(out);
    return { outputs: relativeOutputs(out, outputs), scored, errors: errorLines.length, deadLetters, failed };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function openPart(temp: string, index: number, columns: ColumnSpec[]) {
  const path = join(temp, `part-${index}.parquet`);
  return { writer: await openParquetWriter(path, columns), rows: 0, path };
}

async function putRanked(store: JobContext['out']['store'], key: string, temp: string, name: string, entries: RankedEntry[]): Promise<string> {
  const path = join(temp, `${name}.parquet`);
  const writer = await openParquetWriter(path, RANKED_COLUMNS);
  await writer.append(rankedRows(entries));
  await writer.close();
  await store.putFile(key, path);
  return key;
}

function relative(out: string, key: string): string {
  return out === '' ? key : key.startsWith(`${out}/`) ? key.slice(out.length + 1) : key;
}

function relativeOutputs(out: string, outputs: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(outputs).filter(([, v]) => v !== '').map(([k, v]) => [k, relative(out, v)]));
}
