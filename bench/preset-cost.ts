// Cost of each probe preset's feature graph relative to a plain forward, on one model.
import { OnnxFeatureModel } from '../shared/src/features/onnx-feature-model.ts';
import type { Probe } from '../shared/src/graph/probes.ts';
import { DEFAULT_PROJECTION_SEED, describeProjection } from '../shared/src/graph/projection.ts';
import { openCheckpoint } from '../shared/src/model/checkpoint.ts';
import { PromptTokenizer } from '../shared/src/prompt/prompt-tokenizer.ts';
import type { TokenizedExample } from '../shared/src/prompt/tokenized.ts';
import { GSM8K_TRAIN, tokenizeCorpus } from './bench-models.ts';
import { openForwardSession } from './forward-session.ts';
import type { ProbeConfig } from './probe-fidelity.ts';

export interface PresetCostRow {
  probe: Probe;
  projection: string;
  gradientDim: number;
  forwardPerSecond: number;
  featuresPerSecond: number;
  /** Feature graph time ÷ plain forward time. */
  ratio: number;
}

export interface PresetCostSetup {
  modelDir: string;
  configs: readonly ProbeConfig[];
  corpusPath?: string;
  /** Examples timed per run (default 16). */
  examples?: number;
  batchSize?: number;
  maxTokens?: number;
  /** Alternating forward / features runs per config; the best of each is kept (default 2). */
  repeats?: number;
}

const kron = (outDim: number, inDim: number) => ({ kind: 'kron', outDim, inDim, seed: DEFAULT_PROJECTION_SEED }) as const;
/** Every preset at kron:64x128, and all-linear also at kron:32x64. */
export const PRESET_COST_CONFIGS: readonly ProbeConfig[] = [
  ...(['lm_head', 'attn-qv', 'all-linear', 'all'] as const).map((probe) => ({ probe, projection: kron(64, 128) })),
  { probe: 'all-linear', projection: kron(32, 64) },
];

/** Both sides are fed the same length-sorted batches (as the audit batches), so the ratio isolates the gradient work. */
export async function measurePresetCost(setup: PresetCostSetup): Promise<PresetCostRow[]> {
  const batchSize = setup.batchSize ?? 8;
  const repeats = setup.repeats ?? 2;
  const count = setup.examples ?? 16;
  const checkpoint = await openCheckpoint(setup.modelDir);
  const tokenizer = await PromptTokenizer.load(setup.modelDir, { format: 'paper-llama2' });
  const examples = (await tokenizeCorpus(tokenizer, setup.corpusPath ?? GSM8K_TRAIN, count * 4, { maxTokens: setup.maxTokens ?? 256 })).slice(0, count);
  examples.sort((a, b) => b.ids.length - a.ids.length);
  const batches: TokenizedExample[][] = [];
  for (let i = 0; i < examples.length; i += batchSize) batches.push(examples.slice(i, i + batchSize));
  const timeAll = async (run: (batch: TokenizedExample[]) => Promise<unknown>) => {
    const start = performance.now();
    for (const batch of batches) await run(batch);
    return (performance.now() - start) / 1000;
  };

  const forward = await openForwardSession(checkpoint);
  await forward.run(batches[0]!); // warm-up
  const rows: PresetCostRow[] = [];
  for (const config of setup.configs) {
    const features = await OnnxFeatureModel.open(checkpoint, config);
    await features.featurize(batches[0]!); // warm-up
    let forwardBest = Infinity;
    let featuresBest = Infinity;
    for (let r = 0; r < repeats; r++) {
      forwardBest = Math.min(forwardBest, await timeAll((b) => forward.run(b)));
      featuresBest = Math.min(featuresBest, await timeAll((b) => features.featurize(b)));
    }
    const row = {
      probe: config.probe,
      projection: describeProjection(config.projection),
      gradientDim: features.info.gradientDim,
      forwardPerSecond: examples.length / forwardBest,
      featuresPerSecond: examples.length / featuresBest,
      ratio: featuresBest / forwardBest,
    };
    rows.push(row);
    await features.close();
    console.error(`  preset cost ${row.probe} ${row.projection}: ${row.ratio.toFixed(2)}× a forward`);
  }
  await forward.close();
  await checkpoint.close();
  return rows;
}
