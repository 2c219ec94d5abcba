/**
 * The subsets of the experiment, from one audit's scores.parquet (both scores are in it):
 * grad-top (top-k by grad_score), rep-top (top-k by rep_score), grad-bottom (bottom-k by
 * grad_score), random (k records drawn uniformly from the scored records, one draw per seed).
 * Order and ties as safesift ranks (shared/src/scoring/top-k.ts: score, then id, source, row).
 * Also the format-tag shares (tag_* columns, shared/src/corpus/format-tags.ts) of each subset and
 * of the whole scored corpus.
 */
import { readFileSync } from 'node:fs';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { compareRanked, type Ranked } from '../../shared/src/scoring/top-k.ts';
import { SeededRandom } from '../../shared/src/report/sampling.ts';
import { permutation, seedOf } from './fixture-data.ts';

export const SHARE_TAGS = ['numbered_list', 'bullet_list', 'math'] as const;

export interface ScoredRecord {
  id: string; source: string; row: number; gradScore: number; repScore: number; tokens: number;
  tags: Record<(typeof SHARE_TAGS)[number], boolean>;
}

export interface Selection { name: string; selection: 'grad-top' | 'rep-top' | 'grad-bottom' | 'random'; seed: number | null; records: ScoredRecord[] }

export async function readScores(path: string): Promise<ScoredRecord[]> {
  const b = readFileSync(path);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  const columns = ['id', 'source', 'row', 'tokens', 'grad_score', 'rep_score', ...SHARE_TAGS.map((t) => `tag_${t}`)];
  const rows = (await parquetReadObjects({ file, columns, compressors })) as Array<Record<string, unknown>>;
  return rows.map((r) => ({
    id: String(r.id), source: String(r.source), row: Number(r.row), tokens: Number(r.tokens),
    gradScore: r.grad_score == null ? NaN : Number(r.grad_score), repScore: r.rep_score == null ? NaN : Number(r.rep_score),
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
