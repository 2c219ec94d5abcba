// Test helpers for files: JSON lines, temp folders, relative errors. The read-only fixtures beside
// the checkout (../shared/fixtures) are not named here: only test-fixtures/ uses them (see
// test-fixtures/fixture-paths.ts). The tests' own model and data are in test-model.ts and test-data.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** First n JSON lines of a file, parsed. */
export function readJsonLines(path: string, n: number): unknown[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).map((l) => JSON.parse(l) as unknown);
}

const created: string[] = [];
// node:test runs each file in its own process: its folders go when it exits, unless kept to look at.
process.once('exit', () => {
  if (process.env.SAFESIFT_KEEP_TEST_DIRS) return;
  for (const dir of created) rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
});

/**
 * A fresh temp folder; the test's caches (graphs, tiny model, fingerprints) go here too. Removed
 * when the test process exits (SAFESIFT_KEEP_TEST_DIRS=1 keeps them).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `safesift-${prefix}-`));
  created.push(dir);
  return dir;
}

/** Max-norm relative error ||a - b||∞ / ||b||∞: robust where entries of b are near zero. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}
