/**
 * The report's charts as Vega-Lite specs, built from the score pass's fixed-size summaries (so a
 * spec, and its SVG, is the same size for any corpus). Data goes in as inline values of numbers
 * and our own labels (set names, tag names, run labels): never corpus text.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { FixedHistogram, ShareInterval } from './sampling.ts';

export const COLORS = { top: '#c0392b', corpus: '#8c8c8c', random: '#2c6fbb', entered: '#2e8b57', left: '#c0392b' } as const;

const CONFIG = {
  // No ARIA labels per mark: a label per bar and point would be most of the page's bytes, and
  // the numbers behind every chart are in the page as text (tables, captions).
  aria: false,
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 11, orient: 'top' as const, labelLimit: 400 },
  header: { labelFontSize: 12, titleFontSize: 12 },
};

const base = (width: number, height: number) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  width,
  height,
  background: 'white',
  padding: 6,
  config: CONFIG,
});

/** The non-empty bins as rows (the x scale's domain keeps the whole range). */
export function histogramRows(h: FixedHistogram): { start: number; end: number; count: number }[] {
  return Array.from(h.counts, (count, i) => {
    const [start, end] = h.edges(i);
    return { start, end, count };
  }).filter((r) => r.count > 0);
}

const domainOf = (h: FixedHistogram) => [h.min, h.min + h.bins * h.width];

/**
 * (1) The ranking score's distribution over every scored example, the top-k cut-off (the k-th
 * score) as a rule and the top-k side shaded. Counts on a symlog axis once the corpus is large,
 * so the top-k tail stays visible next to the bulk.
 */
export function scoreHistogramSpec(h: FixedHistogram, o: { column: string; cutoff: number | null; k: number; rows: number }): TopLevelSpec {
  const rows = histogramRows(h);
  const symlog = o.rows > 2000;
  const layers: unknown[] = [
    {
      mark: { type: 'bar', color: COLORS.corpus, binSpacing: 0 },
      encoding: {
        x: { field: 'start', type: 'quantitative', title: `${o.column} (ranking score)`, scale: { domain: domainOf(h), zero: false, nice: false } },
        x2: { field: 'end' },
        y: { field: 'count', type: 'quantitative', title: symlog ? 'examples (symlog scale)' : 'examples', scale: symlog ? { type: 'symlog' } : {} },
        y2: { datum: 0 },
      },
    },
  ];
  if (o.cutoff !== null && Number.isFinite(o.cutoff)) {
    layers.push(
      { data: { values: [{ from: o.cutoff, to: h.max }] }, mark: { type: 'rect', color: COLORS.top, opacity: 0.08 }, encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } } },
      { data: { values: [{ cutoff: o.cutoff }] }, mark: { type: 'rule', color: COLORS.top, strokeWidth: 2, strokeDash: [5, 3] }, encoding: { x: { field: 'cutoff', type: 'quantitative' } } },
      {
        data: { values: [{ cutoff: o.cutoff, label: `top-${o.k} cut-off ${formatNumber(o.cutoff)}` }] },
        // The label sits on the side of the rule with more room.
        mark: { type: 'text', color: COLORS.top, align: o.cutoff > (h.min + h.max) / 2 ? 'right' : 'left', dx: o.cutoff > (h.min + h.max) / 2 ? -5 : 5, dy: 4, baseline: 'top', fontSize: 11, fontWeight: 'bold' },
        encoding: { x: { field: 'cutoff', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
      },
    );
  }
  return { ...base(720, 220), data: { values: rows }, layer: layers } as TopLevelSpec;
}

export interface ComponentHistogram {
  set: string;
  component: 'rep' | 'grad';
  all: FixedHistogram;
  top: FixedHistogram;
}

/**
 * (2) Per anchor set, the distribution of its two components (rep_<set>: cosine to the set;
 * grad_<set>: gradient dot with the set's target) over the whole corpus and over the top-k, as
 * shares of each group, one panel per set and component (each with its own x range).
 */
