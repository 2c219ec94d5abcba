/**
 * One streaming pass over the score table (every part, row group by row group) into fixed-size
 * state for the report.
 *
 * Memory model: per row group the columns are decoded a few at a time (the ranking score with
 * rep_score and grad_score; then each rep_<set>/grad_<set> column alone; then the six tag
 * columns; for a group holding top-k candidates, their other columns one by one), so what is
 * alive is one row group of at most three numeric columns (the writers use 65,536-row groups:
 * a few MB) plus state that does not grow with the corpus: a FixedHistogram of `bins` bins and
 * running moments per plotted column (the ranking score, rep_/grad_ of each set), tag counters,
 * a reservoir of `scatterSample` (rep, grad) points, a reservoir of `tagSample` one-byte tag
 * masks for the random-k bootstrap, and the full row of each top-k entry (k rows). A 10M-row
 * audit and a 1,000-row one give state of the same size (bench/report-scale.ts: 1M rows write
 * the same page within a 64 MiB V8 heap). The histogram ranges come from the Parquet column
 * statistics when every row group has them; otherwise a first pass reads the plotted columns for
 * their min and max (same bounded memory).
 */
import { parquetRead, type DecodedArray } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { FORMAT_TAGS } from '../corpus/format-tags.ts';
import { InputError, isTransientIoError } from '../errors.ts';
import { numberOrNaN, type OpenTable, type TopEntry } from './report-inputs.ts';
import { FixedHistogram, Reservoir, RunningMoments } from './sampling.ts';

export interface ScorePassOptions {
  /** The ranking column (summary.json ranking.column). */
  scoreColumn: string;
  /** Anchor set names: their rep_<set>/grad_<set> columns are summarised when present. */
  sets: readonly string[];
  /** The top-k, to find their rows in the table. */
  top: readonly TopEntry[];
  bins?: number;
  scatterSample?: number;
  tagSample?: number;
  seed?: number;
  /** Take the histogram ranges from the files' column statistics when they have them (default true). */
  useStatistics?: boolean;
}

/** Everything the score table holds about one top-k entry. */
export interface TopRow {
  values: Map<string, unknown>;
}

export interface ColumnSummary {
  column: string;
  histogram: FixedHistogram;
  moments: RunningMoments;
}

export interface ScorePassResult {
  rows: number;
  /** The ranking score's histogram (null: no finite score at all). */
  score: ColumnSummary | null;
  /** Per set and component (rep, grad), when the column is there. */
  components: { set: string; component: 'rep' | 'grad'; summary: ColumnSummary }[];
  /** Rows with each tag, over the whole table; null for a table without tag columns. */
  tagCounts: Map<string, number> | null;
  /** (rep_score, grad_score) of a uniform sample of rows. */
  scatter: { rep: number; grad: number }[];
  /** Tag bitmasks (bit i = FORMAT_TAGS[i]) of a uniform sample of rows, for the random-k bootstrap. */
  tagMasks: Uint8Array;
  /** The table row of each top-k entry found, by `${source}\0${row}`. */
  topRows: Map<string, TopRow>;
  /** Columns present in the table. */
  columns: Set<string>;
}

export const topRowKey = (source: string, row: number) => `${source}\0${row}`;

/** Columns read for top-k candidates only. */
function detailColumns(columns: Set<string>, sets: readonly string[]): string[] {
  const wanted = ['id', 'source', 'row', 'tokens', 'response_tokens', 'truncated', 'loss'];
  for (const s of sets) wanted.push(`near_rep_${s}`, `near_rep_${s}_cos`, `near_grad_${s}`, `near_grad_${s}_dot`);
  return wanted.filter((c) => columns.has(c));
}

