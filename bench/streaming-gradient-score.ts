// The gradient score of method.md §3 for features too big to hold many of (exact full gradients of
// a 58M model are 232 MB each): anchor targets are summed one batch at a time and every example
// gradient is scored as soon as its batch is done, then dropped.
import { lengthBuckets, type BatchLimits } from '../shared/src/features/featurize-batches.ts';
import type { FeatureModel } from '../shared/src/features/feature-model.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { dotRows, isUsableNorm, l2norm, paddedRows } from '../shared/src/scoring/vector-math.ts';
import type { AnchorExamples } from './probe-fidelity.ts';

/** Featurizes `examples` in length buckets and hands each gradient, with its input index, to `visit`. */
async function forEachGradient(
  model: FeatureModel,
  examples: readonly TokenizedExample[],
  limits: BatchLimits,
  visit: (index: number, gradient: Float32Array) => void,
): Promise<void> {
  for (const batch of lengthBuckets(examples.map((e) => e.ids.length), limits)) {
    const features = await model.featurize(batch.map((i) => examples[i]!));
    features.forEach((f, j) => visit(batch[j]!, f.gradient));
  }
}

/** Per-set targets (mean normalised anchor gradient, not re-normalised) and their weights, as GradientScorer scores them. */
export class StreamedTargets {
  private readonly dots: Float64Array;

  private constructor(
    readonly dim: number,
    /** Targets row-major [sets × dim], zero-padded for dotRows. */
    private readonly matrix: Float64Array,
    private readonly weights: readonly number[],
  ) {
    this.dots = new Float64Array(matrix.length / dim);
  }

  static async build(model: FeatureModel, anchors: AnchorExamples, limits: BatchLimits): Promise<StreamedTargets> {
    const dim = model.info.gradientDim;
    const matrix = paddedRows(anchors.length, dim);
    for (const [s, { spec, examples }] of anchors.entries()) {
      const row = matrix.subarray(s * dim, (s + 1) * dim);
      await forEachGradient(model, examples, limits, (i, g) => {
        const n = l2norm(g);
        if (!isUsableNorm(n)) throw new Error(`anchor ${i} of set ${spec.name} has a zero or non-finite gradient`);
        const scale = 1 / (n * examples.length);
        for (let j = 0; j < dim; j++) row[j]! += g[j]! * scale;
      });
    }
    return new StreamedTargets(dim, matrix, anchors.map((a) => a.spec.weight));
  }

  /** Σ_sets weight × dot(g / |g|, target); NaN for a gradient without direction. */
  score(g: Float32Array): number {
    if (g.length !== this.dim) throw new RangeError(`gradient has ${g.length} dims, expected ${this.dim}`);
    const n = Math.sqrt(dotRows(g, this.matrix, this.dots));
    if (!isUsableNorm(n)) return NaN;
    return this.weights.reduce((sum, w, s) => sum + (w * this.dots[s]!) / n, 0);
  }
}

/** Bi-directional gradient scores of `examples`; `seconds` times the corpus (featurize + score), `anchorSeconds` the targets. */
export async function streamedScores(
  model: FeatureModel,
  anchors: AnchorExamples,
  examples: readonly TokenizedExample[],
  limits: BatchLimits,
): Promise<{ scores: Float64Array; seconds: number; anchorSeconds: number }> {
  const t0 = performance.now();
  const targets = await StreamedTargets.build(model, anchors, limits);
  const t1 = performance.now();
  const scores = new Float64Array(examples.length);
  await forEachGradient(model, examples, limits, (i, g) => (scores[i] = targets.score(g)));
  return { scores, seconds: (performance.now() - t1) / 1000, anchorSeconds: (t1 - t0) / 1000 };
}