export function componentSpec(panels: readonly ComponentHistogram[]): TopLevelSpec {
  const values = panels.flatMap((p) => {
    const label = p.component === 'rep' ? 'representation (rep_<set>)' : 'gradient (grad_<set>)';
    const rows = (h: FixedHistogram, group: string) => {
      const total = h.total || 1;
      return histogramRows(h).map((r) => ({ set: p.set, component: label, group, start: r.start, end: r.end, share: r.count / total }));
    };
    // Each panel's range, as an invisible rule, so empty bins at the edges keep the axis wide.
    const range = { set: p.set, component: label, group: 'range', start: domainOf(p.all)[0], end: domainOf(p.all)[1], share: 0 };
    return [...rows(p.all, 'all scored'), ...rows(p.top, 'top-k'), range];
  });
  return {
    $schema: base(0, 0).$schema,
    background: 'white',
    padding: 6,
    config: CONFIG,
    data: { values },
    facet: {
      row: { field: 'set', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' } },
      column: { field: 'component', type: 'nominal', title: null, sort: ['representation (rep_<set>)', 'gradient (grad_<set>)'] },
    },
    spec: {
      width: 300,
      height: 80,
      mark: { type: 'bar', binSpacing: 0, opacity: 0.6 },
      encoding: {
        x: { field: 'start', type: 'quantitative', title: null, scale: { zero: false, nice: false } },
        x2: { field: 'end' },
        y: { field: 'share', type: 'quantitative', title: 'share', axis: { format: '.0%', tickCount: 3 } },
        y2: { datum: 0 },
        color: { field: 'group', type: 'nominal', title: null, scale: { domain: ['all scored', 'top-k'], range: [COLORS.corpus, COLORS.top] } },
      },
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
  } as TopLevelSpec;
}

/** (3) rep_score against grad_score for a uniform sample of the corpus, the top-k on top. */
export function scatterSpec(sample: readonly { rep: number; grad: number }[], top: readonly { rep: number; grad: number }[]): TopLevelSpec {
  const groups = [`sample of the corpus (${sample.length})`, `top-k (${top.length})`];
  const x = { field: 'rep', type: 'quantitative', title: 'representation score (rep_score)', scale: { zero: false } };
  const y = { field: 'grad', type: 'quantitative', title: 'gradient score (grad_score)', scale: { zero: false } };
  const color = { field: 'group', type: 'nominal', title: null, scale: { domain: groups, range: [COLORS.corpus, COLORS.top] } };
  return {
    ...base(520, 360),
    // Two layers, so the top-k is drawn over the sample.
    layer: [
      { data: { values: sample.map((p) => ({ ...p, group: groups[0] })) }, mark: { type: 'circle', size: 16, opacity: 0.35 }, encoding: { x, y, color } },
      { data: { values: top.map((p) => ({ ...p, group: groups[1] })) }, mark: { type: 'circle', size: 30, opacity: 0.9 }, encoding: { x, y, color } },
    ],
  } as TopLevelSpec;
}

export interface TagShares {
  tag: string;
  top: number;
  corpus: number;
  random: ShareInterval;
}

/**
 * (4) Share of each format tag in the top-k (dot), the whole corpus (bar) and k random examples
 * (95% bootstrap interval, line): a top-k dot outside the interval is a pattern the ranking picks.
 */
export function tagSharesSpec(rows: readonly TagShares[], k: number): TopLevelSpec {
  const series = [`top-${k}`, 'whole corpus', `${k} random examples (95% interval)`];
  const values = rows.map((r) => ({ tag: r.tag, top: r.top, corpus: r.corpus, low: r.random.low, high: r.random.high, mean: r.random.mean }));
  const y = { field: 'tag', type: 'nominal', title: null, sort: null };
  return {
    ...base(520, Math.max(120, rows.length * 30)),
    data: { values },
    layer: [
      { mark: { type: 'bar', color: COLORS.corpus, opacity: 0.45, height: { band: 0.7 } }, encoding: { y, x: { field: 'corpus', type: 'quantitative', title: 'share of examples with the tag', axis: { format: '.0%' }, scale: { domain: [0, 1] } } } },
      { mark: { type: 'rule', color: COLORS.random, strokeWidth: 3 }, encoding: { y, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
      { mark: { type: 'tick', color: COLORS.random, thickness: 2, size: 14 }, encoding: { y, x: { field: 'low', type: 'quantitative' } } },
      { mark: { type: 'tick', color: COLORS.random, thickness: 2, size: 14 }, encoding: { y, x: { field: 'high', type: 'quantitative' } } },
      { mark: { type: 'point', filled: true, size: 90, color: COLORS.top }, encoding: { y, x: { field: 'top', type: 'quantitative' } } },
      {
        // The legend: one invisible mark per series with the series' colour.
        data: { values: series.map((s) => ({ s })) },
        mark: { type: 'square', opacity: 0 },
        encoding: { color: { field: 's', type: 'nominal', title: null, scale: { domain: series, range: [COLORS.top, COLORS.corpus, COLORS.random] }, legend: { symbolOpacity: 1 } } },
      },
    ],
  } as TopLevelSpec;
}

export interface HistoryRun {
  label: string;
  cutoff: number | null;
  entered: number | null;
  left: number | null;
}

/** (5) Per run of the run name: the top-k cut-off, and how many examples entered and left the top-k. */
export function historySpec(runs: readonly HistoryRun[]): TopLevelSpec {
  const order = runs.map((r) => r.label);
  const moves = runs.flatMap((r) => [
    ...(r.entered === null ? [] : [{ run: r.label, kind: 'entered the top-k', n: r.entered }]),
    ...(r.left === null ? [] : [{ run: r.label, kind: 'left the top-k', n: r.left }]),
  ]);
  const cutoffs = runs.flatMap((r) => (r.cutoff === null ? [] : [{ run: r.label, cutoff: r.cutoff }]));
  const x = { field: 'run', type: 'nominal', title: null, sort: order, axis: { labelAngle: 0 } };
  return {
    $schema: base(0, 0).$schema,
    background: 'white',
    padding: 6,
    config: CONFIG,
    hconcat: [
      { width: 260, height: 160, data: { values: cutoffs }, mark: { type: 'line', point: { color: COLORS.top, size: 50 }, color: COLORS.top }, encoding: { x, y: { field: 'cutoff', type: 'quantitative', title: 'top-k cut-off', scale: { zero: false } } } },
      {
        width: 260,
        height: 160,
        data: { values: moves },
        mark: { type: 'bar', width: { band: 0.3 } },
        encoding: {
          x,
          xOffset: { field: 'kind' },
          y: { field: 'n', type: 'quantitative', title: 'examples' },
          color: { field: 'kind', type: 'nominal', title: null, scale: { domain: ['entered the top-k', 'left the top-k'], range: [COLORS.entered, COLORS.left] } },
        },
      },
    ],
  } as TopLevelSpec;
}

/** A number for labels: 4 significant digits, no exponent for ordinary magnitudes. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return x.toExponential(3);
  return Number(x.toPrecision(4)).toString();
}
