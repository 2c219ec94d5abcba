import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/fixtures.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const STALE = /dist\/cli is older than the sources; running the sources \(slower\): run `npm run build`/;

/** A copy of the project's code (its packages linked), so a test can build and edit without touching the checkout. */
let project: string;
before(() => {
  project = tempDir('cli-build-project');
  for (const path of ['package.json', 'bin', 'scripts', 'shared/src', 'services', 'k8s', 'demo']) cpSync(join(REPO, path), join(project, path), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(project, 'node_modules'), 'dir');
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function node(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: project, env: { ...process.env, ...env }, maxBuffer: 1 << 26 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

const safesift = (args: string[], env: Record<string, string> = {}) => node([join(project, 'bin', 'safesift.mjs'), ...args], env);

test('without a build the command runs the sources; npm run build makes dist/cli, which the command then runs', async () => {
  const unbuilt = await safesift(['--version']);
  assert.equal(unbuilt.code, 0, unbuilt.stderr);
  assert.equal(unbuilt.stdout.trim(), VERSION);
  assert.doesNotMatch(unbuilt.stderr, STALE, 'no bundle is not a stale bundle');

  const build = await node([join(project, 'scripts', 'build-cli.mjs')]);
  assert.equal(build.code, 0, build.stderr);
  assert.match(build.stdout, /CLI bundled into dist\/cli\//);
  for (const file of ['safesift.mjs', 'feature-worker.mjs']) assert.ok(existsSync(join(project, 'dist', 'cli', file)), file);

  // From the bundle: files found through the project root (k8s/, demo/) and the feature worker threads.
  const env = { SAFESIFT_CACHE_DIR: tempDir('cli-build-models') };
  const rendered = await safesift(['k8s', 'render', '--overlay', 'dev'], env);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.match(rendered.stdout, /kind: Deployment/);
  const out = tempDir('cli-build-audit');
  const audited = await safesift(['audit', '--limit', '3', '--threads', '2', '--out', out, '--json'], env);
  assert.equal(audited.code, 0, audited.stderr);
  assert.equal((JSON.parse(audited.stdout) as { counts: { scored: number } }).counts.scored, 3);
  assert.doesNotMatch(rendered.stderr + audited.stderr, STALE);
});

test('a source edited after the build is not hidden by the stale bundle: the command warns and runs the sources until the next build', async () => {
  const build = await node([join(project, 'scripts', 'build-cli.mjs')]);
  assert.equal(build.code, 0, build.stderr);
  const builtAt = statSync(join(project, 'dist', 'cli', 'safesift.mjs')).mtimeMs;
  // The edit must be newer than the bundle, whatever the file system's time resolution.
  await new Promise((resolve) => setTimeout(resolve, 20));
  appendFileSync(join(project, 'services', 'cli', 'src', 'exit-codes.ts'), '\n// edited\n');
  const stale = await safesift(['--version']);
  assert.equal(stale.code, 0, stale.stderr);
  assert.equal(stale.stdout.trim(), VERSION);
  assert.match(stale.stderr, STALE);
  assert.equal(statSync(join(project, 'dist', 'cli', 'safesift.mjs')).mtimeMs, builtAt, 'the command itself builds nothing');

  const rebuilt = await node([join(project, 'scripts', 'build-cli.mjs')]);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  const fresh = await safesift(['--version']);
  assert.deepEqual([fresh.code, fresh.stdout.trim(), STALE.test(fresh.stderr)], [0, VERSION, false]);

  const forced = await safesift(['--version'], { SAFESIFT_NO_BUNDLE: '1' });
  assert.deepEqual([forced.code, forced.stdout.trim(), STALE.test(forced.stderr)], [0, VERSION, false]);
});
