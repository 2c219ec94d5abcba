#!/usr/bin/env node
// The package's command. Runs the CLI's bundle (dist/cli, built by `npm run build`, which `npm ci`
// runs through `prepare`), or the TypeScript sources through tsx when there is no bundle, when a
// source is newer than it (with a one-line warning: a stale bundle must not run silently), or
// when SAFESIFT_NO_BUNDLE is set.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BUNDLE = join(ROOT, 'dist', 'cli', 'safesift.mjs');
const SOURCE_DIRS = ['shared/src', 'services'];

/**
 * The newest modification time of a source file under `dir` (ms).
 * @param {string} dir
 * @returns {number}
 */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') newest = Math.max(newest, newestSource(path));
    } else if (/\.(ts|mts|mjs|js|json)$/.test(entry.name)) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

/** @returns {string | null} */
function bundleToRun() {
  if (process.env.SAFESIFT_NO_BUNDLE || !existsSync(BUNDLE)) return null;
  const sources = Math.max(...SOURCE_DIRS.map((dir) => newestSource(join(ROOT, dir))), statSync(join(ROOT, 'package.json')).mtimeMs);
  if (sources > statSync(BUNDLE).mtimeMs) {
    process.stderr.write('safesift: dist/cli is older than the sources; running the sources (slower): run `npm run build`\n');
    return null;
  }
  return BUNDLE;
}

const bundle = bundleToRun();
if (bundle !== null) {
  // Stack traces (SAFESIFT_DEBUG) point into the sources, not the bundle.
  if (process.env.SAFESIFT_DEBUG) process.setSourceMapsEnabled(true);
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../services/cli/src/main.ts');
}
