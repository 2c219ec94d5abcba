import { compareRanked } from '../scoring/top-k.ts';
import { InputError } from '../errors.ts';
import { openOutputTable, tableRows, type AuditOutputs, type OutputTable } from './audit-outputs.ts';
import { AuditedIds, AuditedIdsBuilder } from './audited-ids.ts';
import { FlaggedSet, type FlaggedEntry } from './flagged-set.ts';

/** What is flagged: the audit's top-k (default), every row scoring at least a threshold, or the best fraction of rows. */
export type FlagRule =
  | { kind: 'top-k' }
  | { kind: 'threshold'; threshold: number }
  | { kind: 'top-fraction'; fraction: number };

export interface Selection {
  flagged: FlaggedSet;
  audited: AuditedIds;
  /** How the rule came out: for the summary. */
  rule: FlagRule & { column: string; k?: number; cutoff?: number | null; rows?: number };
  /** Score rows read, and those with a finite ranking score. */
  scoreRows: number;
  scoredRows: number;
}

/** The ranking column is one of rep_score and grad_score. */
const SCORE_COLUMNS = ['id', 'source', 'row', 'rep_score', 'grad_score'];

/**
 * Reads the audit's outputs once (twice for --top-fraction) and returns the flagged ids and the
 * audited ones. Memory: the score table is read one row group at a time; AuditedIds keeps 8 B per
 * score row, FlaggedSet ~150 B per flagged id; --top-fraction also holds every finite ranking score
 * in a Float64Array (8 B per row) to find its cut-off, released before the second pass.
 */
export async function selectFlagged(outputs: AuditOutputs, rule: FlagRule): Promise<Selection> {
  const tables: OutputTable[] = [];
  for (const key of outputs.scoreKeys) tables.push(await openOutputTable(outputs, key));
  const scoreRows = tables.reduce((n, t) => n + t.rows, 0);
  const column = outputs.column;
  const flagged = new FlaggedSet();
  const ids = new AuditedIdsBuilder(scoreRows);

  if (rule.kind === 'top-k') {
    let scoredRows = 0;
    for (const table of tables) {
      for await (const rows of tableRows(table, ['id', column])) {
        for (const r of rows) {
          ids.add(String(r.id), table.name);
          if (Number.isFinite(numberOf(r[column]))) scoredRows++;
        }
      }
    }
    const topk = await openOutputTable(outputs, outputs.topkKey).catch((err: unknown) => {
      throw err instanceof InputError ? new InputError(err.source, -1, `${err.reason} (the default flags the audit's top-k: pass --threshold or --top-fraction to use the score table alone)`, { cause: err }) : err;
    });
    for await (const rows of tableRows(topk, ['id', 'source', 'row', 'score', 'rep_score', 'grad_score'])) {
      for (const r of rows) flagged.add({ ...entryOf(r), score: numberOf(r.score) });
    }
    return { flagged, audited: ids.build(), rule: { ...rule, column, k: outputs.k }, scoreRows, scoredRows };
  }

  if (rule.kind === 'threshold') {
    let scoredRows = 0;
    for (const table of tables) {
      for await (const rows of tableRows(table, SCORE_COLUMNS)) {
        for (const r of rows) {
          ids.add(String(r.id), table.name);
          const entry = { ...entryOf(r), score: numberOf(r[column]) };
          if (!Number.isFinite(entry.score)) continue;
          scoredRows++;
          if (entry.score >= rule.threshold) flagged.add(entry);
        }
      }
    }
    return { flagged, audited: ids.build(), rule: { ...rule, column }, scoreRows, scoredRows };
  }

  // --top-fraction: pass 1 finds the cut-off score, pass 2 flags what is above it, and of the rows
  // at it as many as the count allows, in topk.parquet's order (by id, source, row).
  let scores = new Float64Array(scoreRows);
  let n = 0;
  for (const table of tables) {
    for await (const rows of tableRows(table, ['id', column])) {
      for (const r of rows) {
        ids.add(String(r.id), table.name);
        const s = numberOf(r[column]);
        if (Number.isFinite(s)) scores[n++] = s;
      }
    }
  }
  const cut = fractionCutoff(scores.subarray(0, n), rule.fraction);
  scores = new Float64Array(0);
  const ties: FlaggedEntry[] = [];
  if (cut.count > 0) {
    for (const table of tables) {
      for await (const rows of tableRows(table, SCORE_COLUMNS)) {
        for (const r of rows) {
          const entry = { ...entryOf(r), score: numberOf(r[column]) };
          if (entry.score > cut.cutoff) flagged.add(entry);
          else if (entry.score === cut.cutoff) ties.push(entry);
        }
      }
    }
    ties.sort((a, b) => compareRanked('top', { ...a, source: a.auditSource, row: a.auditRow }, { ...b, source: b.auditSource, row: b.auditRow }));
    for (const entry of ties.slice(0, cut.count - cut.above)) flagged.add(entry);
  }
  return { flagged, audited: ids.build(), rule: { ...rule, column, cutoff: cut.count > 0 ? cut.cutoff : null, rows: cut.count }, scoreRows, scoredRows: n };
}

/**
 * The cut-off of the best `fraction` of `scores` (finite numbers): `count` = ceil(fraction × n)
 * rows are flagged, `cutoff` is the count-th best score, `above` how many are strictly better.
 * Sorts a copy (8 B per score).
 */
export function fractionCutoff(scores: Float64Array, fraction: number): { count: number; cutoff: number; above: number } {
  // The epsilon keeps 0.1 × 60 (6.000000000000001 in floating point) at 6 rows.
  const count = Math.min(scores.length, Math.max(0, Math.ceil(fraction * scores.length - 1e-9)));
  if (count === 0) return { count: 0, cutoff: Infinity, above: 0 };
  const sorted = Float64Array.from(scores).sort().reverse();
  const cutoff = sorted[count - 1]!;
  let above = count - 1;
  while (above > 0 && sorted[above - 1] === cutoff) above--;
  return { count, cutoff, above };
}

function entryOf(r: Record<string, unknown>): Omit<FlaggedEntry, 'score'> {
  return { id: String(r.id), repScore: numberOf(r.rep_score), gradScore: numberOf(r.grad_score), auditSource: String(r.source), auditRow: numberOf(r.row) };
}

/** A Parquet number (int64 as bigint, null for NaN) as a JS number; NaN for null. */
function numberOf(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return NaN;
}
