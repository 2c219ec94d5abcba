/**
 * The report page: one self-contained HTML document. Inline CSS and inline SVG only, no script,
 * no external resource of any kind, and a Content-Security-Policy that forbids them anyway
 * (`default-src 'none'`), so the file reads the same from disk, from an S3 download or from a
 * mail attachment, and a browser opening it makes no request.
 */
import { html, type SafeHtml } from './html-escape.ts';
import { formatNumber } from './report-charts.ts';
import { anchorCount, type ReportSummary } from './report-inputs.ts';

export interface Figure {
  title: string;
  caption: SafeHtml | string;
  svg: SafeHtml | null;
  /** Shown instead of the chart when there is none (and under it when there is). */
  note?: SafeHtml | string;
  /** Markup under the chart (a table of the numbers behind it). */
  extra?: SafeHtml;
}

export interface PageParts {
  uri: string;
  generatedAt: string;
  summary: ReportSummary;
  figures: Figure[];
  topTable: SafeHtml | null;
  topNote: string;
  k: number;
  /** Entries in topk.parquet (k, or fewer for a small corpus). */
  entries: number;
}

const int = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
const ms = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n).toLocaleString('en-US')} ms`);

// A template with no interpolation: source text, trusted as it is (and never escaped into &quot;).
const CSS = html`
:root { --fg: #1d232a; --muted: #65707c; --line: #dde2e7; --bg: #f6f7f9; --top: #c0392b; --warn-bg: #fff4d6; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 6px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.sub { color: var(--muted); margin: 0 0 16px; word-break: break-all; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 10px 0; border: 1px solid; }
.banner.warn { background: var(--warn-bg); border-color: #f0d48a; color: var(--warn); font-weight: 600; }
.banner.fail { background: #fde8e6; border-color: #f2b8b2; color: #8e1f14; font-weight: 600; }
.banner ul { margin: 4px 0 0; padding-left: 20px; font-weight: normal; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 12px; }
.card { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; word-break: break-word; }
.mono, .where, .id, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.mono { font-size: 12px; word-break: break-all; }
table { border-collapse: collapse; background: white; }
table.plain { width: 100%; border: 1px solid var(--line); margin: 8px 0; }
table.plain th, table.plain td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
table.plain td.n, table.plain th.n { text-align: right; font-variant-numeric: tabular-nums; }
figure { background: white; border: 1px solid var(--line); border-radius: 8px; margin: 0 0 16px; padding: 12px 14px; }
figure h3 { text-transform: none; letter-spacing: 0; color: var(--fg); font-size: 15px; }
figcaption { color: var(--muted); margin-top: 6px; max-width: 900px; }
figure svg { max-width: 100%; height: auto; }
.note { color: var(--muted); font-style: italic; }
table.topk { width: 100%; border: 1px solid var(--line); table-layout: fixed; }
table.topk > thead th { position: sticky; top: 0; background: #eef1f4; text-align: left; padding: 6px 8px; font-size: 12px; border-bottom: 1px solid var(--line); }
table.topk > thead th:nth-child(1) { width: 52px; } table.topk > thead th:nth-child(2) { width: 124px; }
table.topk > thead th:nth-child(3) { width: 300px; } table.topk > thead th:nth-child(4) { width: 170px; }
tr.entry > td { padding: 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr.entry:nth-child(even) > td { background: #fbfcfd; }
td.rank { font-weight: 700; font-size: 16px; color: var(--top); }
.score { font-weight: 700; font-variant-numeric: tabular-nums; }
table.components { width: 100%; font-size: 12px; font-variant-numeric: tabular-nums; }
table.components th, table.components td { padding: 1px 4px; text-align: right; }
table.components th.set { text-align: left; font-weight: 600; }
table.components th.set.harmful { color: #8e1f14; } table.components th.set.safe { color: #1d5f2f; }
table.components thead th { color: var(--muted); font-weight: normal; }
.near { font-size: 12px; line-height: 1.35; margin-top: 4px; }
.near .k { display: block; }
details.nearall { font-size: 11px; color: var(--muted); }
details.nearall ul { margin: 2px 0 0; padding-left: 16px; }
details.nearall q, .near q { color: var(--fg); }
.tag { display: inline-block; background: #e8eef8; color: #23508e; border-radius: 10px; padding: 0 7px; margin: 0 2px 3px 0; font-size: 11px; }
.where { font-size: 12px; word-break: break-all; }
.id { font-size: 11px; }
.muted { color: var(--muted); }
.k { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .03em; margin-right: 4px; }
td.text p.preview { margin: 0 0 4px; overflow-wrap: anywhere; }
details { margin-top: 4px; }
summary { cursor: pointer; color: #23508e; }
.msg { margin: 6px 0; border-left: 3px solid var(--line); padding-left: 8px; }
.msg.user { border-color: #9bb4d6; } .msg.assistant { border-color: #e0a49d; } .msg.system { border-color: #c9c9c9; }
.role { font-size: 11px; color: var(--muted); text-transform: uppercase; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 2px 0; font-size: 12px; max-height: 480px; overflow: auto; }
footer { color: var(--muted); margin-top: 30px; font-size: 12px; }
`;

function definitions(items: [string, SafeHtml | string | number | null | undefined][]): SafeHtml {
  return html`<dl>${items.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

function header(p: PageParts): SafeHtml {
  const s = p.summary;
  const synthetic = s.model?.synthetic === true || s.demo === true;
  const warning = s.model?.warning ?? (s.demo ? 'demo audit: the scores carry no meaning' : 'random-weight model: its scores carry no meaning');
  const counts = s.counts;
  const reasons = new Map<string, number>();
  for (const input of s.inputs) for (const [reason, n] of Object.entries(input.top_reasons ?? {})) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
  const topReasons = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5);
  const arch = s.model?.architecture;
  const archText = arch ? `${String(arch.model_type ?? '')} · hidden ${String(arch.hidden_size ?? '?')} · ${String(arch.layers ?? '?')} layers · vocab ${String(arch.vocab_size ?? '?')}` : undefined;
  const f = s.features;
  const timings = Object.entries(s.timings_ms ?? {}).map(([k, v]) => html`${k} ${ms(v)}`);
  return html`<header>
<h1>safesift audit report</h1>
<p class="sub">${p.uri} · written ${p.generatedAt}${s.safesift ? ` · safesift ${s.safesift}` : ''}${s.job?.id ? ` · job ${s.job.id}` : ''}</p>
${synthetic ? html`<div class="banner warn">⚠ ${warning}. The ranking below shows how the report looks, not what is in the corpus.</div>` : ''}
${s.status !== undefined && s.status !== 'complete' ? html`<div class="banner fail">This audit did not complete (status ${s.status})${s.error ? `: ${s.error}` : ''}.</div>` : ''}
${s.warnings.length > 0 ? html`<div class="banner warn">Warnings<ul>${s.warnings.map((w) => html`<li>${w}</li>`)}</ul></div>` : ''}
</header>
<section class="cards">
<div class="card"><h3>Model</h3>${definitions([
    ['path', html`<span class="mono">${s.model?.path ?? '?'}</span>`],
    ['fingerprint', s.model?.fingerprint ? html`<span class="mono">${s.model.fingerprint}</span>` : undefined],
    ['architecture', archText],
  ])}</div>
<div class="card"><h3>Features</h3>${definitions([
    ['probe', f?.probe],
    ['', f?.probe_note ?? undefined],
    ['projection', f?.projection],
    ['projection seed', f?.projection_seed ?? undefined],
    ['sketch', f?.sketch === null || f?.sketch === undefined ? 'none' : JSON.stringify(f.sketch)],
    ['dtype', f?.dtype],
    ['dimensions', f?.gradient_dim !== undefined ? `gradient ${int(f.gradient_dim)} · representation ${int(f.representation_dim)}` : undefined],
  ])}</div>
<div class="card"><h3>Ranking</h3>${definitions([
    ['method', `${s.ranking.method ?? '?'} (${s.ranking.column})`],
    ['k', s.ranking.k],
    ['bottom-k', s.ranking.bottom_k],
    ['top-n', s.options?.topN],
    ['prompt format', s.options?.format],
    ['max tokens', s.options?.maxTokens],
    ['bi-directional', s.bidirectional === undefined ? undefined : s.bidirectional ? 'yes (harmful and safe anchor sets)' : 'no: no safe set, similarity to harmful anchors only'],
  ])}</div>
<div class="card"><h3>Counts</h3>${definitions([
    ['records read', int(counts?.records)],
    ['scored', int(counts?.scored)],
    ['rejected', int(counts?.errors)],
    ['truncated', counts?.truncated === undefined ? undefined : int(counts.truncated)],
    ['in the top-k', counts?.top_k === undefined ? undefined : int(counts.top_k)],
    ['dead-letter batches', counts?.dead_letter_batches === undefined ? undefined : int(counts.dead_letter_batches)],
  ])}${topReasons.length > 0 ? html`<table class="plain"><thead><tr><th>top rejection reasons</th><th class="n">records</th></tr></thead><tbody>${topReasons.map(([r, n]) => html`<tr><td>${r}</td><td class="n">${int(n)}</td></tr>`)}</tbody></table>` : ''}</div>
<div class="card"><h3>Time and memory</h3>${definitions([
    ['timings', timings.length > 0 ? html`${timings.map((t, i) => html`${i > 0 ? ' · ' : ''}${t}`)}` : undefined],
    ['throughput', s.throughput?.examples_per_s === null || s.throughput?.examples_per_s === undefined ? undefined : `${formatNumber(s.throughput.examples_per_s)} examples/s`],
    ['peak RSS', s.peak_rss_mib === undefined ? undefined : `${formatNumber(s.peak_rss_mib)} MiB`],
    ['execution', s.execution ? `${s.execution.device ?? '?'} · ${s.execution.sessions ?? '?'} session(s) × ${s.execution.threads_per_session ?? '?'} thread(s) · planned peak ${s.execution.estimated_peak ?? '?'}` : undefined],
    ['machine', s.machine ? `${s.machine.role ? `${s.machine.role} · ` : ''}${s.machine.cpus ?? '?'} CPUs (${s.machine.cpu_model ?? '?'}) · ${s.machine.memory_gib ?? '?'} GiB · Node ${s.machine.node ?? '?'}` : undefined],
  ])}</div>
${s.cache ? html`<div class="card"><h3>Feature cache</h3>${definitions([
    ['cache', html`<span class="mono">${s.cache.uri}</span>`],
    ['examples', `${int(s.cache.hits)} from the cache, ${int(s.cache.misses)} featurized`],
    ['anchors', `${int(s.cache.anchor_hits)} from the cache, ${int(s.cache.anchor_misses)} featurized`],
    ['gradient reads', int(s.cache.gradient_reads)],
    ['run name', s.job?.name ?? s.options?.name],
  ])}</div>` : ''}
</section>
<h2>Anchor sets and inputs</h2>
<table class="plain"><thead><tr><th>set</th><th>role</th><th class="n">weight</th><th class="n">anchors used</th><th class="n">records</th><th class="n">rejected</th><th>source</th></tr></thead><tbody>${s.anchor_sets.map((a) => html`<tr><td><b>${a.name}</b></td><td>${a.role ?? ''}</td><td class="n">${a.weight === undefined ? '' : formatNumber(a.weight)}</td><td class="n">${int(anchorCount(a))}</td><td class="n">${int(a.records)}</td><td class="n">${int(a.rejected)}</td><td class="mono">${a.source ?? ''}</td></tr>`)}</tbody></table>
<table class="plain"><thead><tr><th>input</th><th class="n">records</th><th class="n">scored</th><th class="n">rejected</th><th class="n">truncated</th></tr></thead><tbody>${s.inputs.map((i) => html`<tr><td class="mono">${i.source}</td><td class="n">${int(i.records)}</td><td class="n">${int(i.scored)}</td><td class="n">${int(i.errors)}</td><td class="n">${int(i.truncated)}</td></tr>`)}</tbody></table>`;
}

function figure(f: Figure, n: number): SafeHtml {
  return html`<figure><h3>${n}. ${f.title}</h3>${f.svg ?? ''}${f.note ? html`<p class="note">${f.note}</p>` : ''}${f.extra ?? ''}<figcaption>${f.caption}</figcaption></figure>`;
}

export function reportPage(p: PageParts): string {
  const title = `safesift report: ${p.summary.job?.name ?? p.summary.options?.name ?? p.uri}`;
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${header(p)}
<h2>Scores</h2>
${p.figures.map((f, i) => figure(f, i + 1))}
<h2 id="topk">Top-${p.k}${p.entries !== p.k ? ` (${p.entries} entries: the corpus has fewer scored examples than k)` : ''}</h2>
<p class="muted">${p.topNote}</p>
${p.topTable ?? ''}
<footer>Written by <b>safesift report</b>: a static page with no scripts and no external resources. Corpus text is shown as text, never interpreted.</footer>
</main>
</body>
</html>
`;
  return page.markup;
}
