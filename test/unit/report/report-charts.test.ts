import assert from 'node:assert/strict';
import { test } from 'node:test';
import { componentSpec, formatNumber, historySpec, scatterSpec, scoreHistogramSpec, tagSharesSpec } from '../../../shared/src/report/report-charts.ts';
import { renderChart, roundGeometry } from '../../../shared/src/report/render-svg.ts';
import { FixedHistogram, SeededRandom } from '../../../shared/src/report/sampling.ts';

/**
 * Items of the marks of one vega kind (rect, rule, symbol, text) in a rendered SVG: each mark is a
 * `<g class="mark-KIND role-mark …">` holding one leaf element per item. A mark that draws nothing
 * (an empty data set) is not there at all.
 */
function marks(svg: string, kind: 'rect' | 'rule' | 'symbol' | 'text'): number {
  let n = 0;
  for (const m of svg.matchAll(new RegExp(`<g class="mark-${kind} role-mark[^"]*"[^>]*>(.*?)</g>`, 'g'))) n += m[1]!.match(/<(path|line|text)\b/g)?.length ?? 0;
  return n;
}

function histogram(min: number, max: number, bins: number, n: number, seed = 1): FixedHistogram {
  const h = new FixedHistogram(min, max, bins);
  const r = new SeededRandom(seed);
  for (let i = 0; i < n; i++) h.add(min + (max - min) * r.next());
  return h;
}

test('score histogram: one bar per bin, the cut-off rule and its label; symlog counts for large corpora', async () => {
  const h = histogram(-1, 1, 30, 500);
  const spec = scoreHistogramSpec(h, { column: 'grad_score', cutoff: 0.8, k: 20, rows: 500 });
  const { svg, warnings } = await renderChart(spec);
  assert.deepEqual(warnings, []);
  assert.equal(marks(svg.markup, 'rect'), 30 + 1); // a bar per (non-empty) bin, and the shaded top-k side
  assert.equal(marks(svg.markup, 'rule'), 1);
  assert.match(svg.markup, /top-20 cut-off 0\.8/);
  assert.doesNotMatch(svg.markup, /symlog/);
  const big = await renderChart(scoreHistogramSpec(h, { column: 'grad_score', cutoff: null, k: 20, rows: 1_000_000 }));
  assert.match(big.svg.markup, /symlog/);
  assert.equal(marks(big.svg.markup, 'rule'), 0);
  assert.equal(marks(big.svg.markup, 'rect'), 30);
  // Empty bins draw no bar but keep the axis: 3 values in 10 bins make 3 bars.
  const sparse = new FixedHistogram(0, 1, 10);
  for (const v of [0.05, 0.55, 0.95]) sparse.add(v);
  const drawn = await renderChart(scoreHistogramSpec(sparse, { column: 'x', cutoff: null, k: 1, rows: 3 }));
  assert.equal(marks(drawn.svg.markup, 'rect'), 3);
});

test('the spec holds the bins, not the rows: its size does not grow with the corpus', () => {
  const small = JSON.stringify(scoreHistogramSpec(histogram(0, 1, 50, 1_000), { column: 'rep_score', cutoff: 0.9, k: 10, rows: 1_000 }));
  const large = JSON.stringify(scoreHistogramSpec(histogram(0, 1, 50, 200_000), { column: 'rep_score', cutoff: 0.9, k: 10, rows: 200_000 }));
  assert.ok(Math.abs(large.length - small.length) < 0.1 * small.length, `${small.length} vs ${large.length}`);
});

test('components: a panel per set and component, bars of both groups', async () => {
  const panels = ['harmful1', 'safe1'].flatMap((set) => (['rep', 'grad'] as const).map((component) => ({ set, component, all: histogram(0, 1, 10, 200), top: histogram(0, 1, 10, 10, 2) })));
  const { svg, warnings } = await renderChart(componentSpec(panels));
  assert.deepEqual(warnings, []);
  // Each panel: the non-empty bins of both groups, plus the invisible bar spanning its range.
  const bars = panels.reduce((n, p) => n + [...p.all.counts, ...p.top.counts].filter((c) => c > 0).length + 1, 0);
  assert.equal(marks(svg.markup, 'rect'), bars);
  assert.match(svg.markup, /harmful1/);
  assert.match(svg.markup, /representation \(rep_&lt;set&gt;\)/);
});

test('scatter: a circle per sampled point and per top-k entry', async () => {
  const r = new SeededRandom(3);
  const sample = Array.from({ length: 120 }, () => ({ rep: r.next(), grad: r.next() }));
  const top = Array.from({ length: 7 }, () => ({ rep: 1 + r.next(), grad: 1 + r.next() }));
  const { svg, warnings } = await renderChart(scatterSpec(sample, top));
  assert.deepEqual(warnings, []);
  assert.equal(marks(svg.markup, 'symbol'), 127);
});

test('tag shares: a top-k point, a corpus bar and an interval per tag, with a legend of the three', async () => {
  const rows = ['numbered list', 'math', 'code'].map((tag, i) => ({ tag, top: 0.5, corpus: 0.1 * i, random: { mean: 0.1 * i, low: 0.05 * i, high: 0.15 * i } }));
  const { svg, warnings } = await renderChart(tagSharesSpec(rows, 100));
  assert.deepEqual(warnings, []);
  assert.equal(marks(svg.markup, 'rect'), 3 + 6); // corpus bars, and the intervals' end ticks
  assert.equal(marks(svg.markup, 'rule'), 3);
  assert.equal(marks(svg.markup, 'symbol'), 3 + 3); // top-k points, and the legend's hidden squares
  assert.match(svg.markup, /top-100/);
  assert.match(svg.markup, /100 random examples \(95% interval\)/);
});

test('history: cut-off per run and entered/left bars', async () => {
  const { svg, warnings } = await renderChart(historySpec([
    { label: 'run 1', cutoff: 0.5, entered: null, left: null },
    { label: 'run 2 (this run)', cutoff: 0.6, entered: 4, left: 3 },
  ]));
  assert.deepEqual(warnings, []);
  assert.equal(marks(svg.markup, 'rect'), 2);
  assert.match(svg.markup, /entered the top-k/);
});

test('formatNumber: 4 significant digits, exponents only for tiny or huge values', () => {
  assert.equal(formatNumber(0.123456), '0.1235');
  assert.equal(formatNumber(-12.5), '-12.5');
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(0.00012346), '1.235e-4');
  assert.equal(formatNumber(NaN), 'NaN');
});

test('roundGeometry shortens path data and transforms to 1/100 px and leaves text alone', () => {
  const svg = '<svg><path transform="translate(217.03324810989938,-236.0374056176299)" d="M2.123456,0A2,2,0,1,1,-2.5,0"/><text x="1">0.037531234</text></svg>';
  assert.equal(roundGeometry(svg), '<svg><path transform="translate(217.03,-236.04)" d="M2.12,0A2,2,0,1,1,-2.5,0"/><text x="1">0.037531234</text></svg>');
});
