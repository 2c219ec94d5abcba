import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Example, RecordError } from '../corpus/example.ts';
import { readCorpus } from '../corpus/read-corpus.ts';
import { checkInputFiles } from '../corpus/check-inputs.ts';
import { InputError } from '../errors.ts';
import { prepareOutputFolder } from '../output/output-folder.ts';
import { AuditCache } from '../feature-cache/audit-cache.ts';
import { createS3Client } from '../storage/s3-client.ts';
import { openErrorsLog, type ErrorsLog } from '../output/errors-log.ts';
import { openParquetWriter, type ParquetTableWriter } from '../output/parquet-table-writer.ts';
import { nameAnchorSets } from '../scoring/anchor-sets.ts';
import { GradientScorer } from '../scoring/gradient-score.ts';
import { RepresentationScorer } from '../scoring/representation-score.ts';
import { DirectionScorer } from '../scoring/direction-score.ts';
import { rankingColumnFor } from './ranking-column.ts';
import { TopK } from '../scoring/top-k.ts';
import { computeAnchorFeatures } from './anchor-features.ts';
import type { AuditOptions, ResolvedAuditOptions } from './audit-options.ts';
import { buildSummary, TOP_REASONS, writeSummary, type AuditSummary, type InputCounts } from './audit-summary.ts';
import { auditWarnings } from './audit-warnings.ts';
import { estimateRecordCount } from './record-estimate.ts';
import type { RankedEntry } from '../scoring/ranked-entry.ts';
import { RANKED_COLUMNS, rankedRows, scoreColumns } from './score-table.ts';
import { addPreviews, scoreExamples, type ScoredExamples, type ScoringContext } from './score-examples.ts';
import { openAuditModel } from './audit-model.ts';

export interface AuditProgress {
  phase: 'setup' | 'anchors' | 'corpus' | 'writing';
  /** Corpus records done so far: featurized (updated after every model batch) or rejected. */
  records: number;
  scored: number;
  errors: number;
  /** Expected records, when the inputs tell (JSONL line counts, Parquet metadata). */
  total: number | null;
}

export interface AuditHooks {
  onProgress?(progress: AuditProgress): void;
  /**
   * Stops the audit between model batches (its reason is thrown, e.g. an InterruptedError). Partial
   * outputs are removed; what the feature cache computed is kept.
   */
  signal?: AbortSignal;
}

/** Examples tokenized and featurized together: large enough to batch by length, small enough to stay bounded. */
const WINDOW_EXAMPLES = 256;
/**
 * Windows scored at once. With a feature cache, the next window's hits are read and scored while
 * this one's misses wait for the feature model; results are still taken in input order. Two,
 * because a window holds its computed gradients until all of its misses are done.
 */
const WINDOWS_IN_FLIGHT = 2;

