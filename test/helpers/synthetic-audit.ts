/**
 * An audit's outputs without a model: summary.json, scores.parquet (or a cluster job's
 * scores/part-*.parquet) and topk.parquet with seeded synthetic scores, in the columns the audit
 * writes (score-table.ts), optionally with the nearest-anchor and response-token columns. For the
 * report's tests and its scale bench.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FORMAT_TAGS } from '../../shared/src/corpus/format-tags.ts';
import { RANKED_COLUMNS } from '../../shared/src/audit/score-table.ts';
import { openParquetWriter, type ColumnSpec, type Row } from '../../shared/src/output/parquet-table-writer.ts';
import type { AnchorSetSpec } from '../../shared/src/scoring/anchor-sets.ts';
import { SeededRandom } from '../../shared/src/report/sampling.ts';

export interface SyntheticAuditOptions {
  rows: number;
  k: number;
  seed?: number;
  /** Write the nearest-anchor and response_tokens columns. */
  nearest?: boolean;
  /** Cluster layout: scores/part-NNNNNN.parquet of this many rows each, listed in summary.json. */
  rowsPerPart?: number;
  rowGroupRows?: number;
  /** Text of every prompt/response preview (corpus text is untrusted: tests put payloads here). */
  text?: (row: number) => { prompt: string; response: string };
  /** The corpus file named as every row's source. */
  source?: string;
  /** Extra summary.json fields (merged last). */
  summary?: Record<string, unknown>;
}

export const SYNTHETIC_SETS: AnchorSetSpec[] = [
  { name: 'harmful1', role: 'harmful', weight: 1, source: 'anchors/harmful.jsonl' },
  { name: 'safe1', role: 'safe', weight: -1, source: 'anchors/safe-1.jsonl' },
];

function gaussian(random: SeededRandom): number {
  return Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());
}

