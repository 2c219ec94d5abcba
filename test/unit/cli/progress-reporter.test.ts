import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditProgress } from '../../../shared/src/audit/run-audit.ts';
import {
  createProgressReporter,
  etaSeconds,
  formatBarLine,
  formatDuration,
  formatProgressLine,
  formatRate,
} from '../../../services/cli/src/progress-reporter.ts';

/** Collects writes; isTTY true is enough for cli-progress (it writes escape codes through readline). */
function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 160, write: (chunk: string) => (writes.push(chunk), true) } };
}

function fakeClock(start = 0) {
  let t = start;
  return { now: () => t, set: (ms: number) => void (t = ms) };
}

const progress = (p: Partial<AuditProgress> & Pick<AuditProgress, 'phase'>): AuditProgress => ({ records: 0, scored: 0, errors: 0, total: null, ...p });
const BAD = /NaN|Infinity|NF|undefined/;
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');

test('formatDuration: s, m+ss, h+mm; "-" for no estimate', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(12), '12s');
  assert.equal(formatDuration(12.4), '12s');
  assert.equal(formatDuration(59.6), '1m00s');
  assert.equal(formatDuration(245), '4m05s');
  assert.equal(formatDuration(3599), '59m59s');
  assert.equal(formatDuration(3600), '1h00m');
  assert.equal(formatDuration(3720), '1h02m');
  assert.equal(formatDuration(30 * 3600 + 5 * 60), '30h05m');
  for (const none of [null, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1]) assert.equal(formatDuration(none), '-');
});

test('etaSeconds and formatRate: only with a rate and a total, in the corpus phase', () => {
  const p = progress({ phase: 'corpus', records: 1000, scored: 990, errors: 10, total: 2000 });
  assert.equal(etaSeconds(p, 10), 100);
  assert.equal(etaSeconds(p, null), null);
  assert.equal(etaSeconds(p, 0), null);
  assert.equal(etaSeconds(p, Number.NaN), null);
  assert.equal(etaSeconds({ ...p, total: null }, 10), null);
  assert.equal(etaSeconds({ ...p, phase: 'writing' }, 10), null);
  assert.equal(etaSeconds({ ...p, records: 2500 }, 10), 0, 'an estimate too low gives 0, not a negative');
  assert.equal(formatRate(3.14159), '3.1');
  assert.equal(formatRate(null), '-');
  assert.equal(formatRate(Number.POSITIVE_INFINITY), '-');
});

test('formatProgressLine: known and unknown totals, setup and writing', () => {
  const p = progress({ phase: 'corpus', records: 1200, scored: 1180, errors: 20, total: 5000 });
  assert.equal(formatProgressLine(p, 3.1), 'safesift: corpus 1200/5000 records (24%), 1180 scored, 20 rejected, 3.1 ex/s, ETA 20m26s');
  assert.equal(formatProgressLine({ ...p, total: null }, 3.1), 'safesift: corpus 1200 records, 1180 scored, 20 rejected, 3.1 ex/s, ETA -');
  assert.equal(formatProgressLine({ ...p, scored: 0, records: 0 }, null), 'safesift: corpus 0/5000 records (0%), 0 scored, 20 rejected, - ex/s, ETA -');
  assert.equal(formatProgressLine(progress({ phase: 'setup' }), null), 'safesift: setup');
  assert.equal(formatProgressLine({ ...p, phase: 'writing', records: 5000 }, 3.1), 'safesift: writing 5000/5000 records (100%), 1180 scored, 20 rejected, 3.1 ex/s');
  assert.equal(formatProgressLine({ ...p, total: 0, records: 0 }, null), 'safesift: corpus 0/0 records (100%), 1180 scored, 20 rejected, - ex/s, ETA -', 'an empty corpus is done, not NaN%');
});

test('formatBarLine: phase and elapsed time before the corpus; no bar, no /0 for an unknown total', () => {
  const bar = (f: number) => `[${Math.round(f * 10)}]`;
  assert.equal(formatBarLine(progress({ phase: 'anchors' }), null, 65, bar), ' anchors | 1m05s');
  const p = progress({ phase: 'corpus', records: 1200, scored: 1180, errors: 20, total: null });
  assert.equal(formatBarLine(p, null, 1, bar), ' corpus  | 1200 records | - ex/s | 20 rejected | ETA -');
  assert.equal(formatBarLine({ ...p, total: 2400 }, 12, 1, bar), ' corpus  |[5]| 1200/2400 records (50%) | 12.0 ex/s | 20 rejected | ETA 1m40s');
});

