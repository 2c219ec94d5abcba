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
  /** The worker's session is open: it takes batches. */
  ready: boolean;
  exited: boolean;
}

/**
 * The ONNX feature model on a pool of worker threads, one onnxruntime session each (1 intra-op
 * thread by default): small graphs parallelise poorly inside one session, and session.run
 * serialises within a thread, so whole batches run side by side instead. Batches are queued and
 * handed to the first free worker that is ready; callers keep up to `concurrency` batches in flight.
 */
export class PooledFeatureModel implements FeatureModel {
  private readonly queue: Job[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;
  /** Settles when every worker has its session open, or rejects with the first start failure. */
  readonly ready: Promise<void>;
  private readonly settled: Promise<void>;

  private constructor(
    readonly info: FeatureModelInfo & { graphPath: string; graphBuilt: boolean },
    private readonly slots: Slot[],
    private readonly startHint = '',
  ) {
    const started = slots.map((slot) => this.watch(slot));
    this.ready = Promise.all(started).then(() => undefined);
    // Settles either way once no worker is still opening its session.
    this.settled = Promise.allSettled(started).then(() => undefined);
    // Start failures also reach every batch through fail(); a caller need not await `ready`.
    this.ready.catch(() => undefined);
  }

  /** Builds (or reuses) the graph once here, then opens one session per worker on it, and waits for them. */
  static async open(checkpoint: Checkpoint, options: PooledFeatureModelOptions): Promise<PooledFeatureModel> {
    const pool = await PooledFeatureModel.start(checkpoint, options);
    try {
      await pool.ready;
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /**
   * Like open(), but returns once the workers are spawned: their sessions open in the background
   * (about a second each), while the caller reads inputs or cached features. Batches queue until a
   * worker is ready; a worker that cannot start fails them.
   */
  static async start(checkpoint: Checkpoint, options: PooledFeatureModelOptions): Promise<PooledFeatureModel> {
    const prepared = await prepareFeatureGraph(checkpoint, { ...options, emitLogits: false });
    const count = Math.max(1, options.workers ?? availableParallelism());
    const data: FeatureWorkerData = {
      prepared,
      session: {
        threads: options.threads ?? 1,
        ...(options.optimization ? { optimization: options.optimization } : {}),
        ...(options.prepack === undefined ? {} : { prepack: options.prepack }),
        ...(options.deviceId === undefined ? {} : { deviceId: options.deviceId }),
      },
    };
    const slots = Array.from({ length: count }, (): Slot => ({ worker: new Worker(WORKER_ENTRY, { workerData: data }), job: null, ready: false, exited: false }));
    // A provider without half-precision kernels for some op fails here, at session start.
    const startHint = options.dtype === 'float16' ? ' (with --dtype float16: the execution provider may lack half-precision kernels for it; use --dtype float32)' : '';
    return new PooledFeatureModel(prepared.info, slots, startHint);
  }

  /** Wires a worker's events; resolves when its session is open, rejects if it cannot start. */
  private watch(slot: Slot): Promise<void> {
    return new Promise((resolve, reject) => {
      const failStart = (error: Error) => {
        reject(error);
        this.fail(error);
      };
      slot.worker.on('message', (reply: FeatureWorkerReply) => {
        if (slot.ready) return this.onReply(slot, reply);
        if (reply.kind === 'ready') {
          slot.ready = true;
          resolve();
          this.dispatch();
        } else {
          failStart(new ModelError(`feature worker could not open the graph: ${reply.kind === 'error' ? reply.message : reply.kind}${this.startHint}`));
        }
      });
      slot.worker.on('error', (error) => {
        const prefix = slot.ready ? 'feature worker failed' : 'feature worker failed to start';
        failStart(new ModelError(`${prefix}: ${error.message}`));
      });
      slot.worker.on('exit', (code) => {
        slot.exited = true;
        const error = new ModelError(slot.ready ? `feature worker exited unexpectedly (code ${code})` : `feature worker exited during start (code ${code})`);
        if (this.closed) reject(error); // settles a start that close() waits for; nothing left to fail
        else failStart(error);
      });
    });
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
    // Terminating a worker inside onnxruntime's session constructor aborts the process: let them finish.
    await this.settled;
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.exited) return;
        // A worker that failed to start listens to nobody: stop it.
        if (!slot.ready) {
          await slot.worker.terminate();
          return;
        }
        await new Promise<void>((resolve) => {
          slot.worker.once('exit', () => resolve());
          slot.worker.postMessage({ kind: 'close' } satisfies FeatureWorkerRequest);
        });
      }),
    );
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job !== null || !slot.ready) continue;
      const job = this.queue.shift();
      if (!job) return;
      slot.job = job;
      slot.worker.postMessage({ kind: 'featurize', id: job.id, batch: [...job.batch] } satisfies FeatureWorkerRequest);
    }
  }

  private onReply(slot: Slot, reply: FeatureWorkerReply): void {
    const job = slot.job;
    if (!job || reply.kind === 'ready') return;
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
