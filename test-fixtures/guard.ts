// Imported first by every test in test-fixtures/, and run on its own before them by
// `npm run test:fixtures`: without the fixtures, say in one line what is needed and exit non-zero.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DATA, FIXTURES, STORIES260K } from './fixture-paths.ts';

if (![DATA, join(STORIES260K, 'model.safetensors')].every((path) => existsSync(path))) {
  process.stderr.write(`test:fixtures needs the read-only fixtures at ${FIXTURES} (../shared/fixtures beside the checkout)\n`);
  process.exit(1);
}
