/** An example turned into model input: token ids and which positions are labels. */
export interface TokenizedExample {
  /** Token ids, BOS first; ends with EOS unless truncated. */
  ids: Int32Array;
  /**
   * Loss weight per position, same length as `ids`: weight[t] > 0 means token ids[t] is a label
   * (predicted from position t-1). Weights of one example sum to 1, so the weighted sum of
   * per-token cross-entropies is the mean response loss.
   */
  lossWeights: Float32Array;
  /** Number of label positions with non-zero weight. */
  labelCount: number;
  /** True when the example was cut at max tokens. */
  truncated: boolean;
}
