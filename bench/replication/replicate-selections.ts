/**
 * The subsets of the experiment, from one audit's scores.parquet (every score is in it):
 * grad-top (top-k by grad_score), rep-top (top-k by rep_score), grad-bottom (bottom-k by
 * grad_score), random (k records drawn uniformly from the scored records, one draw per seed), and,
 * when the audit wrote them (issue 16), self_inf-top, self_inf_n-top and dir-top (top-k by
 * dir_<layer>_response of the first direction layer).
 * Order and ties as safesift ranks (shared/src/scoring/top-k.ts: score, then id, source, row).
 * Also the format-tag shares (tag_* columns, shared/src/corpus/format-tags.ts) of each subset and
 * of the whole scored corpus.
 */
import { readFileSync } from 'node:fs';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { compareRanked, type Ranked } from '../../shared/src/scoring/top-k.ts';
import { SeededRandom } from '../../shared/src/report/sampling.ts';
import { permutation, seedOf } from './fixture-data.ts';

export const SHARE_TAGS = ['numbered_list', 'bullet_list', 'math'] as const;

export interface ScoredRecord {
  id: string; source: string; row: number; gradScore: number; repScore: number; tokens: number;
  /** The issue-16 scores, NaN where the audit did not write them (or left them empty). */
  selfInf: number; selfInfN: number; dir: number;
  tags: Record<(typeof SHARE_TAGS)[number], boolean>;
}

export type SelectionKind = 'grad-top' | 'rep-top' | 'grad-bottom' | 'random' | 'self_inf-top' | 'self_inf_n-top' | 'dir-top';
export interface Selection { name: string; selection: SelectionKind; seed: number | null; records: ScoredRecord[] }

/** The scores of an audit; `dirColumn` is the direction column dir-top ranks by (null: none). */
export async function readScores(path: string, dirColumn: string | null = null): Promise<ScoredRecord[]> {
  const b = readFileSync(path);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const metadata = await parquetMetadataAsync(file);
  const present = new Set(metadata.schema.map((c) => c.name));
  const optional = ['self_inf', 'self_inf_n', ...(dirColumn ? [dirColumn] : [])].filter((c) => present.has(c));
  const columns = ['id', 'source', 'row', 'tokens', 'grad_score', 'rep_score', ...optional, ...SHARE_TAGS.map((t) => `tag_${t}`)];
  const rows = (await parquetReadObjects({ file, columns, compressors })) as Array<Record<string, unknown>>;
  const num = (v: unknown) => (v == null ? NaN : Number(v));
  return rows.map((r) => ({
    id: String(r.id), source: String(r.source), row: Number(r.row), tokens: Number(r.tokens),
    gradScore: num(r.grad_score), repScore: num(r.rep_score),
    selfInf: num(r.self_inf), selfInfN: num(r.self_inf_n), dir: dirColumn ? num(r[dirColumn]) : NaN,
    tags: Object.fromEntries(SHARE_TAGS.map((t) => [t, r[`tag_${t}`] === true])) as ScoredRecord['tags'],
  }));
}

function ranked(records: readonly ScoredRecord[], score: (r: ScoredRecord) => number, mode: 'top' | 'bottom', k: number): ScoredRecord[] {
  const items = records.filter((r) => Number.isFinite(score(r))).map((r) => ({ score: score(r), id: r.id, source: r.source, row: r.row, r }));
  return items.sort((a: Ranked, b: Ranked) => compareRanked(mode, a, b)).slice(0, k).map((x) => x.r);
}

export function selections(records: readonly ScoredRecord[], k: number, seeds: number, only: ReadonlySet<string> | null): Selection[] {
  const out: Selection[] = [];
  const want = (s: string) => !only || only.has(s);
  if (want('grad-top')) out.push({ name: `grad-top-${k}`, selection: 'grad-top', seed: null, records: ranked(records, (r) => r.gradScore, 'top', k) });
  if (want('rep-top')) out.push({ name: `rep-top-${k}`, selection: 'rep-top', seed: null, records: ranked(records, (r) => r.repScore, 'top', k) });
  if (want('grad-bottom')) out.push({ name: `grad-bottom-${k}`, selection: 'grad-bottom', seed: null, records: ranked(records, (r) => r.gradScore, 'bottom', k) });
  // The other scorers, where the audit has them.
  const others: [SelectionKind, (r: ScoredRecord) => number][] = [['self_inf-top', (r) => r.selfInf], ['self_inf_n-top', (r) => r.selfInfN], ['dir-top', (r) => r.dir]];
  for (const [kind, score] of others) {
    if (!want(kind) || !records.some((r) => Number.isFinite(score(r)))) continue;
    out.push({ name: `${kind.replace(/-top$/, '').replaceAll('_', '-')}-top-${k}`, selection: kind, seed: null, records: ranked(records, score, 'top', k) });
  }
  if (want('random')) {
    const scored = records.filter((r) => Number.isFinite(r.gradScore)).sort((a, b) => compareRanked('top', { ...a, score: 0 }, { ...b, score: 0 }));
    for (let s = 0; s < seeds; s++) {
      const order = permutation(scored.length, new SeededRandom(seedOf(`random-${k}/${s}`)));
      out.push({ name: `random-${k}-seed${s}`, selection: 'random', seed: s, records: order.slice(0, k).map((i) => scored[i]!) });
    }
  }
  return out;
}

export function formatShares(records: readonly ScoredRecord[]): Record<string, number> & { n: number } {
  const n = records.length;
  return { n, ...Object.fromEntries(SHARE_TAGS.map((t) => [t, n ? records.filter((r) => r.tags[t]).length / n : NaN])) };
}
