/**
 * Typed errors: the kind of error decides what happens next.
 * - InputError: one record (or file) is bad; it is reported and skipped, the job goes on.
 * - ConfigError: the user asked for something invalid; the job stops before doing work.
 * - ModelError: a checkpoint we cannot load or do not support.
 * - OutputError: the output folder cannot be written.
 * - UnusableInputError: a whole input (a corpus file, an anchor set) gave too few usable records.
 * - InterruptedError: the user stopped the run (SIGINT/SIGTERM).
 */
export class SafesiftError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ConfigError extends SafesiftError {}

export class ModelError extends SafesiftError {}

export class OutputError extends SafesiftError {}

export class InterruptedError extends SafesiftError {
  constructor(
    readonly signal: 'SIGINT' | 'SIGTERM',
    detail?: string,
  ) {
    super(`interrupted by ${signal}${detail ? `: ${detail}` : ''}`);
  }
}

/** A bad record or file; `source` is the file, `row` the 0-based record index (-1 for the whole file). */
export class InputError extends SafesiftError {
  constructor(
    readonly source: string,
    readonly row: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}${row >= 0 ? ` record ${row}` : ''}: ${reason}`, options);
  }
}

/** Inputs that could not be used at all; the outputs of what could be used are already written. */
export class UnusableInputError extends SafesiftError {}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Whether an I/O failure may go away by itself (network trouble, an overloaded store), as
 * opposed to one that names a problem with the input (missing, forbidden, unreadable). Storage
 * errors say so with a `transient` property (ObjectStoreError); system errors by their code.
 */
export function isTransientIoError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, name, transient } = e as { code?: unknown; name?: unknown; transient?: unknown };
    if (typeof transient === 'boolean') return transient;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    if (name === 'TimeoutError') return true;
    if (e instanceof Error && e.message === 'aborted') return true; // an HTTP body cut off mid-stream
  }
  return false;
}
