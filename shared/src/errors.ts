/**
 * Typed errors: the kind of error decides what happens next.
 * - InputError: one record (or file) is bad; it is reported and skipped, the job goes on.
 * - ConfigError: the user asked for something invalid; the job stops before doing work.
 * - ModelError: a checkpoint we cannot load or do not support.
 */
export class SafesiftError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ConfigError extends SafesiftError {}

export class ModelError extends SafesiftError {}

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
