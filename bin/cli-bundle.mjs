// The CLI's bundle: the TypeScript sources compiled by esbuild into one cached folder, so a command
// starts in a fraction of the time tsx needs to resolve and transpile every module (BENCHMARKS.md,
// incremental). The bundle is keyed by the sources' paths, sizes and modification times, so an
// edited source gets a fresh bundle on the next run. Pure-JavaScript packages that load many small
// modules are bundled too; the rest (native addons, WebAssembly, worker-thread and eval tricks)
// stay in node_modules.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SOURCE_DIRS = ['shared/src', 'services'];
/** Entry points; the pooled feature model spawns `feature-worker.mjs` beside its own chunk. */
const ENTRY_POINTS = {
  safesift: 'services/cli/src/main.ts',
  'feature-worker': 'shared/src/features/feature-worker.ts',
};
/** Packages compiled into the bundle: plain JavaScript that finds no files of its own at run time. */
const BUNDLED_PACKAGES = [
  'apache-arrow',
  'zod',
  'commander',
  'yaml',
  'hyparquet',
  'hyparquet-compressors',
  '@huggingface/jinja',
  'cli-progress',
  '@aws-sdk/',
  '@smithy/',
  '@nats-io/',
];
/** Bundles not used for this long are removed when a new one is built (a running one may still use its own). */
const STALE_MS = 24 * 3600 * 1000;

/**
 * file: URL of the bundled CLI entry, building the bundle if the sources changed; null when no
 * bundle can be had (SAFESIFT_NO_BUNDLE set, esbuild missing, no writable folder): run the sources.
 */
export async function cliBundleEntry() {
  if (process.env.SAFESIFT_NO_BUNDLE) return null;
  const key = sourceKey();
  // $SAFESIFT_CLI_CACHE, else node_modules/.cache, else (a read-only install) the temp folder.
  const bases = process.env.SAFESIFT_CLI_CACHE
    ? [process.env.SAFESIFT_CLI_CACHE]
    : [join(ROOT, 'node_modules', '.cache', 'safesift-cli'), join(tmpdir(), `safesift-cli-${process.getuid?.() ?? 'user'}`)];
  for (const base of bases) {
    const dir = join(base, key);
    const entry = join(dir, 'safesift.mjs');
    if (existsSync(entry)) return pathToFileURL(entry).href;
    try {
      await build(base, dir);
      return pathToFileURL(entry).href;
    } catch (error) {
      if (process.env.SAFESIFT_DEBUG) process.stderr.write(`safesift: no CLI bundle in ${base}: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  return null;
}

/** Hash of every source file's path, size and mtime, plus package.json and this file. */
function sourceKey() {
  const hash = createHash('sha256');
  /** @param {string} path */
  const add = (path) => {
    const s = statSync(path);
    hash.update(`${path}\0${s.size}\0${s.mtimeMs}\n`);
  };
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(rel);
      } else if (/\.(ts|mts|mjs|js|json)$/.test(entry.name)) {
        add(join(ROOT, rel));
      }
    }
  };
  SOURCE_DIRS.forEach(walk);
  add(fileURLToPath(import.meta.url));
  hash.update(readFileSync(join(ROOT, 'package.json')));
  return hash.digest('hex').slice(0, 24);
}

/**
 * Builds into a private folder, then renames it into place: concurrent first runs never see half a bundle.
 * @param {string} base
 * @param {string} dir
 */
async function build(base, dir) {
  const esbuild = await import('esbuild');
  mkdirSync(base, { recursive: true });
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: ENTRY_POINTS,
      bundle: true,
      splitting: true, // lazily imported modules (the Kubernetes client) stay lazy
      platform: 'node',
      format: 'esm',
      target: 'node20',
      plugins: [externalPackagesExcept(BUNDLED_PACKAGES)],
      // Bundled CommonJS packages call require(), which an ES module lacks.
      banner: { js: "import { createRequire as __safesiftCreateRequire } from 'node:module'; const require = __safesiftCreateRequire(import.meta.url);" },
      outdir: staging,
      outExtension: { '.js': '.mjs' },
      sourcemap: 'linked',
      logLevel: 'silent',
      // The bundle may live outside the project (SAFESIFT_CLI_CACHE, the temp folder): name its root.
      define: { __SAFESIFT_PROJECT_ROOT__: JSON.stringify(ROOT) },
    });
    // External packages resolve from the bundle's folder upwards: outside the project, link its packages in.
    const packages = join(ROOT, 'node_modules');
    if (relative(packages, staging).startsWith('..')) symlinkSync(packages, join(staging, 'node_modules'), 'dir');
    try {
      renameSync(staging, dir);
    } catch (error) {
      // Another process finished the same bundle first: use theirs.
      if (!existsSync(join(dir, 'safesift.mjs'))) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  removeStale(base, dir);
}

/**
 * An esbuild plugin leaving the packages our sources import external, except those named (or
 * under a named scope). What a bundled package imports is bundled with it, resolved by esbuild
 * from that package's folder, so nested versions stay the ones it was installed with.
 * @param {string[]} bundled
 * @returns {import('esbuild').Plugin}
 */
function externalPackagesExcept(bundled) {
  /** @param {string} path */
  const isBundled = (path) => bundled.some((name) => (name.endsWith('/') ? path.startsWith(name) : path === name || path.startsWith(`${name}/`)));
  return {
    name: 'external-packages',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith('node:') || args.importer.includes('/node_modules/') || isBundled(args.path)) return undefined;
        return { path: args.path, external: true };
      });
    },
  };
}

/**
 * @param {string} base
 * @param {string} keep
 */
function removeStale(base, keep) {
  for (const name of readdirSync(base)) {
    const path = join(base, name);
    if (path === keep) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}
