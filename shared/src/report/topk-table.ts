/**
 * The top-k table: one row per entry with its rank, ranking score and components per anchor set,
 * the anchors it is nearest to (their request text when the summary has it), its format tags and
 * its full prompt and response in a <details> (the previews when the corpus file is out of reach).
 * Every string from the corpus, the summary or the score table goes through `html` (escaped).
 */
import { FORMAT_TAG_DESCRIPTIONS, FORMAT_TAGS } from '../corpus/format-tags.ts';
import { html, type SafeHtml } from './html-escape.ts';
import { formatNumber } from './report-charts.ts';
import { anchorRequests, numberOrNaN, type AnchorSetInfo, type TopEntry } from './report-inputs.ts';
import { topRowKey, type TopRow } from './score-pass.ts';
import type { EntryText, TopTexts } from './topk-texts.ts';

const num = (value: unknown): string => {
  const x = numberOrNaN(value);
  return Number.isFinite(x) ? formatNumber(x) : '–';
};

const baseName = (source: string) => source.replace(/^.*[/\\]/, '') || source;

export interface TopTableInput {
  top: readonly TopEntry[];
  scoreColumn: string;
  sets: readonly AnchorSetInfo[];
  rows: ReadonlyMap<string, TopRow>;
  texts: TopTexts;
}

interface Nearest {
  set: AnchorSetInfo;
  by: 'representation' | 'gradient';
  row: number;
  value: number;
  measure: 'cos' | 'dot';
  request: string | undefined;
}

/** The nearest anchor of each set, by representation cosine and by gradient dot, where the table has them. */
function nearestAnchors(sets: readonly AnchorSetInfo[], row: TopRow): Nearest[] {
  return sets.flatMap((set) => {
    const requests = anchorRequests(set);
    return (['representation', 'gradient'] as const).flatMap((by): Nearest[] => {
      const column = by === 'representation' ? `near_rep_${set.name}` : `near_grad_${set.name}`;
      const measure = by === 'representation' ? 'cos' : 'dot';
      const at = numberOrNaN(row.values.get(column));
      if (!Number.isFinite(at)) return [];
      return [{ set, by, row: at, value: numberOrNaN(row.values.get(`${column}_${measure}`)), measure, request: requests?.get(at) }];
    });
  });
}

const describeNearest = (n: Nearest) =>
  html`<li><b>${n.set.name}</b> by ${n.by}: anchor row ${n.row} (${n.measure} ${num(n.value)})${n.request === undefined ? '' : html` <q>${n.request}</q>`}</li>`;

function components(input: TopTableInput, row: TopRow | undefined): SafeHtml {
  if (row === undefined) return html`<span class="muted">not found in the score table</span>`;
  const lines = input.sets.map((set) => {
    const weight = set.weight === undefined ? '' : ` ${set.weight >= 0 ? '+' : '−'}${Math.abs(set.weight)}`;
    return html`<tr><th scope="row" class="set ${set.role === 'safe' ? 'safe' : 'harmful'}">${set.name}<span class="muted">${weight}</span></th><td>${num(row.values.get(`rep_${set.name}`))}</td><td>${num(row.values.get(`grad_${set.name}`))}</td></tr>`;
  });
  const near = nearestAnchors(input.sets, row);
  // Inline: the harmful anchor nearest by the ranking method (the one that most explains the rank).
  const by = input.scoreColumn === 'rep_score' ? 'representation' : 'gradient';
  const lead = near.filter((n) => n.set.role !== 'safe' && n.by === by).sort((a, b) => b.value - a.value)[0];
  return html`<table class="components"><thead><tr><th></th><th>rep</th><th>grad</th></tr></thead><tbody>${lines}</tbody></table>${
    lead === undefined ? '' : html`<div class="near"><span class="k">nearest harmful anchor</span>${lead.request === undefined ? html`row ${lead.row}` : html`<q>${lead.request}</q>`} <span class="muted">(${lead.set.name} row ${lead.row}, ${lead.measure} ${num(lead.value)})</span></div>`
  }${near.length > 0 ? html`<details class="nearall"><summary>nearest anchor of every set</summary><ul>${near.map(describeNearest)}</ul></details>` : ''}`;
}

function tags(row: TopRow | undefined): SafeHtml {
  if (row === undefined) return html``;
  const present = FORMAT_TAGS.filter((t) => row.values.get(`tag_${t}`) === true);
  return html`${present.map((t) => html`<span class="tag" title="${FORMAT_TAG_DESCRIPTIONS[t]}">${t.replace('_', ' ')}</span> `)}`;
}

function messages(text: EntryText): SafeHtml {
  // The class comes from a fixed list, whatever role a record claims.
  const roleClass = (role: string) => (role === 'user' || role === 'assistant' || role === 'system' ? role : 'other');
  return html`${text.messages.map((m) => html`<div class="msg ${roleClass(m.role)}"><div class="role">${m.role}</div><pre>${m.content}</pre></div>`)}${text.cut ? html`<p class="muted">Cut at 20,000 characters per message.</p>` : ''}`;
}

function textCell(entry: TopEntry, text: EntryText | undefined, why: string | undefined): SafeHtml {
  const body = text !== undefined
    ? messages(text)
    : html`<div class="msg user"><div class="role">prompt (preview)</div><pre>${entry.promptPreview}</pre></div><div class="msg assistant"><div class="role">response (preview)</div><pre>${entry.responsePreview}</pre></div><p class="muted">Full text not shown: ${why ?? 'the record was not found in its file'}.</p>`;
  return html`<p class="preview"><span class="k">prompt</span> ${entry.promptPreview}</p><p class="preview"><span class="k">response</span> ${entry.responsePreview}</p><details><summary>${text !== undefined ? 'full prompt and response' : 'previews (full text unavailable)'}</summary>${body}</details>`;
}

export function topTable(input: TopTableInput): SafeHtml {
  const rows = input.top.map((entry) => {
    const key = topRowKey(entry.source, entry.row);
    const row = input.rows.get(key);
    const tokens = row?.values.get('response_tokens') ?? null;
    return html`<tr class="entry" id="rank-${entry.rank}">
<td class="rank">${entry.rank}</td>
<td class="scores"><div class="score">${num(entry.score)}</div><div class="muted">rep ${num(entry.repScore)}<br>grad ${num(entry.gradScore)}</div></td>
<td>${components(input, row)}</td>
<td>${tags(row)}<div class="where" title="${entry.source}">${baseName(entry.source)}:${entry.row}</div><div class="muted">${row ? html`${num(row.values.get('tokens'))} tokens${tokens === null || tokens === undefined ? '' : html`, ${num(tokens)} in the response`}${row.values.get('truncated') === true ? ', truncated' : ''}` : ''}</div><div class="id muted">${entry.id.slice(0, 16)}</div></td>
<td class="text">${textCell(entry, input.texts.texts.get(key), input.texts.unavailable.get(entry.source))}</td>
</tr>`;
  });
  return html`<table class="topk"><thead><tr><th>rank</th><th>${input.scoreColumn}</th><th>per anchor set</th><th>tags · where</th><th>prompt and response</th></tr></thead><tbody>${rows}</tbody></table>`;
}
