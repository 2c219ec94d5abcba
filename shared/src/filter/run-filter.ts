import type { S3Client } from '@aws-sdk/client-s3';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkInputFiles } from '../corpus/check-inputs.ts';
import { ConfigError, InputError, OutputError, isTransientIoError } from '../errors.ts';
import { storageByteSources } from '../storage/byte-sources.ts';
import { parseLocation } from '../storage/location.ts';
import { S3ObjectStore } from '../storage/s3-object-store.ts';
import { openAuditOutputs } from './audit-outputs.ts';
import { ByteSink } from './byte-sink.ts';
import { FLAGGED_LOG, FILTER_SUMMARY, openFilterOutput } from './filter-output.ts';
import type { FilterInput, FilterOptions } from './filter-options.ts';
import { filterParquet } from './parquet-filter.ts';
import { RecordClassifier, type InputCounts } from './record-classifier.ts';
import { RecordIdentifier } from './record-ids.ts';
import { selectFlagged, type Selection } from './select-flagged.ts';
import { filterJsonArray, filterJsonLines, type FileJob } from './text-filter.ts';

/** How many missing ids the summary names (all are counted). */
const NAMED_MISSING = 20;

export interface MissingId {
  id: string;
  audit_source: string;
  audit_row: number;
  score: number;
}

export interface FilterSummary {
  status: 'complete';
  scores: string;
  out: string;
  rule: Selection['rule'];
  keep_flagged: boolean;
  audit: { score_rows: number; scored_rows: number; flagged_ids: number };
  inputs: InputCounts[];
  counts: {
    records: number;
    written: number;
    flagged_records: number;
    /** Flagged ids the inputs held (a duplicated record counts once here). */
    found_ids: number;
    /** Flagged ids of files given to --data (by file name) that none of them held: the corpus changed since the audit. */
    missing_ids: number;
    /** Flagged ids the audit found in files not given to --data. */
    other_file_ids: number;
    not_audited: number;
    invalid: number;
  };
  /** The first missing ids, with where the audit saw them. */
  missing: MissingId[];
  /** The audited files (base names) whose flagged ids were not looked for, with how many. */
  other_files: Record<string, number>;
  warnings: string[];
  outputs: { files: Record<string, string>; flagged: string; summary: string };
  timings_ms: { select: number; filter: number; total: number };
}

export interface FilterHooks {
  s3: () => S3Client;
  /** Stops between records (its reason is thrown); temp files are removed, committed copies stay. */
  signal?: AbortSignal;
}

/**
 * `safesift filter`: reads the audit's outputs, then streams each input into a copy without the
 * flagged records (or with only them), committing each copy whole when it is done, then
 * flagged.jsonl, then filter-summary.json (last: its presence means the filter finished).
 * Memory: see selectFlagged (8 B per score row, ~150 B per flagged id) plus one record (JSON) or
 * one row group (Parquet) of the input in hand.
 */
export async function runFilter(options: FilterOptions, hooks: FilterHooks): Promise<FilterSummary> {
  const started = performance.now();
  const { s3, signal } = hooks;
  await checkInputs(options.inputs, s3);
  const outputs = await openAuditOutputs(options.scores, s3);
  const out = openFilterOutput(options.out, s3);
  await out.prepare();
  signal?.throwIfAborted();

  const selection = await selectFlagged(outputs, options.rule);
  const selected = performance.now();
  const opener = storageByteSources(s3);
  let scratch: string | null = null;
  let flaggedLog: ByteSink | null = null;
  try {
    const flaggedTemp = await out.tempFile(FLAGGED_LOG);
    flaggedLog = await ByteSink.open(flaggedTemp);
    const classifier = new RecordClassifier(selection, options.keepFlagged, flaggedLog);
    const inputs: InputCounts[] = [];
    const files: Record<string, string> = {};
    for (const input of options.inputs) {
      signal?.throwIfAborted();
      const counts = classifier.begin(input.source, out.locationOf(input.name), input.format);
      const job: FileJob = {
        source: input.source,
        tempPath: await out.tempFile(input.name),
        counts,
        classifier,
        identifier: new RecordIdentifier(outputs.recordShape),
        maxRecordBytes: options.maxRecordBytes,
        ...(signal ? { signal } : {}),
      };
      try {
        if (input.format === 'parquet') {
          let path = input.source;
          if (parseLocation(input.source).kind === 's3') {
            scratch ??= await mkdtemp(join(tmpdir(), 'safesift-filter-in-'));
            path = join(scratch, `${inputs.length}-${input.name}`);
            await pipeline(Readable.from(await opener.openStream(input.source)), createWriteStream(path));
          }
          await filterParquet(path, job);
          if (path !== input.source) await rm(path, { force: true });
        } else {
          const chunks = await opener.openStream(input.source);
          if (input.format === 'jsonl') await filterJsonLines(chunks, job, options.keepFlagged);
          else await filterJsonArray(chunks, job);
        }
      } catch (err) {
        throw asInputError(err, input.source, signal);
      }
      await out.commit(input.name, job.tempPath);
      inputs.push(counts);
      files[input.source] = counts.output;
    }
    await flaggedLog.close();
    flaggedLog = null;
    await out.commit(FLAGGED_LOG, flaggedTemp);

    const summary = summarize(options, selection, inputs, files, out.locationOf(FLAGGED_LOG), out.locationOf(FILTER_SUMMARY));
    summary.timings_ms = { select: Math.round(selected - started), filter: Math.round(performance.now() - selected), total: Math.round(performance.now() - started) };
    await out.writeSummary(summary);
    return summary;
  } finally {
    await flaggedLog?.abort();
    await out.cleanup();
    if (scratch !== null) await rm(scratch, { recursive: true, force: true });
  }
}

