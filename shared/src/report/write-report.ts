/**
 * `writeReport`: reads an audit's outputs (a local folder, or a store and prefix: a cluster job's
 * output prefix in S3) and writes `report.html` beside them, a static page with the run's
 * header, five charts and the top-k table.
 *
 * Memory and time: one streaming pass over the score table with fixed-size state (score-pass.ts
 * states the memory model), the top-k file (k rows), and at most k corpus records read back by
 * (source, row) for their full text (topk-texts.ts). The page's size depends on k and the number
 * of anchor sets, not on the corpus: the charts are drawn from fixed bins and fixed-size samples.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FORMAT_TAGS } from '../corpus/format-tags.ts';
import { OutputError } from '../errors.ts';
import { joinKey } from '../storage/location.ts';
import { objectUri } from '../storage/object-store.ts';
import { html, type SafeHtml } from './html-escape.ts';
import { componentSpec, formatNumber, historySpec, scatterSpec, scoreHistogramSpec, tagSharesSpec, type ComponentHistogram, type TagShares } from './report-charts.ts';
import { numberOrNaN, openAuditOutputFiles, openTable, readTopK, REPORT_FILE, type OutputsLocation } from './report-inputs.ts';
import { reportPage, type Figure } from './report-page.ts';
import { renderSvg } from './render-svg.ts';
import { runHistory } from './run-history.ts';
import { bootstrapShares, FixedHistogram } from './sampling.ts';
import { scorePass, topRowKey, type ScorePassResult } from './score-pass.ts';
import { readTopTexts, type TopTexts } from './topk-texts.ts';
import { topTable } from './topk-table.ts';

export interface WriteReportOptions {
  /** The audit's summary, for a writer that calls this before storing summary.json (it is read otherwise). */
  summary?: unknown;
  /** Write the page to this local file instead of `report.html` beside the outputs. */
  out?: string;
  /** S3 client for outputs, corpus files or a feature cache in S3 (without one, S3 corpus text falls back to previews). */
  s3?: () => S3Client;
  /** Read the top-k's full text back from the corpus files (default true; false: previews only). */
  corpusText?: boolean;
  /** Seed of the samples and the bootstrap (default 1): the same outputs give the same page. */
  seed?: number;
  /** Random k-subsets behind the format-tag intervals (default 200). */
  bootstrapDraws?: number;
  /** Clock for the "written" line (tests). */
  now?: Date;
}

export interface ReportResult {
  /** Size of the page in bytes. */
  bytes: number;
  /** Where it was written: a local path or an s3:// URI. */
  path: string;
  /** Score-table rows summarised. */
  rows: number;
}

