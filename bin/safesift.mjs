#!/usr/bin/env node
// The package's command. Runs the CLI from its esbuild bundle (cli-bundle.mjs: built on first use,
// rebuilt when a source changes), or from the TypeScript sources through tsx when there is none.
import { cliBundleEntry } from './cli-bundle.mjs';

const bundle = await cliBundleEntry();
if (bundle !== null) {
  // Stack traces (SAFESIFT_DEBUG) point into the sources, not the bundle.
  if (process.env.SAFESIFT_DEBUG) process.setSourceMapsEnabled(true);
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../services/cli/src/main.ts');
}