test('plain lines: one per phase change, then one per interval while counts move, a last one at stop', () => {
  const { writes, stream } = fakeStream(false);
  const clock = fakeClock(1_000);
  const reporter = createProgressReporter({ stream, intervalMs: 5_000, now: clock.now });
  reporter.update(progress({ phase: 'setup' }));
  clock.set(61_000);
  reporter.update(progress({ phase: 'anchors' }));
  clock.set(121_000);
  reporter.update(progress({ phase: 'corpus', total: 1100 }));
  // Many updates within an interval: no line.
  for (let i = 1; i <= 100; i++) {
    clock.set(121_000 + i * 40);
    reporter.update(progress({ phase: 'corpus', records: i, scored: i, total: 1100 }));
  }
  assert.equal(writes.length, 3);
  clock.set(131_000);
  reporter.update(progress({ phase: 'corpus', records: 100, scored: 100, total: 1100 }));
  // Interval passed but nothing moved: still quiet.
  clock.set(140_000);
  reporter.update(progress({ phase: 'corpus', records: 100, scored: 100, total: 1100 }));
  clock.set(141_000);
  reporter.update(progress({ phase: 'corpus', records: 200, scored: 190, errors: 10, total: 1100 }));
  clock.set(151_000);
  reporter.update(progress({ phase: 'writing', records: 1100, scored: 1090, errors: 10, total: 1100 }));
  clock.set(200_000);
  reporter.stop();
  reporter.stop();
  reporter.update(progress({ phase: 'corpus', records: 1, total: 1 }));

  assert.deepEqual(writes, [
    'safesift: setup\n',
    'safesift: anchors\n',
    'safesift: corpus 0/1100 records (0%), 0 scored, 0 rejected, - ex/s, ETA -\n',
    // 100 scored in the 10 s since the corpus began (setup and anchors excluded): 10 ex/s, 1000 records left.
    'safesift: corpus 100/1100 records (9%), 100 scored, 0 rejected, 10.0 ex/s, ETA 1m40s\n',
    'safesift: corpus 200/1100 records (18%), 190 scored, 10 rejected, 10.0 ex/s, ETA 1m30s\n',
    // The rate stops at the corpus's end: 1090 in 30 s.
    'safesift: writing 1100/1100 records (100%), 1090 scored, 10 rejected, 36.7 ex/s\n',
  ]);
  const all = writes.join('');
  assert.doesNotMatch(all, BAD);
  assert.doesNotMatch(all, /\x1b/);
});

test('plain lines: unknown total, final line at stop when the counts moved', () => {
  const { writes, stream } = fakeStream(false);
  const clock = fakeClock();
  const reporter = createProgressReporter({ stream, now: clock.now });
  reporter.update(progress({ phase: 'corpus' }));
  clock.set(2_000);
  reporter.update(progress({ phase: 'corpus', records: 300, scored: 256, errors: 44 }));
  reporter.stop();
  assert.deepEqual(writes, [
    'safesift: corpus 0 records, 0 scored, 0 rejected, - ex/s, ETA -\n',
    'safesift: corpus 300 records, 256 scored, 44 rejected, 150.0 ex/s, ETA -\n',
  ]);
});

test('no updates, no output; createProgressReporter() takes no arguments', () => {
  const { writes, stream } = fakeStream(false);
  const reporter = createProgressReporter({ stream });
  reporter.stop();
  assert.deepEqual(writes, []);
  createProgressReporter().stop();
});

test('TTY bar: phase names before the corpus, counts without /0, a throttled redraw', () => {
  const { writes, stream } = fakeStream(true);
  const clock = fakeClock();
  const reporter = createProgressReporter({ stream, now: clock.now });
  reporter.update(progress({ phase: 'setup' }));
  const setupText = stripAnsi(writes.join(''));
  assert.match(setupText, /setup {3}\| 0s/);
  clock.set(5_000);
  reporter.update(progress({ phase: 'anchors' }));
  clock.set(10_000);
  reporter.update(progress({ phase: 'corpus' }));
  const before = writes.length;
  // Hundreds of updates in a burst: cli-progress redraws at most a few times.
  for (let i = 1; i <= 5_000; i++) {
    clock.set(10_000 + i);
    reporter.update(progress({ phase: 'corpus', records: i, scored: i }));
  }
  assert.ok(writes.length - before < 40, `${writes.length - before} writes for 5000 updates`);
  reporter.stop();
  const text = stripAnsi(writes.join(''));
  assert.match(text, /corpus {2}\| 5000 records \| 1000\.0 ex\/s \| 0 rejected \| ETA -\s*$/);
  assert.doesNotMatch(text, BAD);
  assert.doesNotMatch(text, /\/0 records|0\/0/);
});

test('TTY bar: known total shows the bar, percent and an ETA', () => {
  const { writes, stream } = fakeStream(true);
  const clock = fakeClock();
  const reporter = createProgressReporter({ stream, now: clock.now });
  reporter.update(progress({ phase: 'corpus', total: 2000 }));
  clock.set(50_000);
  reporter.update(progress({ phase: 'corpus', records: 500, scored: 500, total: 2000 }));
  reporter.stop();
  const text = stripAnsi(writes.join(''));
  assert.match(text, /corpus {2}\|█{8}░{22}\| 500\/2000 records \(25%\) \| 10\.0 ex\/s \| 0 rejected \| ETA 2m30s/);
  assert.doesNotMatch(text, BAD);
});