/** A whole audit in one process: read → render & tokenize → featurize → score → top-k → write. */
export async function runAudit(options: AuditOptions, hooks: AuditHooks = {}): Promise<AuditSummary> {
  const started = performance.now();
  const timings = { setupMs: 0, anchorsMs: 0, corpusMs: 0, writeMs: 0 };
  const progress: AuditProgress = { phase: 'setup', records: 0, scored: 0, errors: 0, total: null };
  const report = () => hooks.onProgress?.({ ...progress });
  const { signal } = hooks;

  // Everything that can be checked without the model fails now, before minutes of loading.
  await checkInputFiles(options.data, '--data');
  await checkInputFiles([...options.harmful, ...options.safe], options.safe.length > 0 ? '--harmful/--safe' : '--harmful');
  await prepareOutputFolder(options.out);
  signal?.throwIfAborted();
  report();

  const opened = await openAuditModel(options.model, options);
  let s3Client: S3Client | undefined;
  let cache: AuditCache | null = null;
  let scores: ParquetTableWriter | null = null;
  const logs: ErrorsLog[] = [];
  try {
    const resolved: ResolvedAuditOptions = { ...options, projection: opened.projection };
    const { modelDir, synthetic, checkpoint, tokenizer, model, batch } = opened;
    const s3 = () => (s3Client ??= createS3Client());
    const errors = await openErrorsLog(join(options.out, 'errors.jsonl'));
    logs.push(errors);
    const anchorErrors = await openErrorsLog(join(options.out, 'anchor-errors.jsonl'));
    logs.push(anchorErrors);
    const inputs = new Map<string, InputCounts>(options.data.map((source) => [source, { source, records: 0, scored: 0, errors: 0, truncated: 0 }]));
    const reasons = new Map<string, Map<string, number>>(options.data.map((source) => [source, new Map()]));
    const recordError = (error: RecordError) => {
      errors.record(error);
      progress.errors++;
      progress.records++;
      const counts = inputs.get(error.source);
      if (counts) counts.errors++;
      countReason(reasons.get(error.source), error.reason);
    };

    if (options.cache !== undefined) cache = await AuditCache.open(options.cache, model.info, resolved, s3);
    timings.setupMs = performance.now() - started;
    progress.phase = 'anchors';
    report();
    const anchorStart = performance.now();
    const specs = nameAnchorSets(options.harmful, options.safe, options.weights);
    const anchors = await computeAnchorFeatures(specs, tokenizer, model, { ...options, batch, ...(cache ? { featureCache: cache.anchors } : {}) }, (e) => anchorErrors.record(e));
    const repScorer = new RepresentationScorer(anchors.representation, { topN: options.topN });
    const gradScorer = new GradientScorer(anchors.gradient);
    const dirScorer = new DirectionScorer(anchors.layerStates, opened.directionLayers, checkpoint.config.hiddenSize);
    const rankingColumn = rankingColumnFor(options.method, dirScorer);
    timings.anchorsMs = performance.now() - anchorStart;
    signal?.throwIfAborted();

    const corpusStart = performance.now();
    progress.phase = 'corpus';
    progress.total = await estimateTotal(options);
    report();
    scores = await openParquetWriter(join(options.out, 'scores.parquet'), scoreColumns(specs, dirScorer.columns()));
    const top = new TopK<RankedEntry>(options.k, 'top');
    const bottom = new TopK<RankedEntry>(options.bottomK, 'bottom');

    const onFeaturized = (done: number) => {
      progress.records += done;
      report();
    };
    const context: ScoringContext = {
      tokenizer, model, repScorer, gradScorer, specs, maxTokens: options.maxTokens, batch, dirScorer, rankingColumn, onFeaturized,
      ...(cache ? { cache: cache.corpus } : {}),
      ...(signal ? { signal } : {}),
    };
    const inFlight: Promise<ScoredExamples>[] = [];
    const takeOldest = async () => {
      const scored = await inFlight.shift()!;
      scored.errors.forEach(recordError);
      scored.entries.forEach((entry, i) => {
        // Previews only for the few entries a top-k or bottom-k keeps, not for every example.
        const kept = [top.push(entry), bottom.push(entry)].some(Boolean);
        cache?.observe(entry);
        const example = scored.examples[i]!;
        if (kept) addPreviews(entry, example);
        const counts = inputs.get(example.source)!;
        counts.scored++;
        if (scored.rows[i]!.truncated === true) counts.truncated!++;
      });
      await scores!.append(scored.rows);
      progress.scored += scored.rows.length;
      report();
    };
    const scoreWindow = async (window: Example[]) => {
      signal?.throwIfAborted();
      const scoring = scoreExamples(window, context);
      scoring.catch(() => undefined); // a failure surfaces when its turn comes in takeOldest
      inFlight.push(scoring);
      if (inFlight.length >= WINDOWS_IN_FLIGHT) await takeOldest();
    };

    for (const source of options.data) {
      let window: Example[] = [];
      try {
        for await (const item of readCorpus(source, { shape: options.recordShape, limit: options.limit, maxRecordBytes: options.maxRecordBytes })) {
          inputs.get(source)!.records++;
          if (item.kind === 'error') {
            recordError(item.error);
            continue;
          }
          window.push(item.example);
          if (window.length >= WINDOW_EXAMPLES) {
            await scoreWindow(window);
            window = [];
          }
        }
      } catch (error) {
        // A file that breaks off is reported like a bad record; what it gave so far and the other inputs go on.
        if (!(error instanceof InputError)) throw error;
        recordError({ source: error.source, row: error.row, reason: error.reason });
      }
      await scoreWindow(window);
    }
    while (inFlight.length > 0) await takeOldest();
    timings.corpusMs = performance.now() - corpusStart;

    progress.phase = 'writing';
    report();
    const writeStart = performance.now();
    await scores.close();
    scores = null;
    const outputs: Record<string, string> = { scores: 'scores.parquet', errors: 'errors.jsonl', anchor_errors: 'anchor-errors.jsonl', topk: 'topk.parquet', report: 'report.html', summary: 'summary.json' };
    const ranked = top.sorted();
    await writeRanked(join(options.out, 'topk.parquet'), ranked);
    if (options.bottomK > 0) {
      await writeRanked(join(options.out, 'bottomk.parquet'), bottom.sorted());
      outputs.bottomk = 'bottomk.parquet';
    }
    for (const log of logs.splice(0)) await log.close();
    const diff = await cache?.finish(ranked, { records: progress.records, scored: progress.scored, errors: progress.errors });
    timings.writeMs = performance.now() - writeStart;

    for (const [source, counts] of inputs) counts.top_reasons = topReasons(reasons.get(source)!);
    const inputList = [...inputs.values()];
    const summary = buildSummary({
      options: resolved,
      modelDir,
      synthetic,
      checkpoint,
      featureInfo: model.info,
      rankingColumn,
      directions: dirScorer.directions,
      specs,
      anchorCounts: anchors.counts,
      anchorSets: anchors.sets,
      inputs: inputList,
      errors: progress.errors,
      topCount: top.size,
      timings: { ...timings, totalMs: performance.now() - started },
      outputs,
      warnings: auditWarnings({ options, specs, anchors: anchors.sets, inputs: inputList, gradientDim: model.info.gradientDim, directions: dirScorer.directions }),
      ...(cache ? { cache: cache.summary(), diff: diff ?? null } : {}),
      execution: { plan: opened.plan, memory: opened.memory },
    });
    await writeAuditReport(options.out, summary, s3);
    await writeSummary(join(options.out, 'summary.json'), summary);
    return summary;
  } catch (error) {
    // Features computed so far still serve the next run; partial tables go, the rejection logs of
    // this run stay (there is no summary.json, so nothing looks finished).
    await cache?.corpus.flush().catch(() => undefined);
    await scores?.abort();
    for (const log of logs) await log.close().catch(() => undefined);
    throw error;
  } finally {
    s3Client?.destroy();
    await opened.close();
  }
}

