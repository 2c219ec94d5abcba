import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/fixtures.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** A copy of the project's code (its packages linked), so a test can edit sources without touching the checkout. */
let project: string;
before(() => {
  project = tempDir('cli-bundle-project');
  for (const path of ['package.json', 'bin', 'shared/src', 'services', 'k8s', 'demo']) cpSync(join(REPO, path), join(project, path), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(project, 'node_modules'), 'dir');
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(project, 'bin', 'safesift.mjs'), ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 26 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

const bundles = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

test('the CLI runs from a bundle built on first use, reused until a source changes', async () => {
  const cache = tempDir('cli-bundles');
  const env = { SAFESIFT_CLI_CACHE: cache, SAFESIFT_CACHE_DIR: tempDir('cli-bundle-models') };

  const first = await run(['--version'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.trim(), VERSION);
  const [built] = bundles(cache);
  assert.ok(built !== undefined && bundles(cache).length === 1, `one bundle in ${bundles(cache).join(', ')}`);
  for (const file of ['safesift.mjs', 'feature-worker.mjs']) assert.ok(existsSync(join(cache, built, file)), file);
  const builtAt = statSync(join(cache, built, 'safesift.mjs')).mtimeMs;

  // From the bundle: files found through the project root (k8s/, demo/) and the feature worker threads.
  const rendered = await run(['k8s', 'render', '--overlay', 'dev'], env);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.match(rendered.stdout, /kind: Deployment/);
  const out = tempDir('cli-bundle-audit');
  const audited = await run(['audit', '--limit', '3', '--threads', '2', '--out', out, '--json'], env);
  assert.equal(audited.code, 0, audited.stderr);
  assert.equal((JSON.parse(audited.stdout) as { counts: { scored: number } }).counts.scored, 3);
  assert.deepEqual(bundles(cache), [built]);
  assert.equal(statSync(join(cache, built, 'safesift.mjs')).mtimeMs, builtAt);

  // An edited source gets a new bundle on the next run.
  appendFileSync(join(project, 'services', 'cli', 'src', 'exit-codes.ts'), '\n// edited\n');
  const edited = await run(['--version'], env);
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(bundles(cache).length, 2);

  // SAFESIFT_NO_BUNDLE runs the TypeScript sources through tsx, building nothing.
  const direct = await run(['--version'], { ...env, SAFESIFT_NO_BUNDLE: '1' });
  assert.equal(direct.code, 0, direct.stderr);
  assert.equal(direct.stdout.trim(), VERSION);
  assert.equal(bundles(cache).length, 2);
});

test('commands started together on a fresh install all run, and share one complete bundle', async () => {
  const cache = tempDir('cli-bundles-concurrent');
  const runs = await Promise.all(Array.from({ length: 4 }, () => run(['--version'], { SAFESIFT_CLI_CACHE: cache })));
  for (const r of runs) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), VERSION);
  }
  const names = bundles(cache);
  assert.equal(names.length, 1, `bundles: ${names.join(', ')}`); // no staging folder left behind
  assert.ok(existsSync(join(cache, names[0]!, 'safesift.mjs')));
});
