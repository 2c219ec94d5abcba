import type { TokenizedExample } from '../prompt/tokenized.ts';

/** Features of one example, as the method uses them. */
export interface ExampleFeatures {
  /** Final-norm hidden state at the last real token (length hidden_size). */
  representation: Float32Array;
  /** Mean cross-entropy over the label positions. */
  loss: number;
  /** Per-example gradient of `loss` w.r.t. the probed parameters (projected or exact), not normalised. */
  gradient: Float32Array;
  /**
   * Residual-stream states after each direction layer, [2·L × hidden_size]: per layer the state at
   * the last prompt token, then the mean over the response (label) tokens. Empty without layers.
   */
  layerStates: Float32Array;
}

export interface FeatureModelInfo {
  /** Content fingerprint of the checkpoint (sha256 hex). */
  fingerprint: string;
  /** Which parameters the gradient covers, e.g. "lm_head". */
  probe: string;
  /** "none" or e.g. "kron:64x128". */
  projection: string;
  representationDim: number;
  gradientDim: number;
  /** Decoder layers (0-based, sorted) of `layerStates`; empty when none. */
  directionLayers: number[];
}

/** Computes features for a batch of tokenized examples. ONNX in production; a fake in unit tests. */
export interface FeatureModel {
  readonly info: FeatureModelInfo;
  /** Batches worth keeping in flight at once (a worker pool's size; default 1). */
  readonly concurrency?: number;
  featurize(batch: readonly TokenizedExample[]): Promise<ExampleFeatures[]>;
  close(): Promise<void>;
}
