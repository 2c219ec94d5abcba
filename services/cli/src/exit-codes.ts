import { ConfigError, InputError, InterruptedError, ModelError, OutputError, UnusableInputError } from '@safesift/core/errors.ts';

/** Process exit codes, stable for scripts. */
export const EXIT = {
  ok: 0,
  /** A bug or an unexpected failure. */
  internal: 1,
  /** Bad options or option combinations. */
  usage: 2,
  /** The checkpoint cannot be loaded or is not supported. */
  model: 3,
  /** An input file (corpus or anchors) cannot be used at all. */
  input: 4,
  /** The output folder cannot be written. */
  output: 5,
  /** Stopped by Ctrl-C (SIGINT), as shells count it: 128 + 2. */
  sigint: 130,
  /** Stopped by SIGTERM: 128 + 15. */
  sigterm: 143,
} as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof ModelError) return EXIT.model;
  if (error instanceof InputError || error instanceof UnusableInputError) return EXIT.input;
  if (error instanceof OutputError) return EXIT.output;
  if (error instanceof InterruptedError) return error.signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
  return EXIT.internal;
}
