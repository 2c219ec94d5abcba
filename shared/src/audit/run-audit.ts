import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Example, RecordError } from '../corpus/example.ts';
import { readCorpus } from '../corpus/read-corpus.ts';
import { InputError, SafesiftError } from '../errors.ts';
import { OnnxFeatureModel } from '../features/onnx-feature-model.ts';
import { openCheckpoint } from '../model/checkpoint.ts';
import { ensureTinyModel } from '../model/synthetic-checkpoint.ts';
import { openErrorsLog } from '../output/errors-log.ts';
import { openParquetWriter, type ParquetTableWriter } from '../output/parquet-table-writer.ts';
import { toMessages } from '../prompt/chat-template.ts';
import { lastExchange } from '../prompt/last-exchange.ts';
import { PromptTokenizer } from '../prompt/prompt-tokenizer.ts';
import { nameAnchorSets } from '../scoring/anchor-sets.ts';
import { GradientScorer } from '../scoring/gradient-score.ts';
import { RepresentationScorer } from '../scoring/representation-score.ts';
import { TopK } from '../scoring/top-k.ts';
import { computeAnchorFeatures } from './anchor-features.ts';
import type { AuditOptions } from './audit-options.ts';
import { buildSummary, writeSummary, type AuditSummary, type InputCounts } from './audit-summary.ts';
import { featurizeInBatches } from './featurize-batches.ts';
import { estimateRecordCount } from './record-estimate.ts';
import { preview, RANKED_COLUMNS, rankedRows, scoreColumns, scoreRow, type RankedEntry } from './score-table.ts';

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

/** A whole audit in one process: read → render & tokenize → featurize → score → top-k → write. */
export async function runAudit(options: AuditOptions, hooks: AuditHooks = {}): Promise<AuditSummary> {
  const started = performance.now();
  const timings = { setupMs: 0, anchorsMs: 0, corpusMs: 0, writeMs: 0 };
  const progress: AuditProgress = { phase: 'setup', records: 0, scored: 0, errors: 0, total: null };
  const report = () => hooks.onProgress?.({ ...progress });
  report();

  const synthetic = options.model === 'tiny';
  const modelDir = synthetic ? await ensureTinyModel() : options.model;
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: options.format });
  const model = await OnnxFeatureModel.open(checkpoint, {
    probe: options.probes,
    projection: options.projection,
    sketch: options.sketch,
    // onnxruntime-node ships the CPU provider only, and the CPU keeps float32 (see summary.features.dtype).
    dtype: 'float32',
    ...(options.threads ? { threads: options.threads } : {}),
  });
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
    progress.phase = 'anchors';
    report();
    const anchorStart = performance.now();
    const specs = nameAnchorSets(options.harmful, options.safe, options.weights);
    const anchors = await computeAnchorFeatures(specs, tokenizer, model, options, recordError);
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

    const scoreWindow = async (window: Example[]) => {
      const encoded = await tokenizer.encodeMany(
        window.map((e) => e.content),
        { maxTokens: options.maxTokens },
      );
      const usable = window.flatMap((example, i) => {
        const value = encoded[i]!;
        if (value instanceof SafesiftError) {
          recordError({ source: example.source, row: example.row, reason: value.message });
          return [];
        }
        return [{ example, tokenized: value }];
      });
      const features = await featurizeInBatches(model, usable.map((u) => u.tokenized), options.batchSize);
      const rows = usable.map(({ example, tokenized }, i) => {
        const f = features[i]!;
        const scored = {
          example,
          tokens: tokenized.ids.length,
          truncated: tokenized.truncated,
          loss: f.loss,
          rep: repScorer.score(f.representation),
          grad: gradScorer.score(f.gradient),
        };
        const entry = rankedEntry(scored.example, scored.rep.score, scored.grad.score, options.method);
        // Previews only for the few entries a top-k or bottom-k keeps, not for every example.
        const kept = [top.push(entry), bottom.push(entry)].some(Boolean);
        if (kept) addPreviews(entry, scored.example);
        inputs.get(example.source)!.scored++;
        return scoreRow(scored, specs);
      });
      await scores!.append(rows);
      progress.scored += rows.length;
      report();
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
    timings.corpusMs = performance.now() - corpusStart;

    progress.phase = 'writing';
    report();
    const writeStart = performance.now();
    await scores.close();
    scores = null;
    const outputs: Record<string, string> = { scores: 'scores.parquet', errors: 'errors.jsonl', topk: 'topk.parquet', summary: 'summary.json' };
    await writeRanked(join(options.out, 'topk.parquet'), top.sorted());
    if (options.bottomK > 0) {
      await writeRanked(join(options.out, 'bottomk.parquet'), bottom.sorted());
      outputs.bottomk = 'bottomk.parquet';
    }
    await errors.close();
    timings.writeMs = performance.now() - writeStart;

    const summary = buildSummary({
      options,
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
    });
    await writeSummary(join(options.out, 'summary.json'), summary);
    return summary;
  } catch (error) {
    await scores?.abort();
    await errors.close();
    throw error;
  } finally {
    await model.close();
    await checkpoint.close();
  }
}

function rankedEntry(example: Example, repScore: number, gradScore: number, method: 'grad' | 'rep'): RankedEntry {
  return {
    score: method === 'grad' ? gradScore : repScore,
    id: example.id,
    source: example.source,
    row: example.row,
    repScore,
    gradScore,
    promptPreview: '',
    responsePreview: '',
  };
}

/** The record's own request and answer (not the template around them): what a reviewer reads. */
function addPreviews(entry: RankedEntry, example: Example): void {
  const { user, assistant } = lastExchange(toMessages(example.content));
  entry.promptPreview = preview(user);
  entry.responsePreview = preview(assistant);
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
