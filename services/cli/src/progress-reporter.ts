import cliProgress from 'cli-progress';
import type { AuditProgress } from '@safesift/core/audit/run-audit.ts';

/** A progress bar (examples/s, ETA) on a TTY; silent otherwise so piped output stays clean. */
export function createProgressReporter(stream: NodeJS.WriteStream = process.stderr): { update(p: AuditProgress): void; stop(): void } {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {phase} |{bar}| {value}/{total} records | {rate} ex/s | {errors} errors | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let corpusStart = 0;
  return {
    update(p) {
      if (!started) {
        bar.start(p.total ?? 0, 0, { phase: p.phase, rate: '-', errors: 0 });
        started = true;
      }
      if (p.phase === 'corpus' && corpusStart === 0) corpusStart = performance.now();
      const seconds = corpusStart ? (performance.now() - corpusStart) / 1000 : 0;
      if (p.total !== null) bar.setTotal(p.total);
      bar.update(p.records, { phase: p.phase.padEnd(7), rate: seconds > 0 ? (p.scored / seconds).toFixed(1) : '-', errors: p.errors });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
