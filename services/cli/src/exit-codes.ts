import { ConfigError, InputError, ModelError } from '@safesift/core/errors.ts';

/** Process exit codes, stable for scripts. */
export const EXIT = {
  ok: 0,
  /** A bug or an unexpected failure. */
  internal: 1,
  /** Bad options or option combinations. */
  usage: 2,
  /** The checkpoint cannot be loaded or is not supported. */
  model: 3,
  /** An input file cannot be used at all. */
  input: 4,
} as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof ModelError) return EXIT.model;
  if (error instanceof InputError) return EXIT.input;
  return EXIT.internal;
}
