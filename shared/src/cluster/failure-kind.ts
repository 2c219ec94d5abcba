import { ConfigError, InputError, ModelError } from '../errors.ts';
import { CorruptBatchError } from '../distributed/corrupt-batch-error.ts';

/**
 * Errors decide what happens to a message: a bad job (its spec, model or inputs cannot be used)
 * fails for good and is not retried; anything else (network, storage, a crash) is retried.
 */
export function isPermanent(error: unknown): boolean {
  return error instanceof ConfigError || error instanceof ModelError || error instanceof InputError || error instanceof CorruptBatchError;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
