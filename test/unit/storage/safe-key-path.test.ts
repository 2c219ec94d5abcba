import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../../shared/src/errors.ts';
import { safeKeyPath } from '../../../shared/src/storage/safe-key-path.ts';

const ROOT = resolve('/tmp/safesift-downloads');

test('good keys, nested folders included, resolve under the root', () => {
  assert.equal(safeKeyPath(ROOT, 'topk.parquet'), join(ROOT, 'topk.parquet'));
  assert.equal(safeKeyPath(ROOT, 'scores/part-000001.parquet'), join(ROOT, 'scores', 'part-000001.parquet'));
  assert.equal(safeKeyPath(ROOT, 'a/b/c/d.txt'), join(ROOT, 'a', 'b', 'c', 'd.txt'));
  // Dots inside names are not '.' or '..' segments.
  assert.equal(safeKeyPath(ROOT, '..a/b..'), join(ROOT, '..a', 'b..'));
  assert.equal(safeKeyPath(ROOT, '.hidden/...'), join(ROOT, '.hidden', '...'));
  assert.equal(safeKeyPath('relative/dir', 'x'), resolve('relative/dir', 'x'));
});

test('the prefix is stripped, and a key outside it is refused', () => {
  assert.equal(safeKeyPath(ROOT, 'out/job-1/scores/p.parquet', { prefix: 'out/job-1/' }), join(ROOT, 'scores', 'p.parquet'));
  assert.throws(() => safeKeyPath(ROOT, 'out/job-2/x', { prefix: 'out/job-1/' }), /not under the prefix "out\/job-1\/"/);
  assert.throws(() => safeKeyPath(ROOT, 'out/job-1/', { prefix: 'out/job-1/' }), /names no file/);
});

const HOSTILE: [key: string, why: RegExp][] = [
  ['../x', /'\.' or '\.\.' segment/],
  ['a/../../x', /'\.' or '\.\.' segment/],
  ['a/..', /'\.' or '\.\.' segment/],
  ['..', /'\.' or '\.\.' segment/],
  ['/etc/passwd', /absolute path/],
  ['a\\..\\x', /backslash/],
  ['..\\..\\x', /backslash/],
  ['C:\\Windows\\x', /backslash/],
  ['a/./b', /'\.' or '\.\.' segment/],
  ['./a', /'\.' or '\.\.' segment/],
  ['a//b', /empty segment/],
  ['a/', /empty segment/],
  ['a\0b', /NUL/],
  ['../\0', /NUL/],
  ['', /names no file/],
];

for (const [key, why] of HOSTILE) {
  test(`refuses ${JSON.stringify(key)} with InputError naming the key and why`, () => {
    assert.throws(
      () => safeKeyPath(ROOT, key, { store: 's3://bucket' }),
      (err: unknown) => {
        assert.ok(err instanceof InputError, String(err));
        assert.equal(err.row, -1);
        assert.match(err.reason, why);
        // One line, with the key quoted so a NUL shows as \u0000 rather than raw.
        assert.ok(err.message.includes(`object key ${JSON.stringify(key)} in s3://bucket`), err.message);
        assert.ok(!err.message.includes('\n') && !err.message.includes('\0'), err.message);
        assert.ok(err.message.includes(ROOT), err.message);
        return true;
      },
    );
  });
}

test('hostile keys are refused after the prefix too', () => {
  for (const key of ['out/j/../../x', 'out/j//etc/passwd', 'out/j/a\\..\\..\\x', 'out/j/./x']) {
    assert.throws(() => safeKeyPath(ROOT, key, { prefix: 'out/j/' }), InputError, key);
  }
});

test('allowBackslash takes "\\" as a name character (POSIX local files), still inside the root', () => {
  const path = safeKeyPath(ROOT, 'a\\..\\x', { allowBackslash: true });
  if (process.platform !== 'win32') assert.equal(path, join(ROOT, 'a\\..\\x'));
  assert.ok(path.startsWith(ROOT));
  assert.throws(() => safeKeyPath(ROOT, 'a/../x', { allowBackslash: true }), InputError);
});