export async function writeReport(outputs: OutputsLocation, options: WriteReportOptions = {}): Promise<ReportResult> {
  const seed = options.seed ?? 1;
  const files = await openAuditOutputFiles(outputs, options.summary);
  const { summary, store } = files;
  const top = await readTopK(store, files.topkKey);
  const tables = [];
  for (const key of files.scoreKeys) tables.push(await openTable(store, key));
  const sets = summary.anchor_sets.map((s) => s.name);
  const pass = await scorePass(tables, { scoreColumn: summary.ranking.column, sets, top: top ?? [], seed });
  const texts: TopTexts = top !== null && options.corpusText !== false
    ? await readTopTexts(top, { ...(options.s3 ? { s3: options.s3 } : {}), ...(summary.options?.recordShape ? { shape: summary.options.recordShape } : {}) })
    : { texts: new Map(), unavailable: new Map(top?.map((e) => [e.source, 'the report was written without corpus text']) ?? []) };
  const k = top?.length ?? 0;
  const figures = [
    await scoreFigure(pass, summary.ranking.column, top, k),
    await componentsFigure(pass, top),
    await scatterFigure(pass, top),
    await tagsFigure(pass, top, k, seed, options.bootstrapDraws ?? 200),
    await historyFigure(summary, top, options.s3),
  ];
  const found = top?.filter((e) => pass.topRows.has(topRowKey(e.source, e.row))).length ?? 0;
  const shown = top?.filter((e) => texts.texts.has(topRowKey(e.source, e.row))).length ?? 0;
  const topNote = top === null
    ? 'No topk.parquet beside the summary.'
    : `Ranked by ${summary.ranking.column}, best first. ${found} of ${k} entries found in the score table; full text of ${shown} read back from the corpus${texts.unavailable.size > 0 ? ` (elsewhere the previews: ${[...texts.unavailable].map(([s, why]) => `${s}: ${why}`).join('; ')})` : ''}.`;
  const page = reportPage({
    uri: files.uri,
    generatedAt: (options.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
    summary,
    figures,
    topTable: top === null ? null : topTable({ top, scoreColumn: summary.ranking.column, sets: summary.anchor_sets, rows: pass.topRows, texts }),
    topNote,
    k: summary.ranking.k,
    entries: k,
  });
  const bytes = Buffer.byteLength(page, 'utf8');
  if (options.out !== undefined) {
    const path = resolve(options.out);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, page);
    } catch (err) {
      throw new OutputError(`cannot write the report to ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    return { bytes, path, rows: pass.rows };
  }
  const key = joinKey(files.prefix, REPORT_FILE);
  await store.put(key, page);
  return { bytes, path: objectUri(store.description, key), rows: pass.rows };
}

async function scoreFigure(pass: ScorePassResult, column: string, top: readonly { score: number }[] | null, k: number): Promise<Figure> {
  const cutoff = top && top.length > 0 ? top[top.length - 1]!.score : null;
  const h = pass.score?.histogram;
  const outside = h ? h.below + h.above : 0;
  return {
    title: `Distribution of the ranking score (${column})`,
    svg: h ? await renderSvg(scoreHistogramSpec(h, { column, cutoff, k, rows: pass.rows })) : null,
    note: h ? (outside > 0 ? `${outside} values fell outside the range of the file statistics and are not drawn.` : undefined) : 'No finite ranking score in the score table.',
    caption: `${pass.rows.toLocaleString('en-US')} scored examples in ${h?.bins ?? 0} equal bins; the dashed line is the score of the ${k}th entry of the top-k${h && h.missing > 0 ? `; ${h.missing} examples without a finite score are not drawn` : ''}.`,
  };
}

async function componentsFigure(pass: ScorePassResult, top: readonly { source: string; row: number }[] | null): Promise<Figure> {
  const rows = (top ?? []).flatMap((e) => pass.topRows.get(topRowKey(e.source, e.row)) ?? []);
  const panels: ComponentHistogram[] = pass.components.map(({ set, component, summary }) => {
    const all = summary.histogram;
    const topHistogram = new FixedHistogram(all.min, all.max, all.bins);
    for (const r of rows) topHistogram.add(numberOrNaN(r.values.get(`${component}_${set}`)));
    return { set, component, all, top: topHistogram };
  });
  const mean = (set: string, component: string) => {
    const values = rows.map((r) => numberOrNaN(r.values.get(`${component}_${set}`))).filter(Number.isFinite);
    return values.length === 0 ? '–' : formatNumber(values.reduce((a, b) => a + b, 0) / values.length);
  };
  const setNames = [...new Set(pass.components.map((c) => c.set))];
  const allMean = (set: string, component: string) => {
    const c = pass.components.find((x) => x.set === set && x.component === component);
    return c && c.summary.moments.count > 0 ? `${formatNumber(c.summary.moments.mean)} ± ${formatNumber(c.summary.moments.sd)}` : '–';
  };
  const extra: SafeHtml = html`<table class="plain"><thead><tr><th>set</th><th class="n">rep: all (mean ± sd)</th><th class="n">rep: top-k mean</th><th class="n">grad: all (mean ± sd)</th><th class="n">grad: top-k mean</th></tr></thead><tbody>${setNames.map((s) => html`<tr><td>${s}</td><td class="n">${allMean(s, 'rep')}</td><td class="n">${mean(s, 'rep')}</td><td class="n">${allMean(s, 'grad')}</td><td class="n">${mean(s, 'grad')}</td></tr>`)}</tbody></table>`;
  return {
    title: 'Score components per anchor set: top-k against the whole corpus',
    svg: panels.length > 0 ? await renderSvg(componentSpec(panels)) : null,
    ...(panels.length > 0 ? {} : { note: 'The score table has no per-set columns (rep_<set>, grad_<set>).' }),
    extra,
    caption: 'For each anchor set, rep_<set> is the mean top-n cosine of the example\'s representation to the set\'s anchors, grad_<set> the dot of its normalised gradient with the set\'s mean anchor gradient (unweighted; the gradient score weighs harmful sets +1, safe sets −1 by default). Bars are shares of each group, on the range of the whole corpus.',
  };
}

async function scatterFigure(pass: ScorePassResult, top: readonly { repScore: number; gradScore: number }[] | null): Promise<Figure> {
  const topPoints = (top ?? []).filter((e) => Number.isFinite(e.repScore) && Number.isFinite(e.gradScore)).map((e) => ({ rep: e.repScore, grad: e.gradScore }));
  const any = pass.scatter.length > 0 || topPoints.length > 0;
  return {
    title: 'Representation score against gradient score',
    svg: any ? await renderSvg(scatterSpec(pass.scatter, topPoints)) : null,
    ...(any ? {} : { note: 'No example has both scores.' }),
    caption: `A uniform random sample (seeded reservoir) of ${pass.scatter.length.toLocaleString('en-US')} of the ${pass.rows.toLocaleString('en-US')} scored examples, and every top-k entry in red. Where the two methods agree, the top-k sits in the upper right.`,
  };
}

async function tagsFigure(pass: ScorePassResult, top: readonly { source: string; row: number }[] | null, k: number, seed: number, draws: number): Promise<Figure> {
  if (pass.tagCounts === null || pass.rows === 0) {
    return { title: 'Format tags', svg: null, note: 'The score table has no format-tag columns (tag_*): audits from before format tags were added.', caption: '' };
  }
  const rows = (top ?? []).flatMap((e) => pass.topRows.get(topRowKey(e.source, e.row)) ?? []);
  const tags = FORMAT_TAGS.filter((t) => pass.tagCounts!.has(t));
  const intervals = bootstrapShares(pass.tagMasks, FORMAT_TAGS.length, k, draws, seed + 2);
  const shares: TagShares[] = tags.map((t) => ({
    tag: t.replace('_', ' '),
    top: rows.length === 0 ? 0 : rows.filter((r) => r.values.get(`tag_${t}`) === true).length / rows.length,
    corpus: pass.tagCounts!.get(t)! / pass.rows,
    random: intervals[FORMAT_TAGS.indexOf(t)]!,
  }));
  const sampled = pass.tagMasks.length < pass.rows ? ` drawn from a uniform sample of ${pass.tagMasks.length.toLocaleString('en-US')} examples` : '';
  return {
    title: 'Format tags in the top-k, the corpus and random samples',
    svg: await renderSvg(tagSharesSpec(shares, k)),
    extra: html`<table class="plain"><thead><tr><th>tag</th><th class="n">top-${k}</th><th class="n">whole corpus</th><th class="n">${k} random (95%)</th></tr></thead><tbody>${shares.map((s) => html`<tr><td>${s.tag}</td><td class="n">${pct(s.top)}</td><td class="n">${pct(s.corpus)}</td><td class="n">${pct(s.random.low)} – ${pct(s.random.high)}</td></tr>`)}</tbody></table>`,
    caption: `Share of responses with each format tag (He et al. found lists and math over-represented among the examples that break safety). The interval is the 2.5th–97.5th percentile of the share over ${draws} random sets of ${k} examples${sampled} (seeded): a top-k share outside it is not what k random examples would show.`,
  };
}

async function historyFigure(summary: Parameters<typeof runHistory>[0], top: Parameters<typeof runHistory>[1], s3: (() => S3Client) | undefined): Promise<Figure> {
  const history = await runHistory(summary, top, s3);
  const plotted = history.runs.length >= 1 && history.runs.some((r) => r.cutoff !== null || r.entered !== null);
  const list = (items: { id: string; rank?: number; previous_rank?: number; score: number | null }[], what: string) =>
    items.length === 0 ? '' : html`<p class="muted">${what}: ${items.slice(0, 20).map((e, i) => html`${i > 0 ? ', ' : ''}<span class="mono">${e.id.slice(0, 12)}</span> (${e.rank !== undefined ? `rank ${e.rank}` : `was ${e.previous_rank}`})`)}${items.length > 20 ? ` and ${items.length - 20} more` : ''}</p>`;
  return {
    title: 'Run history',
    svg: plotted ? await renderSvg(historySpec(history.runs)) : null,
    note: history.note,
    extra: html`${history.runs.length > 0 ? html`<table class="plain"><thead><tr><th>run</th><th>finished</th><th class="n">top-k cut-off</th><th class="n">entered</th><th class="n">left</th></tr></thead><tbody>${history.runs.map((r) => html`<tr><td>${r.label}</td><td>${r.finishedAt ?? ''}</td><td class="n">${r.cutoff === null ? '–' : formatNumber(r.cutoff)}</td><td class="n">${r.entered ?? '–'}</td><td class="n">${r.left ?? '–'}</td></tr>`)}</tbody></table>` : ''}${history.diff ? html`${list(history.diff.entered, 'Entered')}${list(history.diff.left, 'Left')}` : ''}`,
    caption: 'With a feature cache and a run name, each run of the name is compared with the one before: the top-k cut-off per run, and how many examples entered and left the top-k.',
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
