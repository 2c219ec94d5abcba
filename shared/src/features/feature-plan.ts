import { ConfigError } from '../errors.ts';
import { ARENA_SLACK, batchBytes, estimatePeakBytes, formatBytes, perPaddedTokenBytes, type FeatureMemoryModel, type SessionLayout } from './memory-model.ts';

/**
 * Models this small run one single-threaded session per thread, each with its own (pre-packed)
 * weights: their graphs parallelise poorly inside one session, and N copies cost < N × 32 MiB
 * (measured on stories260k: ~50% faster than one session with N threads). Anything larger runs one
 * session with intra-op threads: one set of weights whatever --threads is, pre-packed while
 * the packed copies fit the budget (58M: 7% faster, 1B-shaped: 20%), else memory-mapped from the
 * graph's data file (BENCHMARKS.md, session layout).
 */
export const SMALL_MODEL_BYTES = 32 * 2 ** 20;
/** The share of the memory budget the plan may fill: the rest is for reading, scoring and the page cache. */
export const PLANNABLE_SHARE = 0.85;
/** Most examples a GPU batch holds (beyond this a batch gains little and pads more). */
export const MAX_GPU_BATCH = 32;

export type FeatureDevice = 'cpu' | 'gpu';

export interface PlanRequest {
  device: FeatureDevice;
  /** Cores this process may use. */
  cores: number;
  /** Memory this process (CPU) or the GPU may hold. */
  budgetBytes: number;
  maxTokens: number;
  /** What the user fixed (flags or job spec); the rest is chosen. */
  threads?: number | undefined;
  batchSize?: number | undefined;
  batchTokens?: number | undefined;
  prepack?: boolean | undefined;
}

export interface FeaturePlan extends SessionLayout {
  device: FeatureDevice;
  /** onnxruntime intra-op threads of each session. */
  threadsPerSession: number;
  budgetBytes: number;
  estimatedPeakBytes: number;
  /** Why the plan is what it is, a short clause each (summary.json and the log). */
  notes: string[];
}

/** Sessions, threads, pre-packing and batch limits from the memory model and the budget. */
export function planFeatureExecution(memory: FeatureMemoryModel, request: PlanRequest): FeaturePlan {
  const budget = request.budgetBytes * PLANNABLE_SHARE;
  const threads = Math.max(1, request.threads ?? request.cores);
  const notes: string[] = [];
  const small = request.device === 'cpu' && memory.weightBytes <= SMALL_MODEL_BYTES;
  let layout: SessionLayout & { threadsPerSession: number } =
    request.device === 'gpu'
      ? { sessions: 1, threadsPerSession: threads, prepack: true, longestTokens: request.maxTokens, ...gpuBatch(memory, request, budget, notes) }
      : {
          sessions: small ? threads : 1,
          threadsPerSession: small ? 1 : threads,
          prepack: request.prepack ?? true,
          batchExamples: request.batchSize ?? 1,
          batchTokens: request.batchTokens ?? (request.batchSize ?? 1) * request.maxTokens,
          longestTokens: request.maxTokens,
        };
  notes.push(
    layout.sessions > 1
      ? `${layout.sessions} single-threaded sessions (a model under ${formatBytes(SMALL_MODEL_BYTES)} runs faster so)`
      : `one session with ${layout.threadsPerSession} thread${layout.threadsPerSession === 1 ? '' : 's'}: one set of the weights whatever --threads is`,
  );
  const peak = () => estimatePeakBytes(memory, layout, request.device);
  if (peak() > budget && layout.sessions > 1) {
    layout = { ...layout, sessions: 1, threadsPerSession: threads };
    notes.push('one session: a session per thread would not fit');
  }
  if (peak() > budget && layout.prepack && request.prepack === undefined && request.device === 'cpu') {
    layout = { ...layout, prepack: false };
    notes.push('weights not pre-packed: the copies would not fit');
  }
  if (peak() > budget) {
    const oneExample = { ...layout, batchExamples: 1, batchTokens: request.maxTokens };
    const needed = estimatePeakBytes(memory, oneExample, request.device);
    if (needed > budget || request.batchSize !== undefined || request.batchTokens !== undefined) {
      throw new ConfigError(
        `the model needs about ${formatBytes(peak())} (weights ${formatBytes(memory.weightBytes)}, ` +
          `${formatBytes(batchBytes(memory, layout.batchExamples, layout.batchTokens, layout.longestTokens))} per batch) but ${formatBytes(budget)} ` +
          `of the ${request.device === 'gpu' ? 'GPU' : 'host'} memory budget (${formatBytes(request.budgetBytes)}) is plannable: ` +
          `lower --batch-size/--batch-tokens or --max-tokens, ${request.prepack === true && request.device === 'cpu' ? 'drop --prepack, ' : ''}${request.device === 'gpu' && memory.dtype === 'float32' ? 'use --dtype float16, ' : ''}or raise --memory-budget`,
      );
    }
    layout = oneExample;
    notes.push('batches of one example: larger ones would not fit');
  }
  if (request.device === 'cpu' && layout.prepack && request.prepack === undefined) notes.push('weights pre-packed: faster matmuls, and the copies fit the budget');
  return { ...layout, device: request.device, budgetBytes: request.budgetBytes, estimatedPeakBytes: peak(), notes };
}

/** GPU batches: as many tokens as the memory left beside the weights holds, at most MAX_GPU_BATCH examples. */
function gpuBatch(memory: FeatureMemoryModel, request: PlanRequest, budget: number, notes: string[]): Pick<SessionLayout, 'batchExamples' | 'batchTokens'> {
  const batchExamples = request.batchSize ?? MAX_GPU_BATCH;
  if (request.batchTokens !== undefined) return { batchExamples, batchTokens: request.batchTokens };
  const free = budget - memory.weightBytes - batchExamples * memory.perExampleBytes * ARENA_SLACK;
  const fitting = Math.floor(free / (perPaddedTokenBytes(memory, request.maxTokens) * ARENA_SLACK));
  const batchTokens = Math.max(request.maxTokens, Math.min(batchExamples * request.maxTokens, fitting));
  notes.push(`batches of up to ${batchExamples} examples and ${batchTokens} padded tokens (the GPU memory left beside the weights)`);
  return { batchExamples, batchTokens };
}
