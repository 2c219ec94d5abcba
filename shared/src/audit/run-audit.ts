import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Example, RecordError } from '../corpus/example.ts';
import { readCorpus } from '../corpus/read-corpus.ts';
import { InputError } from '../errors.ts';
import { AuditCache } from '../feature-cache/audit-cache.ts';
import { createS3Client } from '../storage/s3-client.ts';
import { openErrorsLog } from '../output/errors-log.ts';
import { openParquetWriter, type ParquetTableWriter } from '../output/parquet-table-writer.ts';
import { nameAnchorSets } from '../scoring/anchor-sets.ts';
import { GradientScorer } from '../scoring/gradient-score.ts';
import { RepresentationScorer } from '../scoring/representation-score.ts';
import { TopK } from '../scoring/top-k.ts';
import { computeAnchorFeatures } from './anchor-features.ts';
import type { AuditOptions, ResolvedAuditOptions } from './audit-options.ts';
import { buildSummary, writeSummary, type AuditSummary, type InputCounts } from './audit-summary.ts';
import { estimateRecordCount } from './record-estimate.ts';
import type { RankedEntry } from '../scoring/ranked-entry.ts';
import { RANKED_COLUMNS, rankedRows, scoreColumns } from './score-table.ts';
import { addPreviews, scoreExamples, type ScoredExamples, type ScoringContext } from './score-examples.ts';
import { openAuditModel } from './audit-model.ts';

export interface AuditProgress {
  phase: 'setup' | 'anchors' | 'corpus' | 'writing';
  /** Records read so far (scored + rejected). */
  records: number;
  scored: number;
  errors: number;
  /** Expected records, when the inputs tell (JSONL line counts, Parquet metadata). */
  total: number | null;
}

export interface AuditHooks {
  onProgress?(progress: AuditProgress): void;
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
  report();

  const opened = await openAuditModel(options.model, options);
  const resolved: ResolvedAuditOptions = { ...options, projection: opened.projection };
  const { modelDir, synthetic, checkpoint, tokenizer, model, batch } = opened;
  let s3Client: S3Client | undefined;
  const s3 = () => (s3Client ??= createS3Client());
  let cache: AuditCache | null = null;
  await mkdir(options.out, { recursive: true });
  const errors = await openErrorsLog(join(options.out, 'errors.jsonl'));
  const inputs = new Map<string, InputCounts>(options.data.map((source) => [source, { source, records: 0, scored: 0, errors: 0 }]));
  const recordError = (error: RecordError) => {
    errors.record(error);
    progress.errors++;
    const counts = inputs.get(error.source);
    if (counts) counts.errors++;
  };
  timings.setupMs = performance.now() - started;

  let scores: ParquetTableWriter | null = null;
  try {
    if (options.cache !== undefined) cache = await AuditCache.open(options.cache, model.info, resolved, s3);
    timings.setupMs = performance.now() - started;
    progress.phase = 'anchors';
    report();
    const anchorStart = performance.now();
    const specs = nameAnchorSets(options.harmful, options.safe, options.weights);
    const anchors = await computeAnchorFeatures(specs, tokenizer, model, { ...options, batch, ...(cache ? { featureCache: cache.anchors } : {}) }, recordError);
    const repScorer = new RepresentationScorer(anchors.representation, { topN: options.topN });
    const gradScorer = new GradientScorer(anchors.gradient);
    timings.anchorsMs = performance.now() - anchorStart;

    const corpusStart = performance.now();
    progress.phase = 'corpus';
    progress.total = await estimateTotal(options);
    report();
    scores = await openParquetWriter(join(options.out, 'scores.parquet'), scoreColumns(specs));
    const top = new TopK<RankedEntry>(options.k, 'top');
    const bottom = new TopK<RankedEntry>(options.bottomK, 'bottom');

    const context: ScoringContext = { tokenizer, model, repScorer, gradScorer, specs, maxTokens: options.maxTokens, batch, method: options.method, ...(cache ? { cache: cache.corpus } : {}) };
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
        inputs.get(example.source)!.scored++;
      });
      await scores!.append(scored.rows);
      progress.scored += scored.rows.length;
      report();
    };
    const scoreWindow = async (window: Example[]) => {
      const scoring = scoreExamples(window, context);
      scoring.catch(() => undefined); // a failure surfaces when its turn comes in takeOldest
      inFlight.push(scoring);
      if (inFlight.length >= WINDOWS_IN_FLIGHT) await takeOldest();
    };

    for (const source of options.data) {
      let window: Example[] = [];
      try {
        for await (const item of readCorpus(source, { shape: options.recordShape, limit: options.limit, maxRecordBytes: options.maxRecordBytes })) {
          progress.records++;
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
        // An unreadable file is reported like a bad record; the other inputs go on.
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
    const outputs: Record<string, string> = { scores: 'scores.parquet', errors: 'errors.jsonl', topk: 'topk.parquet', summary: 'summary.json' };
    const ranked = top.sorted();
    await writeRanked(join(options.out, 'topk.parquet'), ranked);
    if (options.bottomK > 0) {
      await writeRanked(join(options.out, 'bottomk.parquet'), bottom.sorted());
      outputs.bottomk = 'bottomk.parquet';
    }
    await errors.close();
    const diff = await cache?.finish(ranked, { records: progress.records, scored: progress.scored, errors: progress.errors });
    timings.writeMs = performance.now() - writeStart;

    const summary = buildSummary({
      options: resolved,
      modelDir,
      synthetic,
      checkpoint,
      featureInfo: model.info,
      specs,
      anchorCounts: anchors.counts,
      inputs: [...inputs.values()],
      errors: progress.errors,
      topCount: top.size,
      timings: { ...timings, totalMs: performance.now() - started },
      outputs,
      ...(cache ? { cache: cache.summary(), diff: diff ?? null } : {}),
      execution: { plan: opened.plan, memory: opened.memory },
    });
    await writeSummary(join(options.out, 'summary.json'), summary);
    return summary;
  } catch (error) {
    // Features computed so far still serve the next run.
    await cache?.corpus.flush().catch(() => undefined);
    await scores?.abort();
    await errors.close();
    throw error;
  } finally {
    s3Client?.destroy();
    await opened.close();
  }
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
