import type { S3Client } from '@aws-sdk/client-s3';
import { Command } from 'commander';
import { InterruptedError } from '@safesift/core/errors.ts';
import { compileFilterOptions, DEFAULT_FILTER_MAX_RECORD_BYTES, type FilterOptions } from '@safesift/core/filter/filter-options.ts';
import { runFilter, type FilterSummary } from '@safesift/core/filter/run-filter.ts';
import { createS3Client } from '@safesift/core/storage/s3-client.ts';
import { integer } from './cli-parsers.ts';
import { EXIT } from './exit-codes.ts';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/**
 * `safesift filter`: copies corpus files without the records an audit flagged (its top-k, a score
 * threshold or the best fraction), or with only them (--keep-flagged), plus flagged.jsonl and
 * filter-summary.json.
 */
export function filterCommand(): Command {
  return new Command('filter')
    .description('Write each --data file again without the records an audit flagged (or with only them), plus flagged.jsonl and filter-summary.json')
    .requiredOption('--scores <dir|s3://…>', "the audit's --out folder, or a cluster job's output prefix (summary.json, topk.parquet, the score table)")
    .option('--data <file>', 'corpus file to filter: .jsonl, .json (array) or .parquet, local or s3:// (repeatable)', collect)
    .requiredOption('--out <dir|s3://…>', 'where the filtered copies go, under their input file names, with flagged.jsonl and filter-summary.json')
    .option('--threshold <score>', "flag every audited record whose ranking score (summary.json → ranking.column) is >= score (default: the audit's top-k)")
    .option('--top-fraction <f>', "flag the best fraction f (0 < f <= 1) of the scored records, ties as in topk.parquet (default: the audit's top-k)")
    .option('--keep-flagged', 'write only the flagged records (a review set) instead of everything else')
    .option('--max-record-bytes <n>', `largest record held to be copied (default ${DEFAULT_FILTER_MAX_RECORD_BYTES}: 64 MiB)`, integer('--max-record-bytes'))
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (default $AWS_ENDPOINT_URL, else AWS)')
    .option('--json', 'print the summary as JSON on stdout')
    .exitOverride()
    .action(async (flags: Record<string, unknown>) => {
      const options = compileFilterOptions({
        scores: flags.scores as string,
        data: (flags.data as string[] | undefined) ?? [],
        out: flags.out as string,
        threshold: flags.threshold as string | undefined,
        topFraction: flags.topFraction as string | undefined,
        keepFlagged: flags.keepFlagged === true,
        maxRecordBytes: flags.maxRecordBytes as number | undefined,
      });
      let client: S3Client | undefined;
      const endpoint = typeof flags.s3Endpoint === 'string' ? flags.s3Endpoint : undefined;
      const s3 = () => (client ??= createS3Client(endpoint === undefined ? {} : { endpoint }));
      const stop = stopOnSignals();
      let summary: FilterSummary;
      try {
        summary = await runFilter(options, { s3, signal: stop.signal });
      } finally {
        stop.dispose();
        client?.destroy();
      }
      for (const warning of summary.warnings) process.stderr.write(`safesift: warning: ${warning}\n`);
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : humanSummary(summary, options));
    });
}

/** Ctrl-C / SIGTERM stop between records (temp files removed, copies already committed stay); a second one quits at once. */
function stopOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
    controller.abort(new InterruptedError(signal, 'no filter-summary.json written; rerun the same command'));
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}

function describeRule(s: FilterSummary): string {
  const r = s.rule;
  const ids = `${s.audit.flagged_ids} id${s.audit.flagged_ids === 1 ? '' : 's'}`;
  if (r.kind === 'top-k') return `flagged ${ids}: the audit's top-${r.k} by ${r.column}`;
  if (r.kind === 'threshold') return `flagged ${ids}: ${r.column} >= ${r.threshold}`;
  return `flagged ${ids}: the best ${r.fraction} of ${s.audit.scored_rows} scored rows (${r.rows} rows, ${r.column} >= ${r.cutoff ?? '-'})`;
}

function humanSummary(s: FilterSummary, options: FilterOptions): string {
  const verb = s.keep_flagged ? 'kept (--keep-flagged)' : 'removed';
  const lines = [
    `${describeRule(s)} (from ${s.scores})`,
    ...s.inputs.map((c, i) => {
      const name = options.inputs[i]?.name ?? c.source;
      const extra = [
        c.not_audited > 0 ? `${c.not_audited} not audited (kept)` : '',
        c.invalid > 0 && !s.keep_flagged ? `${c.invalid} not valid examples (kept as they are)` : '',
        c.missing_ids > 0 ? `${c.missing_ids} flagged id${c.missing_ids === 1 ? '' : 's'} missing` : '',
      ].filter(Boolean);
      return `  ${name}: ${c.records} records, ${c.flagged} flagged ${verb}, ${c.written} written to ${c.output}${extra.length > 0 ? `; ${extra.join(', ')}` : ''}`;
    }),
    `flagged records with their scores: ${s.outputs.flagged}; summary: ${s.outputs.summary}`,
  ];
  return `${lines.join('\n')}\n`;
}
