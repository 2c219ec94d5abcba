import type { FeatureModel } from '../features/feature-model.ts';
import { PooledFeatureModel } from '../features/pooled-feature-model.ts';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint.ts';
import { ensureTinyModel } from '../model/synthetic-checkpoint.ts';
import { PromptTokenizer } from '../prompt/prompt-tokenizer.ts';
import type { AuditOptions } from './audit-options.ts';

/** The model side of an audit: checkpoint, prompt tokenizer and feature model, opened together. */
export interface AuditModel {
  /** Local checkpoint folder (the tiny demo model is built into the cache on first use). */
  modelDir: string;
  synthetic: boolean;
  checkpoint: Checkpoint;
  tokenizer: PromptTokenizer;
  /** Its worker threads open their sessions in the background; batches wait for them. */
  model: FeatureModel;
  close(): Promise<void>;
}

type ModelOptions = Pick<AuditOptions, 'format' | 'probes' | 'projection' | 'sketch' | 'threads'>;

/** Opens `localModel` (a folder, or `tiny`) with the feature options of an audit. */
export async function openAuditModel(localModel: string, options: ModelOptions): Promise<AuditModel> {
  const synthetic = localModel === 'tiny';
  const modelDir = synthetic ? await ensureTinyModel() : localModel;
  const checkpoint = await openCheckpoint(modelDir);
  try {
    const tokenizer = await PromptTokenizer.load(modelDir, { format: options.format });
    // One single-threaded session per core beats one session on every core (BENCHMARKS.md).
    const model = await PooledFeatureModel.start(checkpoint, {
      probe: options.probes,
      projection: options.projection,
      sketch: options.sketch,
      // onnxruntime-node ships the CPU provider only, and the CPU keeps float32 (see summary.features.dtype).
      dtype: 'float32',
      ...(options.threads ? { workers: options.threads } : {}),
    });
    return {
      modelDir,
      synthetic,
      checkpoint,
      tokenizer,
      model,
      async close() {
        await model.close();
        await checkpoint.close();
      },
    };
  } catch (error) {
    await checkpoint.close();
    throw error;
  }
}
