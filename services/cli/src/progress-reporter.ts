import cliProgress from 'cli-progress';
import type { AuditProgress } from '@safesift/core/audit/run-audit.ts';

/** Where progress goes: process.stderr, or a fake in tests (cli-progress only writes and reads isTTY/columns). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressReporterOptions {
  /** Default process.stderr, so stdout (--json) stays clean. */
  stream?: ProgressStream;
  /** Bar or plain lines; default stream.isTTY. */
  isTTY?: boolean;
  /** Plain-line interval off a TTY (ms, default 5000). */
  intervalMs?: number;
  /** Clock in ms (default performance.now), injectable for tests. */
  now?: () => number;
}

export interface ProgressReporter {
  update(p: AuditProgress): void;
  stop(): void;
}

/**
 * A cli-progress bar on a TTY; off a TTY (CI logs) one plain line per phase change, then one
 * every intervalMs while the counts move, and a last one at stop(). update() is called after
 * every model batch, so it only records the state; formatting happens at redraw or line time.
 */
export function createProgressReporter(options: ProgressReporterOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const tty = options.isTTY ?? stream.isTTY === true;
  return tty ? barReporter(stream, now) : lineReporter(stream, now, options.intervalMs ?? 5000);
}

/** `12s`, `4m05s`, `1h02m`; `-` for no estimate (null, negative, NaN, Infinity). */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad2(s % 60)}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${pad2(m % 60)}m`;
}

export function formatRate(rate: number | null): string {
  return rate === null || !Number.isFinite(rate) ? '-' : rate.toFixed(1);
}

/** Seconds left at `rate` records done/s; null while there is nothing to estimate from (no total, no rate, not in corpus). */
export function etaSeconds(p: AuditProgress, rate: number | null): number | null {
  if (p.phase !== 'corpus' || p.total === null || rate === null || !(rate > 0) || !Number.isFinite(rate)) return null;
  return Math.max(0, p.total - p.records) / rate;
}

/** One plain log line, no ANSI: `safesift: corpus 1200/5000 records (24%), 1180 scored, 20 rejected, 3.1 ex/s, ETA 21m30s`. */
export function formatProgressLine(p: AuditProgress, rate: number | null): string {
  if (p.phase === 'setup' || p.phase === 'anchors') return `safesift: ${p.phase}`;
  const parts = [countText(p), `${p.scored} scored`, `${p.errors} rejected`, `${formatRate(rate)} ex/s`];
  if (p.phase === 'corpus') parts.push(`ETA ${formatDuration(etaSeconds(p, rate))}`);
  return `safesift: ${p.phase} ${parts.join(', ')}`;
}

/**
 * The TTY bar's text. Setup and anchors have no counts, so they show the phase and its elapsed
 * time rather than an empty 0/0 bar; an unknown total shows the count without a bar.
 */
export function formatBarLine(p: AuditProgress, rate: number | null, phaseSeconds: number, bar: (fraction: number) => string): string {
  const phase = p.phase.padEnd(7);
  if (p.phase === 'setup' || p.phase === 'anchors') return ` ${phase} | ${formatDuration(phaseSeconds)}`;
  const f = fraction(p);
  const parts = [f === null ? ` ${phase} | ${countText(p)}` : ` ${phase} |${bar(f)}| ${countText(p)}`, `${formatRate(rate)} ex/s`, `${p.errors} rejected`];
  if (p.phase === 'corpus') parts.push(`ETA ${formatDuration(etaSeconds(p, rate))}`);
  return parts.join(' | ');
}

/** Phase timing shared by both reporters. The rate counts corpus time only: model loading and anchors would drag it down. */
function phaseClock(now: () => number) {
  let phase: AuditProgress['phase'] | null = null;
  let phaseStart = 0;
  let corpusStart: number | null = null;
  let corpusEnd: number | null = null;
  return {
    /** Notes the phase at time t; true when it changed (or is the first). */
    observe(p: AuditProgress, t: number): boolean {
      if (p.phase === phase) return false;
      phase = p.phase;
      phaseStart = t;
      if (p.phase === 'corpus') corpusStart ??= t;
      else if (corpusStart !== null) corpusEnd ??= t;
      return true;
    },
    /** Records done (featurized or rejected) per second of the corpus phase. */
    rate(done: number, t = now()): number | null {
      if (corpusStart === null || done <= 0) return null;
      const seconds = ((corpusEnd ?? t) - corpusStart) / 1000;
      return seconds > 0 ? done / seconds : null;
    },
    phaseSeconds(t = now()): number {
      return (t - phaseStart) / 1000;
    },
  };
}

function lineReporter(stream: ProgressStream, now: () => number, intervalMs: number): ProgressReporter {
  const clock = phaseClock(now);
  let latest: AuditProgress | null = null;
  let stopped = false;
  let lastAt = 0;
  let lastCounts = '';
  let lastText = '';
  const emit = (p: AuditProgress, t: number) => {
    lastText = formatProgressLine(p, clock.rate(p.records, t));
    lastAt = t;
    lastCounts = countsKey(p);
    stream.write(`${lastText}\n`);
  };
  return {
    update(p) {
      if (stopped) return;
      const t = now();
      latest = p;
      if (clock.observe(p, t)) emit(p, t);
      // Quiet while nothing moved: a stalled run shows as no new line rather than repeated ones.
      else if (t - lastAt >= intervalMs && countsKey(p) !== lastCounts) emit(p, t);
    },
    stop() {
      if (stopped || latest === null) return;
      stopped = true;
      const t = now();
      if (formatProgressLine(latest, clock.rate(latest.records, t)) !== lastText) emit(latest, t);
    },
  };
}

function barReporter(stream: ProgressStream, now: () => number): ProgressReporter {
  const clock = phaseClock(now);
  let latest: AuditProgress | null = null;
  let started = false;
  let stopped = false;
  const bar = new cliProgress.SingleBar(
    {
      // cli-progress only calls write (directly and through readline) and reads isTTY/columns.
      stream: stream as unknown as NodeJS.WritableStream,
      format: (opts) => (latest === null ? '' : formatBarLine(latest, clock.rate(latest.records), clock.phaseSeconds(), (f) => cliProgress.Format.BarFormat(f, opts))),
      // Redraws come from cli-progress's own timer at this rate (and from update() at most every two frames).
      fps: 5,
      barsize: 30,
      hideCursor: true,
      // Its own ETA is unused; a one-sample buffer keeps its per-update bookkeeping trivial.
      etaBuffer: 1,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    update(p) {
      if (stopped) return;
      clock.observe(p, now());
      latest = p;
      if (!started) {
        started = true;
        bar.start(1, 0);
      } else {
        bar.update(p.records);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (started) bar.stop();
    },
  };
}

function fraction(p: AuditProgress): number | null {
  if (p.total === null) return null;
  if (p.total <= 0) return 1;
  return Math.min(1, Math.max(0, p.records / p.total));
}

function countText(p: AuditProgress): string {
  const f = fraction(p);
  return f === null ? `${p.records} records` : `${p.records}/${p.total} records (${Math.floor(f * 100)}%)`;
}

function countsKey(p: AuditProgress): string {
  return `${p.records}/${p.scored}/${p.errors}/${p.total}`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