export async function scorePass(tables: readonly OpenTable[], options: ScorePassOptions): Promise<ScorePassResult> {
  const bins = options.bins ?? 50;
  const seed = options.seed ?? 1;
  const columns = new Set<string>();
  for (const t of tables) for (const c of t.columns) columns.add(c);
  const everywhere = (c: string) => tables.length > 0 && tables.every((t) => t.columns.has(c));
  const plotted = [options.scoreColumn, ...options.sets.flatMap((s) => [`rep_${s}`, `grad_${s}`])].filter(everywhere);
  const tags = FORMAT_TAGS.filter((t) => everywhere(`tag_${t}`));
  const pairs = everywhere('rep_score') && everywhere('grad_score');

  const ranges = (options.useStatistics === false ? null : statisticsRanges(tables, plotted)) ?? (await scanRanges(tables, plotted));
  const summaries = new Map<string, ColumnSummary>();
  for (const column of plotted) {
    const range = ranges.get(column);
    if (range !== undefined) summaries.set(column, { column, histogram: new FixedHistogram(range.min, range.max, bins), moments: new RunningMoments() });
  }
  const scatter = new Reservoir<{ rep: number; grad: number }>(options.scatterSample ?? 1000, seed);
  const tagReservoir = new Reservoir<number>(options.tagSample ?? 65_536, seed + 1);
  const tagCounts = tags.length > 0 ? new Map(tags.map((t) => [t, 0])) : null;
  // Candidates: a row can be in the top-k only if its score is at least the k-th score.
  const wanted = new Set(options.top.map((e) => topRowKey(e.source, e.row)));
  const cutoff = options.top.reduce((m, e) => (Number.isFinite(e.score) ? Math.min(m, e.score) : m), Infinity);
  const topRows = new Map<string, TopRow>();
  let rows = 0;

  // Per row group, the columns are read in small sets one after the other (the ranking score with
  // rep_score/grad_score, then each per-set column, then the tags), so at most a few decoded
  // columns of one row group are alive at a time.
  const core = [...new Set([...(everywhere(options.scoreColumn) ? [options.scoreColumn] : []), ...(pairs ? ['rep_score', 'grad_score'] : [])])];
  const others = plotted.filter((c) => !core.includes(c));
  const tagColumns = tags.map((t) => `tag_${t}`);
  for (const table of tables) {
    const details = detailColumns(table.columns, options.sets);
    for (const group of rowGroups(table)) {
      const n = group.end - group.start;
      rows += n;
      // Rows that may be top-k entries (score at least the k-th score), and their values so far.
      const candidates = new Map<number, Map<string, unknown>>();
      const keep = (data: Map<string, ArrayLike<unknown>>) => {
        for (const [i, values] of candidates) for (const [column, columnValues] of data) values.set(column, columnValues[i]);
      };
      {
        const data = await readColumns(table, core, group.start, group.end);
        const score = data.get(options.scoreColumn);
        const summary = summaries.get(options.scoreColumn);
        const rep = data.get('rep_score');
        const grad = data.get('grad_score');
        for (let i = 0; i < n; i++) {
          const v = numberOrNaN(score?.[i]);
          summary?.histogram.add(v);
          summary?.moments.add(v);
          if (rep !== undefined && grad !== undefined) {
            const r = numberOrNaN(rep[i]);
            const g = numberOrNaN(grad[i]);
            if (Number.isFinite(r) && Number.isFinite(g)) scatter.offer({ rep: r, grad: g });
          }
          if (wanted.size > 0 && v >= cutoff) candidates.set(i, new Map());
        }
        keep(data);
      }
      for (const column of others) {
        const data = await readColumns(table, [column], group.start, group.end);
        const values = data.get(column);
        const summary = summaries.get(column);
        if (values === undefined || summary === undefined) continue;
        for (let i = 0; i < n; i++) {
          const v = numberOrNaN(values[i]);
          summary.histogram.add(v);
          summary.moments.add(v);
        }
        keep(data);
      }
      if (tagColumns.length > 0) {
        const data = await readColumns(table, tagColumns, group.start, group.end);
        const flags = tags.map((t) => ({ tag: t, bit: 1 << FORMAT_TAGS.indexOf(t), values: data.get(`tag_${t}`) }));
        const totals = new Float64Array(flags.length);
        for (let i = 0; i < n; i++) {
          let mask = 0;
          for (let f = 0; f < flags.length; f++) {
            if (flags[f]!.values?.[i] === true) {
              mask |= flags[f]!.bit;
              totals[f]! += 1;
            }
          }
          tagReservoir.offer(mask);
        }
        flags.forEach(({ tag }, f) => tagCounts!.set(tag, tagCounts!.get(tag)! + totals[f]!));
        keep(data);
      }
      if (candidates.size === 0) continue;
      // The candidates' other columns, one column at a time (a group holds few candidates).
      for (const column of details) keep(await readColumns(table, [column], group.start, group.end));
      for (const values of candidates.values()) {
        const key = topRowKey(String(values.get('source')), numberOrNaN(values.get('row')));
        if (wanted.has(key) && !topRows.has(key)) topRows.set(key, { values });
      }
    }
  }
  const score = summaries.get(options.scoreColumn) ?? null;
  const components = options.sets.flatMap((set) =>
    (['rep', 'grad'] as const).flatMap((component) => {
      const summary = summaries.get(`${component}_${set}`);
      return summary === undefined ? [] : [{ set, component, summary }];
    }),
  );
  return { rows, score, components, tagCounts, scatter: scatter.items, tagMasks: Uint8Array.from(tagReservoir.items), topRows, columns };
}

