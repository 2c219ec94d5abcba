import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OutputError } from '../errors.ts';

/**
 * What an audit writes into its folder; summary.json last, so its presence means "this run
 * finished". report.html (`safesift report`) is a view of the others, so it goes with them.
 */
export const AUDIT_OUTPUTS = ['summary.json', 'report.html', 'topk.parquet', 'bottomk.parquet', 'scores.parquet', 'errors.jsonl', 'anchor-errors.jsonl'] as const;

/**
 * Makes `dir` ready for a new run before any work starts: it must be (or become) a writable folder,
 * and an older run's outputs are removed, summary.json first, so a run that fails or is
 * interrupted never leaves a previous summary and top-k looking like its own results. Other files
 * in the folder are left alone.
 */
export async function prepareOutputFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw unusable(dir, error);
  });
  if (info !== null && !info.isDirectory()) throw new OutputError(`--out ${dir} is a file, not a folder: choose another --out or remove the file`);
  try {
    await mkdir(dir, { recursive: true });
    // mkdir succeeds on an existing read-only folder: only a write shows it is usable.
    const probe = join(dir, `.safesift-write-test-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
    for (const name of AUDIT_OUTPUTS) await rm(join(dir, name), { force: true });
    for (const name of await readdir(dir)) if (name.endsWith('.partial')) await rm(join(dir, name), { force: true });
  } catch (error) {
    throw unusable(dir, error as NodeJS.ErrnoException);
  }
}

function unusable(dir: string, error: NodeJS.ErrnoException): OutputError {
  const why = error.code === 'EACCES' || error.code === 'EPERM' || error.code === 'EROFS' ? 'is not writable' : error.code === 'ENOTDIR' ? 'has a file where a folder should be' : 'cannot be used';
  return new OutputError(`--out ${dir} ${why} (${error.code ?? error.message}): choose a folder you can write to`, { cause: error });
}