/** Writes the outputs into `dir` and returns the top-k's (source, row) pairs, best first. */
export async function writeSyntheticAudit(dir: string, o: SyntheticAuditOptions): Promise<{ top: { source: string; row: number; score: number }[] }> {
  mkdirSync(dir, { recursive: true });
  const random = new SeededRandom(o.seed ?? 7);
  const source = o.source ?? '/nonexistent/corpus.jsonl';
  // The columns spelled out (not scoreColumns()), so a test can write the table as older audits did.
  const columns: ColumnSpec[] = [
    { name: 'id', type: 'utf8' },
    { name: 'source', type: 'utf8' },
    { name: 'row', type: 'int64' },
    { name: 'tokens', type: 'int32' },
    { name: 'truncated', type: 'bool' },
    ...(o.nearest ? [{ name: 'response_tokens', type: 'int32', nullable: true } as ColumnSpec] : []),
    ...['loss', 'rep_harmful', 'rep_safe', 'rep_score', 'grad_harmful', 'grad_score'].map((name): ColumnSpec => ({ name, type: 'float64' })),
    ...SYNTHETIC_SETS.map((s): ColumnSpec => ({ name: `rep_${s.name}`, type: 'float64' })),
    ...SYNTHETIC_SETS.map((s): ColumnSpec => ({ name: `grad_${s.name}`, type: 'float64' })),
    ...(o.nearest
      ? SYNTHETIC_SETS.flatMap((s): ColumnSpec[] => [
          { name: `near_rep_${s.name}`, type: 'int64', nullable: true },
          { name: `near_rep_${s.name}_cos`, type: 'float64' },
          { name: `near_grad_${s.name}`, type: 'int64', nullable: true },
          { name: `near_grad_${s.name}_dot`, type: 'float64' },
        ])
      : []),
    ...FORMAT_TAGS.map((t): ColumnSpec => ({ name: `tag_${t}`, type: 'bool' })),
  ];
  const rowsPerPart = o.rowsPerPart ?? o.rows;
  const parts: string[] = [];
  // The top-k as a bounded min-heap would be; a sorted array of k is enough for test sizes.
  let top: { source: string; row: number; score: number; rep: number; id: string }[] = [];
  const chunk = 10_000;
  for (let start = 0, part = 0; start < o.rows; start += rowsPerPart, part++) {
    const name = o.rowsPerPart === undefined ? 'scores.parquet' : `scores/part-${String(part).padStart(6, '0')}.parquet`;
    parts.push(name);
    const writer = await openParquetWriter(join(dir, name), columns, { rowGroupRows: o.rowGroupRows ?? 65_536 });
    const end = Math.min(o.rows, start + rowsPerPart);
    for (let at = start; at < end; at += chunk) {
      const batch: Row[] = [];
      for (let row = at; row < Math.min(end, at + chunk); row++) {
        const repH = 0.9 + 0.02 * gaussian(random);
        const repS = 0.9 + 0.02 * gaussian(random);
        const gradH = 0.1 * gaussian(random);
        const gradS = 0.1 * gaussian(random);
        const r: Row = {
          id: `id${row.toString(16).padStart(8, '0')}`,
          source,
          row,
          tokens: 100 + (row % 300),
          truncated: row % 97 === 0,
          loss: 2 + random.next(),
          rep_harmful: repH,
          rep_safe: repS,
          rep_score: repH - repS,
          grad_harmful: gradH,
          grad_score: gradH - gradS,
          rep_harmful1: repH,
          rep_safe1: repS,
          grad_harmful1: gradH,
          grad_safe1: gradS,
        };
        FORMAT_TAGS.forEach((t, i) => {
          r[`tag_${t}`] = random.next() < 0.05 + 0.1 * i;
        });
        if (o.nearest) {
          r.response_tokens = row % 11 === 0 ? null : 20 + (row % 50);
          for (const s of SYNTHETIC_SETS) {
            r[`near_rep_${s.name}`] = row % 10;
            r[`near_rep_${s.name}_cos`] = 0.95;
            r[`near_grad_${s.name}`] = (row + 3) % 10;
            r[`near_grad_${s.name}_dot`] = 0.2;
          }
        }
        batch.push(r);
        const score = r.grad_score as number;
        if (top.length < o.k || score > top[top.length - 1]!.score) {
          top.push({ source, row, score, rep: r.rep_score as number, id: r.id as string });
          top.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
          if (top.length > o.k) top = top.slice(0, o.k);
        }
      }
      await writer.append(batch);
    }
    await writer.close();
  }
  const topWriter = await openParquetWriter(join(dir, 'topk.parquet'), RANKED_COLUMNS);
  await topWriter.append(top.map((e, i) => {
    const text = o.text?.(e.row) ?? { prompt: `prompt of row ${e.row}`, response: `response of row ${e.row}` };
    return { rank: i + 1, id: e.id, source: e.source, row: e.row, score: e.score, rep_score: e.rep, grad_score: e.score, prompt_preview: text.prompt, response_preview: text.response };
  }));
  await topWriter.close();
  const summary = {
    safesift: '0.1.0',
    status: 'complete',
    demo: false,
    model: { path: '/models/synthetic', fingerprint: 'f'.repeat(64), synthetic: false },
    features: { probe: 'all', projection: 'kron:64x128', projection_seed: 1, sketch: null, dtype: 'float32' },
    ranking: { method: 'grad', column: 'grad_score', k: o.k, bottom_k: 0 },
    anchor_sets: SYNTHETIC_SETS.map((s) => ({ ...s, anchors: 10, records: 10, rejected: 0, ...(o.nearest ? { anchor_requests: Array.from({ length: 10 }, (_, row) => ({ row, request: `anchor request ${row} of ${s.name}` })) } : {}) })),
    bidirectional: true,
    options: { name: 'synthetic', format: 'paper-llama2', topN: 1, maxTokens: 512 },
    inputs: [{ source, records: o.rows + 3, scored: o.rows, errors: 3, truncated: 0, top_reasons: { 'not valid JSON': 2, 'no response': 1 } }],
    counts: { records: o.rows + 3, scored: o.rows, errors: 3, truncated: 0, top_k: top.length },
    warnings: [],
    outputs: o.rowsPerPart === undefined ? { scores: 'scores.parquet', topk: 'topk.parquet', summary: 'summary.json' } : { topk: 'topk.parquet', scores: 'scores/', score_parts: parts },
    timings_ms: { total: 1234 },
    throughput: { examples_per_s: 100 },
    peak_rss_mib: 300,
    ...o.summary,
  };
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return { top: top.map(({ source: s, row, score }) => ({ source: s, row, score })) };
}