/** Every input must exist (and local ones be readable files) before any work: InputError, exit 4. */
async function checkInputs(inputs: FilterInput[], s3: () => S3Client): Promise<void> {
  const local = inputs.filter((i) => parseLocation(i.source).kind === 'local').map((i) => i.source);
  await checkInputFiles(local, '--data');
  for (const input of inputs) {
    const location = parseLocation(input.source);
    if (location.kind !== 's3') continue;
    const info = await new S3ObjectStore(s3(), location.bucket).head(location.key).catch((err: unknown) => {
      if (isTransientIoError(err)) throw err;
      throw new InputError(input.source, -1, `cannot be read: ${(err as Error).message}`, { cause: err });
    });
    if (info === null) throw new InputError(input.source, -1, 'no such object: check the --data location');
  }
}

/** A failure while reading an input names it (exit 4); our own, output and transient errors pass as they are. */
function asInputError(err: unknown, source: string, signal: AbortSignal | undefined): unknown {
  if (err instanceof InputError || err instanceof ConfigError || err instanceof OutputError || isTransientIoError(err)) return err;
  if (signal?.aborted && err === signal.reason) return err;
  return new InputError(source, -1, `cannot read file: ${(err as Error).message}`, { cause: err });
}

function summarize(options: FilterOptions, selection: Selection, inputs: InputCounts[], files: Record<string, string>, flagged: string, summaryAt: string): FilterSummary {
  const byName = new Map(inputs.map((c, i) => [options.inputs[i]!.name, c]));
  const missing: MissingId[] = [];
  let missingCount = 0;
  const otherFiles: Record<string, number> = {};
  for (const entry of selection.flagged.unfound()) {
    const name = posix.basename(entry.auditSource.replaceAll('\\', '/'));
    const counts = byName.get(name);
    if (counts === undefined) {
      otherFiles[name] = (otherFiles[name] ?? 0) + 1;
      continue;
    }
    counts.missing_ids++;
    missingCount++;
    if (missing.length < NAMED_MISSING) missing.push({ id: entry.id, audit_source: entry.auditSource, audit_row: entry.auditRow, score: entry.score });
  }
  const sum = (pick: (c: InputCounts) => number) => inputs.reduce((n, c) => n + pick(c), 0);
  const counts = {
    records: sum((c) => c.records),
    written: sum((c) => c.written),
    flagged_records: sum((c) => c.flagged),
    found_ids: selection.flagged.foundCount,
    missing_ids: missingCount,
    other_file_ids: Object.values(otherFiles).reduce((a, b) => a + b, 0),
    not_audited: sum((c) => c.not_audited),
    invalid: sum((c) => c.invalid),
  };
  const warnings: string[] = [];
  if (missingCount > 0) {
    const named = missing.slice(0, 3).map((m) => `${m.id} (audit: ${posix.basename(m.audit_source)} row ${m.audit_row})`).join(', ');
    warnings.push(`${missingCount} flagged id${missingCount === 1 ? ' was' : 's were'} not found in the inputs: the corpus changed since the audit? ${named}${missingCount > 3 ? ', …' : ''} (all in filter-summary.json → missing); re-audit to filter the changed records`);
  }
  if (counts.not_audited > 0) warnings.push(`${counts.not_audited} record${counts.not_audited === 1 ? ' has' : 's have'} no score row (not audited: added since the audit, or past its --limit): kept`);
  if (counts.other_file_ids > 0) {
    warnings.push(`${counts.other_file_ids} flagged id${counts.other_file_ids === 1 ? '' : 's'} of audited files not given to --data (${Object.keys(otherFiles).slice(0, 3).join(', ')}) were not looked for`);
  }
  return {
    status: 'complete',
    scores: options.scores,
    out: options.out,
    rule: selection.rule,
    keep_flagged: options.keepFlagged,
    audit: { score_rows: selection.scoreRows, scored_rows: selection.scoredRows, flagged_ids: selection.flagged.size },
    inputs,
    counts,
    missing,
    other_files: otherFiles,
    warnings,
    outputs: { files, flagged, summary: summaryAt },
    timings_ms: { select: 0, filter: 0, total: 0 },
  };
}
