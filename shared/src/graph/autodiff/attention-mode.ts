/**
 * How attention's backward gets the softmax probabilities: 'stored' keeps them from the forward
 * (T² per head per layer; fastest for short examples), 'recomputed' recomputes them block by block
 * (memory linear in T; 1.1–1.3× the time at 512–1024 tokens, BENCHMARKS.md, long-context).
 */
export type AttentionMode = 'stored' | 'recomputed';

/** Longest examples that keep stored probabilities; longer ones recompute. */
export const STORED_ATTENTION_MAX_TOKENS = 1024;

/** The mode for an audit whose examples have at most `maxTokens` tokens. */
export function attentionModeFor(maxTokens: number): AttentionMode {
  return maxTokens <= STORED_ATTENTION_MAX_TOKENS ? 'stored' : 'recomputed';
}