/** Counts a rejection reason, keeping the map bounded for a file of junk. */
function countReason(counts: Map<string, number> | undefined, reason: string): void {
  if (counts === undefined || (!counts.has(reason) && counts.size >= 1000)) return;
  counts.set(reason, (counts.get(reason) ?? 0) + 1);
}

function topReasons(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]).slice(0, TOP_REASONS));
}

async function writeRanked(path: string, entries: RankedEntry[]): Promise<void> {
  const writer = await openParquetWriter(path, RANKED_COLUMNS);
  await writer.append(rankedRows(entries));
  await writer.close();
}

async function estimateTotal(options: AuditOptions): Promise<number | null> {
  let total = 0;
  for (const source of options.data) {
    const count = await estimateRecordCount(source).catch(() => null);
    if (count === null) return null;
    total += options.limit === undefined ? count : Math.min(count, options.limit);
  }
  return total;
}

/**
 * report.html beside the outputs, before summary.json (which says the run finished). The report
 * is a view of the other outputs: if it fails, the audit does not; the summary says how to retry.
 */
async function writeAuditReport(out: string, summary: AuditSummary, s3: () => S3Client): Promise<void> {
  try {
    // Imported when needed: vega takes a fifth of a second to load.
    const { writeReport } = await import('../report/write-report.ts');
    await writeReport(out, { summary, s3 });
  } catch (error) {
    delete summary.outputs.report;
    summary.warnings = [...summary.warnings, `report.html not written (${(error as Error).message}); \`safesift report ${out}\` writes it from these outputs`];
  }
}
