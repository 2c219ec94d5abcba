import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { compileAuditOptions, DEFAULT_PROBE, DEFAULT_PROJECTION, type AuditOptions, type RawAuditOptions } from '@safesift/core/audit/audit-options.ts';
import type { AuditSummary } from '@safesift/core/audit/audit-summary.ts';
import { runAudit } from '@safesift/core/audit/run-audit.ts';
import { InterruptedError, UnusableInputError } from '@safesift/core/errors.ts';
import { PROBES } from '@safesift/core/graph/probes.ts';
import { parseWeights } from '@safesift/core/scoring/anchor-sets.ts';
import { RANKING_METHODS } from '@safesift/core/scoring/ranking-method.ts';
import { createProgressReporter } from './progress-reporter.ts';
import { integer } from './cli-parsers.ts';
import { EXIT } from './exit-codes.ts';

const collect = (value: string, previous: string[]) => [...previous, value];

/** The options of an audit, shared by `audit` and `submit` (where paths may be s3:// URIs). */
export function addAuditOptions(command: Command): Command {
  return command
    .option('--data <file>', 'corpus file: .jsonl, .json (array) or .parquet (repeatable; default: the shipped demo corpus)', collect, [])
    .option('--model <dir>', "Hugging Face Llama-family checkpoint folder, or 'tiny' (random-weight demo model)", 'tiny')
    .option('--harmful <file>', 'harmful anchor set: compliant answers to harmful requests (repeatable)', collect, [])
    .option('--safe <file>', 'safe anchor set: refusals of the same requests (repeatable)', collect, [])
    .option('--weights <list>', 'weight per anchor set, harmful first then safe, e.g. "1,-1,-1" (default +1 harmful, -1 safe)')
    .addOption(new Option('--format <preset>', 'prompt format').choices(['paper-llama2', 'chat-template']).default('paper-llama2'))
    .addOption(new Option('--record-shape <shape>', 'force the record shape instead of detecting it per file').choices(['alpaca', 'dolly', 'gsm8k', 'chat']))
    .addOption(new Option('--method <score>', 'ranking score: grad (paper), rep (paper), self_inf / self_inf_n (anchor-free self-influence), dir (compliance direction)').choices([...RANKING_METHODS]).default('grad'))
    .option('--direction-layers <list>', "decoder layers of the compliance direction: 'middle' (layer L/2), 'none', or 0-based indices like '8,16'", 'middle')
    .option('--k <n>', 'size of the top-k selection', integer('--k'), 100)
    .option('--bottom-k <n>', 'also write the n lowest-scoring examples (bottomk.parquet)', integer('--bottom-k'), 0)
    .option('--top-n <n>', 'representation score: mean of the top-n anchor similarities', integer('--top-n'), 1)
    .option('--max-tokens <n>', 'truncate examples to n tokens', integer('--max-tokens'), 512)
    .option('--anchor-tokens <n>', 'anchors count only their first n response tokens', integer('--anchor-tokens'), 10)
    .addOption(new Option('--probes <preset>', 'parameters whose per-example gradients are the features').choices([...PROBES]).default(DEFAULT_PROBE))
    .option('--proj <spec>', "gradient projection per parameter: 'auto' (kron:64x128, or kron:128x256 from hidden size 2048), 'none' (exact) or 'kron:OUTxIN'", DEFAULT_PROJECTION)
    .option('--proj-seed <n>', 'seed of the projection matrices and sketch', integer('--proj-seed'))
    .option('--proj-dim <n>', 'CountSketch the (projected) gradient to n dimensions', integer('--proj-dim'))
    .addOption(new Option('--dtype <type>', 'graph compute type: float16 halves weights and activations (norms and the loss stay float32)').choices(['float32', 'float16']).default('float32'))
    .option('--batch-size <n>', 'examples per model call (default from the memory model: 1 on the CPU, up to 32 on a GPU)', integer('--batch-size'))
    .option('--batch-tokens <n>', 'padded tokens per model call (default from the memory model)', integer('--batch-tokens'))
    .option('--memory-budget <size>', 'memory to plan sessions and batches for, e.g. 20GiB (default: the host or pod limit, or the GPU memory; also $SAFESIFT_MEMORY_BUDGET)')
    .option('--prepack', 'keep pre-packed weight copies: 7-20% faster CPU matmuls for up to ~1.6x the weights more (default: when they fit the memory budget)')
    .option('--no-prepack', 'keep one memory-mapped copy of the weights, unpacked: less memory, slower CPU matmuls')
    .option('--limit <n>', 'read only the first n records of each input file', integer('--limit'))
    .option('--max-record-bytes <n>', 'reject records larger than this', integer('--max-record-bytes'))
    .option('--min-anchors <n>', 'usable anchors each anchor set needs (default: all of its records; a broken anchor stops the audit)', integer('--min-anchors'))
    .option('--threads <n>', 'feature threads (default: all cores): one session with n intra-op threads, or n single-threaded sessions for models under 32 MiB', integer('--threads'))
    .option('--out <dir>', 'output folder', 'safesift-out');
}

/** Flags as parsed by commander → raw audit options (weights parsed). */
export function rawAuditFlags(flags: Record<string, unknown>): RawAuditOptions {
  return {
    ...(flags as RawAuditOptions),
    ...(typeof flags.weights === 'string' ? { weights: parseWeights(flags.weights) } : {}),
  };
}

