// `npm run build` (run by `prepare` after `npm ci`, and by the images): bundles the CLI's
// TypeScript sources with esbuild into dist/cli, so a command starts in a fraction of the time tsx
// needs to resolve and transpile every module. bin/safesift.mjs runs the bundle, or the sources
// through tsx when there is none or a source is newer (with a warning). Pure-JavaScript packages
// that load many small modules are bundled too; the rest (native addons, WebAssembly, worker-thread
// and eval tricks) stay in node_modules.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
/** Entry points; the pooled feature model spawns `feature-worker.mjs` beside its own chunk. */
const ENTRY_POINTS = {
  safesift: 'services/cli/src/main.ts',
  'feature-worker': 'shared/src/features/feature-worker.ts',
};
/** Packages compiled into the bundle: plain JavaScript that finds no files of its own at run time. */
const BUNDLED_PACKAGES = [
  '@safesift/', // our own workspace packages
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
const OUT = join(ROOT, 'dist', 'cli');

/** Builds into a private folder, then swaps it into place: a command never sees half a bundle. */
async function build() {
  const esbuild = await import('esbuild');
  const staging = `${OUT}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(dirname(OUT), { recursive: true });
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
      logLevel: 'warning',
      define: { __SAFESIFT_PROJECT_ROOT__: JSON.stringify(ROOT) },
    });
    const old = `${OUT}.old-${process.pid}`;
    if (existsSync(OUT)) renameSync(OUT, old);
    renameSync(staging, OUT);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
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

const started = performance.now();
await build();
console.log(`safesift: CLI bundled into ${relative(ROOT, OUT)}/ in ${Math.round(performance.now() - started)} ms`);
