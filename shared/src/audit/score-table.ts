import type { Example } from '../corpus/example.ts';
import { FORMAT_TAG_DESCRIPTIONS, FORMAT_TAGS, formatTagsOf, responseText } from '../corpus/format-tags.ts';
import type { ColumnSpec, Row } from '../output/parquet-table-writer.ts';
import type { AnchorSetSpec } from '../scoring/anchor-sets.ts';
import type { GradientScore, NearestByGradient } from '../scoring/gradient-score.ts';
import type { RankedEntry } from '../scoring/ranked-entry.ts';
import type { RepresentationScore } from '../scoring/representation-score.ts';
import type { SelfInfluence } from '../scoring/self-influence.ts';

/** Everything known about one scored example. */
export interface ScoredExample {
  example: Example;
  tokens: number;
  truncated: boolean;
  /** Response tokens the loss is on (null: a cache hit from before they were kept). */
  responseTokens: number | null;
  loss: number;
  rep: RepresentationScore;
  grad: GradientScore;
  gradNearest: NearestByGradient;
  selfInf: SelfInfluence;
  /** Projection on each compliance direction, in the order of the direction columns (null: degenerate direction). */
  direction: readonly (number | null)[];
}

/**
 * Columns of scores.parquet: fixed ones, `rep_<set>` and `grad_<set>` per anchor set, the
 * self-influence pair, then one `dir_<layer>_<position>` per compliance direction (DirectionScorer.columns).
 */
export function scoreColumns(sets: readonly AnchorSetSpec[], directionColumns: readonly string[] = []): ColumnSpec[] {
  return [
    { name: 'id', type: 'utf8', description: 'stable hash of the record content' },
    { name: 'source', type: 'utf8', description: 'input file' },
    { name: 'row', type: 'int64', description: '0-based record index in its file' },
    { name: 'tokens', type: 'int32', description: 'tokens after truncation' },
    { name: 'truncated', type: 'bool', description: 'cut at --max-tokens' },
    { name: 'response_tokens', type: 'int32', nullable: true, description: 'response tokens the loss is on, after truncation' },
    { name: 'loss', type: 'float64', description: 'mean response cross-entropy' },
    { name: 'rep_harmful', type: 'float64', description: 'mean top-n cosine to the pooled harmful anchors' },
    { name: 'rep_safe', type: 'float64', nullable: true, description: 'mean top-n cosine to the pooled safe anchors' },
    { name: 'rep_score', type: 'float64', description: 'rep_harmful - rep_safe (bi-directional)' },
    { name: 'grad_harmful', type: 'float64', description: 'Σ over harmful sets of weight × dot(ĝ, target)' },
    { name: 'grad_score', type: 'float64', description: 'Σ over all sets of weight × dot(ĝ, target) (bi-directional)' },
    ...sets.map((s): ColumnSpec => ({ name: `rep_${s.name}`, type: 'float64', description: `mean top-n cosine to set ${s.name} (${s.source})` })),
    ...sets.map((s): ColumnSpec => ({ name: `grad_${s.name}`, type: 'float64', description: `dot(ĝ, target of ${s.name}) (${s.source}), unweighted` })),
    ...sets.flatMap((s): ColumnSpec[] => [
      { name: `near_rep_${s.name}`, type: 'int64', nullable: true, description: `row in ${s.source} of the anchor most similar by representation cosine` },
      { name: `near_rep_${s.name}_cos`, type: 'float64', nullable: true, description: 'that cosine' },
      { name: `near_grad_${s.name}`, type: 'int64', nullable: true, description: `row in ${s.source} of the anchor whose own normalised gradient has the largest dot with ĝ (empty when the anchors' gradients exceed the memory budget)` },
      { name: `near_grad_${s.name}_dot`, type: 'float64', nullable: true, description: 'that dot' },
    ]),
    { name: 'self_inf', type: 'float64', description: '‖g‖² of the gradient of the mean response loss (projected unless --proj none)' },
    { name: 'self_inf_n', type: 'float64', nullable: true, description: 'log(self_inf + 1) + log(response_tokens + 1) (Guan et al. Self-Inf-N)' },
    ...directionColumns.map((name): ColumnSpec => ({
      name,
      type: 'float64',
      nullable: true,
      description: `projection of the layer's state (${name.endsWith('_prompt') ? 'last prompt token' : 'response-token mean'}) on the unit compliance direction; empty when that direction is degenerate`,
    })),
    ...FORMAT_TAGS.map((t): ColumnSpec => ({ name: `tag_${t}`, type: 'bool', description: `format tag of the response: ${FORMAT_TAG_DESCRIPTIONS[t]}` })),
  ];
}

export function scoreRow(scored: ScoredExample, sets: readonly AnchorSetSpec[], directionColumns: readonly string[] = []): Row {
  const { example, rep, grad } = scored;
  const row: Row = {
    id: example.id,
    source: example.source,
    row: example.row,
    tokens: scored.tokens,
    truncated: scored.truncated,
    response_tokens: scored.responseTokens,
    loss: scored.loss,
    rep_harmful: rep.harmful,
    rep_safe: rep.safe,
    rep_score: rep.score,
    grad_harmful: grad.harmful,
    grad_score: grad.score,
  };
  sets.forEach((s, i) => {
    row[`rep_${s.name}`] = rep.perSet[i]!;
    row[`grad_${s.name}`] = grad.perSet[i]!;
  });
  sets.forEach((s, i) => {
    const byRep = rep.nearest[i] ?? null;
    const byGrad = scored.gradNearest[i] ?? null;
    row[`near_rep_${s.name}`] = byRep?.row ?? null;
    row[`near_rep_${s.name}_cos`] = byRep?.value ?? null;
    row[`near_grad_${s.name}`] = byGrad?.row ?? null;
    row[`near_grad_${s.name}_dot`] = byGrad?.value ?? null;
  });
  row.self_inf = scored.selfInf.selfInf;
  row.self_inf_n = scored.selfInf.selfInfN;
  directionColumns.forEach((name, i) => {
    row[name] = scored.direction[i] ?? null;
  });
  const tags = formatTagsOf(responseText(example.content));
  for (const t of FORMAT_TAGS) row[`tag_${t}`] = tags[t];
  return row;
}

export const RANKED_COLUMNS: ColumnSpec[] = [
  { name: 'rank', type: 'int32', description: '1 = most similar to the harmful anchors (top-k) or least (bottom-k)' },
  { name: 'id', type: 'utf8' },
  { name: 'source', type: 'utf8' },
  { name: 'row', type: 'int64' },
  { name: 'score', type: 'float64', description: 'the ranking score (--method)' },
  { name: 'rep_score', type: 'float64' },
  { name: 'grad_score', type: 'float64' },
  { name: 'prompt_preview', type: 'utf8' },
  { name: 'response_preview', type: 'utf8' },
];

export function rankedRows(entries: readonly RankedEntry[]): Row[] {
  return entries.map((e, i) => ({
    rank: i + 1,
    id: e.id,
    source: e.source,
    row: e.row,
    score: e.score,
    rep_score: e.repScore,
    grad_score: e.gradScore,
    prompt_preview: e.promptPreview,
    response_preview: e.responsePreview,
  }));
}

const PREVIEW_CHARS = 240;

export function preview(text: string): string {
  return text.length <= PREVIEW_CHARS ? text : `${text.slice(0, PREVIEW_CHARS - 1)}…`;
}