export function auditCommand(): Command {
  return addAuditOptions(new Command('audit')
    .description('Score every example of a corpus against harmful and safe anchors; write scores, top-k and a summary'))
    .option('--cache <dir|s3://…>', 'feature cache: a re-audit featurizes only new or changed examples, and summary.json diffs the top-k against the last run of the same --name')
    .option('--name <run>', "run name whose last top-k the cache keeps (default: the --out folder's name)")
    .option('--allow-unusable-inputs', 'exit 0 even when a --data file gave no usable record (default: exit 4, after writing the outputs)')
    .option('--json', 'print the summary as JSON on stdout')
    .exitOverride()
    .action(async (flags: Record<string, unknown>) => {
      const options = compileAuditOptions(rawAuditFlags(flags));
      // SAFESIFT_PROGRESS_INTERVAL_MS: seconds between log lines without a TTY are 5 by default.
      const interval = Number(process.env.SAFESIFT_PROGRESS_INTERVAL_MS);
      const progress = createProgressReporter(Number.isFinite(interval) && interval > 0 ? { intervalMs: interval } : {});
      const stop = stopOnSignals(options.out);
      let summary: AuditSummary;
      try {
        summary = await runAudit(options, { onProgress: (p) => progress.update(p), signal: stop.signal });
      } catch (error) {
        throw error instanceof InterruptedError ? new InterruptedError(error.signal, interruptedDetail(options)) : error;
      } finally {
        progress.stop();
        stop.dispose();
      }
      for (const warning of summary.warnings) process.stderr.write(`safesift: warning: ${warning}\n`);
      const unusable = unusableInputsError(summary, options.out);
      if (unusable && !options.allowUnusableInputs) {
        if (!flags.json) process.stdout.write(humanSummary(summary, options.out));
        throw unusable;
      }
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : humanSummary(summary, options.out));
    });
}

/**
 * The first SIGINT/SIGTERM asks the audit to stop after the model batch in hand (partial outputs
 * are removed, the feature cache keeps what it computed); a second one quits at once.
 */
function stopOnSignals(out: string): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) {
      removePartialFiles(out);
      process.exit(signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
    }
    process.stderr.write(`\nsafesift: ${signal}: stopping after the current batch (again to quit at once)\n`);
    controller.abort(new InterruptedError(signal));
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

/** Quitting at once still leaves no half-written table behind. */
function removePartialFiles(out: string): void {
  try {
    for (const name of readdirSync(out)) if (name.endsWith('.partial')) rmSync(join(out, name), { force: true });
  } catch {
    // nothing to clean
  }
}

function interruptedDetail(options: AuditOptions): string {
  const kept = options.cache === undefined
    ? 'without --cache the scored work is lost (pass --cache DIR to make a rerun resume)'
    : `the features computed so far are in ${options.cache}: rerun the same command to resume`;
  return `no outputs written in ${options.out} (partial files removed); ${kept}`;
}

/** Inputs that gave no usable record: exit 4 (their reasons named), after the outputs are written. */
function unusableInputsError(summary: AuditSummary, out: string): UnusableInputError | null {
  if (summary.unusable_inputs.length === 0) return null;
  const described = summary.unusable_inputs.map((source) => {
    const input = summary.inputs.find((i) => i.source === source);
    const reasons = Object.entries(input?.top_reasons ?? {}).slice(0, 2).map(([reason, n]) => `${reason} (×${n})`).join('; ');
    return `${source} (${input?.records ?? 0} records${reasons ? `: ${reasons}` : ''})`;
  });
  return new UnusableInputError(
    `no usable record in ${described.join(', ')}; see ${out}/errors.jsonl. The outputs of the rest are written; --allow-unusable-inputs exits 0 in this case`,
  );
}

function humanSummary(s: AuditSummary, out: string): string {
  const lines = [
    `audited ${s.counts.records} records: ${s.counts.scored} scored (${s.counts.truncated} cut at --max-tokens), ${s.counts.errors} rejected (see errors.jsonl)`,
    `anchors: ${s.anchor_sets.map((a) => `${a.name} ${a.anchors}${'rejected' in a && a.rejected ? ` (${a.rejected} rejected, see anchor-errors.jsonl)` : ''}`).join(', ')}${s.bidirectional ? '' : ' (no safe set: not bi-directional)'}`,
    `model ${s.model.path} (${s.model.fingerprint.slice(0, 12)}), gradient probe ${s.features.probe}, projection ${s.features.projection}, ${s.features.dtype}`,
    ...(s.execution ? [`features: ${s.execution.notes.join('; ')}; estimated peak ${s.execution.estimated_peak}`] : []),
    ...(s.model.synthetic ? [`note: ${s.model.warning}`] : []),
    `ranked by ${s.ranking.column}; top ${s.counts.top_k} in ${out}/topk.parquet, all scores in ${out}/scores.parquet`,
    ...(s.outputs.report ? [`report: ${out}/${s.outputs.report} (open it in a browser)`] : []),
    `${s.throughput.examples_per_s ?? '-'} examples/s, ${(s.timings_ms.total ?? 0) / 1000} s in all`,
    ...(s.cache ? [`feature cache ${s.cache.uri}: ${s.cache.hits} cached, ${s.cache.misses} computed (anchors: ${s.cache.anchor_hits} cached, ${s.cache.anchor_misses} computed)`] : []),
    ...(s.cache && s.cache.gradient_reads > 0 ? [`  gradients read back from ${s.cache.gradient_reads} cache segments: they were scored against other anchors`] : []),
    ...(s.diff ? [`since the last run (${s.diff.previous.finished_at}): ${s.diff.entered.length} entered the top-k, ${s.diff.left.length} left it`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
