/**
 * Anchor-free self-influence (Guan et al., "Benign Samples Matter", ICML 2025): an example whose
 * own loss gradient is large moves the model most when fine-tuned on. Defined on the unnormalised
 * gradient g of the mean response loss, from its squared norm (GradientScorer.project's first value):
 * - self_inf = ‖g‖²;
 * - self_inf_n = log(‖g‖² + 1) + log(response tokens + 1): a mean loss over more tokens has a smaller
 *   gradient, and the second term removes that length bias (their Self-Inf-N).
 * With the default in-graph projection ‖Pg‖² estimates ‖g‖² (the Rademacher projections are scaled to
 * keep norms in expectation); with `--proj none` it is exact.
 */
export interface SelfInfluence {
  selfInf: number;
  /** Null when the response token count is unknown (a cache entry from before it was kept). */
  selfInfN: number | null;
}

export function selfInfluence(gradientSquaredNorm: number, responseTokens: number | null): SelfInfluence {
  const usable = Number.isFinite(gradientSquaredNorm) && gradientSquaredNorm >= 0;
  const selfInf = usable ? gradientSquaredNorm : NaN;
  if (responseTokens === null) return { selfInf, selfInfN: null };
  return { selfInf, selfInfN: usable ? Math.log1p(gradientSquaredNorm) + Math.log1p(responseTokens) : NaN };
}
