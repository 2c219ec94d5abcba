import { readFileSync } from 'node:fs';
import { OnnxFeatureModel } from '../shared/src/features/onnx-feature-model.ts';
import type { ProjectionSpec } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { openForwardSession } from './forward-session.ts';

export interface FeatureCostRow {
  model: string;
  projection: string;
  batchSize: number;
  forwardPerSecond: number;
  featuresPerSecond: number;
  ratio: number;
}

const BATCH_SIZES = [1, 8, 32];

export interface FeatureCostSetup {
  label: string;
  modelDir: string;
  corpusPath: string;
  projections: ProjectionSpec[];
  maxTokens: number;
  /** Examples timed per run (at least the largest batch size). */
  examples: number;
  /** Alternating runs per graph; the best is kept. */
  repeats: number;
}

/** Examples/s of the feature graph vs the plain forward, measured alternately in one process. */
export async function measureFeatureCost({ label, modelDir, corpusPath, projections, maxTokens, examples: count, repeats }: FeatureCostSetup): Promise<FeatureCostRow[]> {
  const checkpoint = await openCheckpoint(modelDir);
  const tokenizer = await PromptTokenizer.load(modelDir, { format: 'paper-llama2' });
  const records = readFileSync(corpusPath, 'utf8').split('\n').filter(Boolean).slice(0, count * 4);
  const encoded = await tokenizer.encodeMany(
    records.map((line) => ({ shape: 'gsm8k' as const, ...(JSON.parse(line) as { question: string; answer: string }) })),
    { maxTokens },
  );
  // Records whose prompt alone fills maxTokens have no response left: skip them.
  const examples = encoded.filter((e): e is TokenizedExample => !(e instanceof Error)).slice(0, count);

  const forward = await openForwardSession(checkpoint);
  const rows: FeatureCostRow[] = [];
  for (const projection of projections) {
    const features = await OnnxFeatureModel.open(checkpoint, { projection });
    for (const batchSize of BATCH_SIZES) {
      const timeAll = async (run: (batch: TokenizedExample[]) => Promise<unknown>) => {
        const start = performance.now();
        for (let i = 0; i < examples.length; i += batchSize) await run(examples.slice(i, i + batchSize));
        return (performance.now() - start) / 1000;
      };
      await forward.run(examples.slice(0, batchSize)); // warm-up
      await features.featurize(examples.slice(0, batchSize));
      let forwardBest = Infinity;
      let featuresBest = Infinity;
      for (let r = 0; r < repeats; r++) {
        forwardBest = Math.min(forwardBest, await timeAll((b) => forward.run(b)));
        featuresBest = Math.min(featuresBest, await timeAll((b) => features.featurize(b)));
      }
      rows.push({
        model: label,
        projection: features.info.projection,
        batchSize,
        forwardPerSecond: examples.length / forwardBest,
        featuresPerSecond: examples.length / featuresBest,
        ratio: featuresBest / forwardBest,
      });
      console.error(`  ${label} proj=${features.info.projection} bs=${batchSize}: ratio ${(featuresBest / forwardBest).toFixed(2)}`);
    }
    await features.close();
  }
  await forward.close();
  await checkpoint.close();
  return rows;
}
