import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Set by the CLI's bundle (scripts/build-cli.mjs, `npm run build`). */
declare const __SAFESIFT_PROJECT_ROOT__: string | undefined;

/**
 * The folder holding safesift's package.json (a checkout or an install): the same code runs from
 * shared/src under tsx and from the CLI's bundle, so paths relative to import.meta.url would
 * differ between the two. The bundle names the root; the sources find it by walking up.
 */
export const PROJECT_ROOT: string =
  typeof __SAFESIFT_PROJECT_ROOT__ === 'string' ? __SAFESIFT_PROJECT_ROOT__ : findProjectRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the project (k8s/, demo/, package.json). */
export const projectPath = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);

function findProjectRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'safesift') return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find safesift's package.json above ${start}`);
  }
}
