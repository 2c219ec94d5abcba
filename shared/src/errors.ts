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
