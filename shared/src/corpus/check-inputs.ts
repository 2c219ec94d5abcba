import { access, constants, stat } from 'node:fs/promises';
import { InputError } from '../errors.ts';

/**
 * Every local input must exist and be a readable file with a known extension before any work
 * starts (compileAuditOptions already refused unknown extensions): a typo in the second of three --data files should stop the run at once (exit 4), not
 * surface hours later as one rejected "record". `what` names the flag in the message.
 */
export async function checkInputFiles(paths: readonly string[], what: string): Promise<void> {
  for (const path of paths) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? 'no such file' : `cannot be read (${error.code ?? error.message})`;
      throw new InputError(path, -1, `${why}: check the ${what} path`, { cause: error });
    });
    if (!info.isFile()) throw new InputError(path, -1, `is not a file: ${what} takes a .jsonl, .json or .parquet file`);
    await access(path, constants.R_OK).catch((error: NodeJS.ErrnoException) => {
      throw new InputError(path, -1, `cannot be read (${error.code ?? error.message}): check its permissions`, { cause: error });
    });
  }
}
