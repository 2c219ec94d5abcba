import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ModelError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { ExampleFeatures, FeatureModel, FeatureModelInfo } from './feature-model.ts';
import type { FeatureWorkerData, FeatureWorkerReply, FeatureWorkerRequest } from './feature-worker.ts';
import { prepareFeatureGraph, type OnnxFeatureModelOptions } from './onnx-feature-model.ts';

const WORKER_ENTRY = new URL('./feature-worker.mjs', import.meta.url);

export interface PooledFeatureModelOptions extends Omit<OnnxFeatureModelOptions, 'emitLogits'> {
  /** Worker threads, each with its own session (default: one per core). */
  workers?: number;
  /** onnxruntime intra-op threads per worker (default 1). */
  threads?: number;
}

interface Job {
  id: number;
  batch: readonly TokenizedExample[];
  resolve: (features: ExampleFeatures[]) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/**
 * The ONNX feature model on a pool of worker threads, one onnxruntime session each (1 intra-op
 * thread by default): small graphs parallelise poorly inside one session, and session.run
 * serialises within a thread, so whole batches run side by side instead. Batches are queued and
 * handed to the first free worker; callers keep up to `concurrency` batches in flight.
 */
export class PooledFeatureModel implements FeatureModel {
  private readonly queue: Job[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    readonly info: FeatureModelInfo & { graphPath: string; graphBuilt: boolean },
    private readonly slots: Slot[],
  ) {
    for (const slot of slots) {
      slot.worker.on('message', (reply: FeatureWorkerReply) => this.onReply(slot, reply));
      slot.worker.on('error', (error) => this.fail(new ModelError(`feature worker failed: ${error.message}`)));
      slot.worker.on('exit', (code) => {
        if (!this.closed) this.fail(new ModelError(`feature worker exited unexpectedly (code ${code})`));
      });
    }
  }

  /** Builds (or reuses) the graph once here, then opens one session per worker on it. */
  static async open(checkpoint: Checkpoint, options: PooledFeatureModelOptions): Promise<PooledFeatureModel> {
    const prepared = await prepareFeatureGraph(checkpoint, { ...options, emitLogits: false });
    const count = Math.max(1, options.workers ?? availableParallelism());
    const data: FeatureWorkerData = {
      prepared,
      session: { threads: options.threads ?? 1, ...(options.optimization ? { optimization: options.optimization } : {}) },
    };
    const workers = Array.from({ length: count }, () => new Worker(WORKER_ENTRY, { workerData: data }));
    try {
      await Promise.all(workers.map(waitReady));
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new PooledFeatureModel(prepared.info, workers.map((worker) => ({ worker, job: null })));
  }

  /** Batches that can run at once. */
  get concurrency(): number {
    return this.slots.length;
  }

  featurize(batch: readonly TokenizedExample[]): Promise<ExampleFeatures[]> {
    if (this.closed) return Promise.reject(new ModelError('feature model is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (batch.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, batch, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectAll(new ModelError('feature model is closed'));
    await Promise.all(
      this.slots.map(
        ({ worker }) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.postMessage({ kind: 'close' } satisfies FeatureWorkerRequest);
          }),
      ),
    );
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job !== null) continue;
      const job = this.queue.shift();
      if (!job) return;
      slot.job = job;
      slot.worker.postMessage({ kind: 'featurize', id: job.id, batch: [...job.batch] } satisfies FeatureWorkerRequest);
    }
  }

  private onReply(slot: Slot, reply: FeatureWorkerReply): void {
    const job = slot.job;
    if (reply.kind === 'ready' || !job) return;
    if (reply.kind === 'error' && reply.id === null) return this.fail(new ModelError(`feature worker failed: ${reply.message}`));
    slot.job = null;
    if (reply.kind === 'features') job.resolve(reply.features);
    else job.reject(new ModelError(`featurizing a batch failed: ${reply.message}`));
    this.dispatch();
  }

  /** A dead worker fails every pending and later batch: results would otherwise go missing. */
  private fail(error: Error): void {
    this.failure ??= error;
    this.rejectAll(error);
  }

  private rejectAll(error: Error): void {
    for (const slot of this.slots) {
      slot.job?.reject(error);
      slot.job = null;
    }
    for (const job of this.queue.splice(0)) job.reject(error);
  }
}

function waitReady(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: FeatureWorkerReply) => {
      cleanup();
      if (reply.kind === 'ready') resolve();
      else reject(new ModelError(`feature worker could not open the graph: ${reply.kind === 'error' ? reply.message : reply.kind}`));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new ModelError(`feature worker failed to start: ${error.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new ModelError(`feature worker exited during start (code ${code})`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
  });
}
