import { ConfigError } from '../errors.ts';
import { NoLabelsError } from './prompt-errors.ts';
import type { TokenizedExample } from './tokenized.ts';

export interface EncodeOptions {
  /** Keep at most this many ids of the full example (EOS included when it fits). */
  maxTokens: number;
  /** Count only the first N label positions (the paper's anchors: 10). */
  responseTokenLimit?: number;
}

export function checkEncodeOptions(opts: EncodeOptions): void {
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 2) {
    throw new ConfigError(`max tokens must be an integer >= 2, got ${opts.maxTokens}`);
  }
  const limit = opts.responseTokenLimit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new ConfigError(`response token limit must be a positive integer, got ${limit}`);
  }
}

/**
 * Truncates the full example (EOS already appended) and marks positions >= promptLength as labels,
 * each weighted 1/labelCount so the weighted cross-entropy is the mean response loss.
 */
export function buildTokenizedExample(
  fullIds: readonly number[],
  promptLength: number,
  opts: EncodeOptions,
): TokenizedExample {
  const truncated = fullIds.length > opts.maxTokens;
  const length = truncated ? opts.maxTokens : fullIds.length;
  const ids = Int32Array.from(fullIds.slice(0, length));
  // Position 0 has nothing before it to be predicted from.
  const labelStart = Math.max(promptLength, 1);
  const labelEnd = Math.min(length, labelStart + (opts.responseTokenLimit ?? Number.POSITIVE_INFINITY));
  const labelCount = Math.max(0, labelEnd - labelStart);
  if (labelCount === 0) throw new NoLabelsError(opts.maxTokens);
  const lossWeights = new Float32Array(length);
  lossWeights.fill(1 / labelCount, labelStart, labelEnd);
  return { ids, lossWeights, labelCount, truncated };
}