function rowGroups(table: OpenTable): { start: number; end: number }[] {
  const groups: { start: number; end: number }[] = [];
  let start = 0;
  for (const g of table.metadata.row_groups) {
    const end = start + Number(g.num_rows);
    if (end > start) groups.push({ start, end });
    start = end;
  }
  return groups;
}

/** Rows [start, end) of `columns`, column by column (one array per column, index 0 = row start). */
export async function readColumns(table: OpenTable, columns: readonly string[], start: number, end: number): Promise<Map<string, ArrayLike<unknown>>> {
  const chunks = new Map<string, { rowStart: number; data: DecodedArray }[]>();
  if (columns.length === 0) return new Map();
  for (const c of columns) chunks.set(c, []);
  try {
    await parquetRead({
      file: table.file,
      metadata: table.metadata,
      columns: [...columns],
      rowStart: start,
      rowEnd: end,
      compressors,
      onChunk: ({ columnName, columnData, rowStart }: { columnName: string; columnData: DecodedArray; rowStart: number }) => {
        chunks.get(columnName)?.push({ rowStart, data: columnData });
      },
    });
  } catch (err) {
    if (isTransientIoError(err)) throw err;
    throw new InputError(table.name, -1, `cannot decode rows ${start}-${end - 1}: ${(err as Error).message}`, { cause: err });
  }
  const out = new Map<string, ArrayLike<unknown>>();
  for (const [column, parts] of chunks) {
    const only = parts.length === 1 ? parts[0]! : undefined;
    if (only !== undefined && only.rowStart === start && only.data.length >= end - start) {
      out.set(column, only.data); // the usual case: one chunk for the whole row group, used as decoded
      continue;
    }
    // Chunks may be pages, or cover rows outside [start, end): copy the overlap into place.
    const values = new Array<unknown>(end - start);
    for (const { rowStart, data } of parts) {
      const from = Math.max(start, rowStart);
      const to = Math.min(end, rowStart + data.length);
      for (let r = from; r < to; r++) values[r - start] = data[r - rowStart];
    }
    out.set(column, values);
  }
  return out;
}

/** Column ranges from the row groups' statistics, or null when any group lacks them. */
function statisticsRanges(tables: readonly OpenTable[], columns: readonly string[]): Map<string, { min: number; max: number }> | null {
  const ranges = new Map<string, { min: number; max: number }>();
  for (const table of tables) {
    for (const group of table.metadata.row_groups) {
      if (Number(group.num_rows) === 0) continue;
      for (const column of columns) {
        const chunk = group.columns.find((c) => c.meta_data?.path_in_schema.join('.') === column);
        const stats = chunk?.meta_data?.statistics;
        const nulls = Number(stats?.null_count ?? 0);
        if (nulls === Number(group.num_rows)) continue; // every value null: nothing to range
        const min = numberOrNaN(stats?.min_value ?? stats?.min);
        const max = numberOrNaN(stats?.max_value ?? stats?.max);
        if (!(Number.isFinite(min) && Number.isFinite(max))) return null;
        const r = ranges.get(column);
        ranges.set(column, r === undefined ? { min, max } : { min: Math.min(r.min, min), max: Math.max(r.max, max) });
      }
    }
  }
  return ranges;
}

/** Column ranges by reading the columns once (for files written without statistics). */
async function scanRanges(tables: readonly OpenTable[], columns: readonly string[]): Promise<Map<string, { min: number; max: number }>> {
  const ranges = new Map<string, { min: number; max: number }>();
  for (const table of tables) {
    for (const group of rowGroups(table)) {
      const data = await readColumns(table, columns, group.start, group.end);
      for (const [column, values] of data) {
        let { min, max } = ranges.get(column) ?? { min: Infinity, max: -Infinity };
        for (let i = 0; i < values.length; i++) {
          const v = numberOrNaN(values[i]);
          if (Number.isFinite(v)) {
            if (v < min) min = v;
            if (v > max) max = v;
          }
        }
        if (min <= max) ranges.set(column, { min, max });
      }
    }
  }
  return ranges;
}
