import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.ts';
import type { FeatureModel } from '../features/feature-model.ts';
import { planFeatureExecution, type FeatureDevice, type FeaturePlan } from '../features/feature-plan.ts';
import { gpuMemoryBytes, hostMemoryBytes, parseByteSize } from '../features/memory-budget.ts';
import { featureMemoryModel, type FeatureMemoryModel } from '../features/memory-model.ts';
import { cudaDeviceId, executionProviders } from '../features/onnx-feature-model.ts';
import { PooledFeatureModel } from '../features/pooled-feature-model.ts';
import { attentionModeFor } from '../graph/autodiff/attention-mode.ts';
import { gradientDimension } from '../graph/feature-graph.ts';
import { resolveProjection, type ProjectionSpec } from '../graph/projection.ts';
import { resolveDirectionLayers } from '../scoring/direction-layers.ts';
import { openCheckpoint, type Checkpoint } from '../model/checkpoint.ts';
import { ensureTinyModel } from '../model/synthetic-checkpoint.ts';
import { PromptTokenizer } from '../prompt/prompt-tokenizer.ts';
import type { AuditOptions } from './audit-options.ts';
import type { BatchLimits } from '../features/featurize-batches.ts';

/** The model side of an audit: checkpoint, prompt tokenizer and feature model, opened together. */
export interface AuditModel {
  /** Local checkpoint folder (the tiny demo model is built into the cache on first use). */
  modelDir: string;
  synthetic: boolean;
  checkpoint: Checkpoint;
  tokenizer: PromptTokenizer;
  /** Its sessions open in the background; batches wait for them. */
  model: FeatureModel;
  /** Sessions, threads and batch limits, chosen from the memory model (summary.json → execution). */
  plan: FeaturePlan;
  memory: FeatureMemoryModel;
  /** The batch limits every featurize call of this audit uses. */
  batch: BatchLimits;
  /** The gradient projection in use (`auto` resolved for this model). */
  projection: ProjectionSpec;
  /** Decoder layers whose states the features carry (--direction-layers resolved for this model; [] for none). */
  directionLayers: number[];
  close(): Promise<void>;
}

/** What opening the model needs; the planning knobs left out are chosen by the memory model. */
type ModelOptions = Pick<AuditOptions, 'format' | 'probes' | 'projection' | 'sketch' | 'dtype' | 'maxTokens'> &
  Partial<Pick<AuditOptions, 'threads' | 'batchSize' | 'batchTokens' | 'memoryBudget' | 'prepack' | 'directionLayers'>>;

/** Opens `localModel` (a folder, or `tiny`) with the feature options of an audit. */
export async function openAuditModel(localModel: string, options: ModelOptions): Promise<AuditModel> {
  const synthetic = localModel === 'tiny';
  const modelDir = synthetic ? await ensureTinyModel() : localModel;
  const checkpoint = await openCheckpoint(modelDir);
  try {
    const tokenizer = await PromptTokenizer.load(modelDir, { format: options.format });
    const projection = resolveProjection(options.projection, checkpoint.config);
    // Long examples recompute attention's probabilities (memory linear in T); short ones keep them (faster).
    const attention = attentionModeFor(options.maxTokens);
    // Not given (callers without a direction scorer): no layer states.
    const directionLayers = resolveDirectionLayers(options.directionLayers ?? [], checkpoint.config.numLayers);
    const featureOptions = { probe: options.probes, projection, sketch: options.sketch, dtype: options.dtype, attention, directionLayers };
    const device = featureDevice();
    const memory = featureMemoryModel(checkpoint.config, options.dtype, gradientDimension(checkpoint, featureOptions), device, attention, directionLayers.length);
    const plan = planFor(memory, device, options);
    const model = await PooledFeatureModel.start(checkpoint, {
      ...featureOptions,
      workers: plan.sessions,
      threads: plan.threadsPerSession,
      prepack: plan.prepack,
    });
    return {
      modelDir,
      synthetic,
      checkpoint,
      tokenizer,
      model,
      plan,
      memory,
      batch: { examples: plan.batchExamples, tokens: plan.batchTokens },
      projection,
      directionLayers,
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

/** GPU when the first execution provider is one ($SAFESIFT_EXECUTION_PROVIDERS). */
export function featureDevice(): FeatureDevice {
  const first = executionProviders()[0];
  return first === 'cuda' || first === 'tensorrt' ? 'gpu' : 'cpu';
}

/** The budget from --memory-budget, the GPU or the host (pod) limit. */
function planFor(memory: FeatureMemoryModel, device: FeatureDevice, options: ModelOptions): FeaturePlan {
  const fromEnv = process.env.SAFESIFT_MEMORY_BUDGET;
  const budgetBytes =
    options.memoryBudget ??
    (fromEnv ? parseByteSize(fromEnv, 'SAFESIFT_MEMORY_BUDGET') : device === 'gpu' ? gpuMemoryBytes(cudaDeviceId()) : hostMemoryBytes());
  if (budgetBytes === null) {
    throw new ConfigError('--memory-budget: nvidia-smi could not report the GPU memory; give the GPU memory to plan for, e.g. --memory-budget 80GiB');
  }
  const plan = planFeatureExecution(memory, {
    device,
    cores: availableParallelism(),
    budgetBytes,
    maxTokens: options.maxTokens,
    threads: options.threads,
    batchSize: options.batchSize,
    batchTokens: options.batchTokens,
    prepack: options.prepack,
  });
  if (device === 'cpu' && options.dtype === 'float16') {
    plan.notes.push('float16 on the CPU provider: onnxruntime casts most ops to float32, which costs memory and time (float16 is for GPUs)');
  }
  return plan;
}
