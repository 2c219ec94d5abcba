import { parentPort, workerData } from 'node:worker_threads';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { ExampleFeatures } from './feature-model.ts';
import { OnnxFeatureModel, type PreparedFeatureGraph, type SessionOptions } from './onnx-feature-model.ts';

/** What the pool sends each worker at start. */
export interface FeatureWorkerData {
  prepared: PreparedFeatureGraph;
  session: SessionOptions;
}

/** Pool → worker. */
export type FeatureWorkerRequest = { kind: 'featurize'; id: number; batch: TokenizedExample[] } | { kind: 'close' };

/** Worker → pool. */
export type FeatureWorkerReply =
  | { kind: 'ready' }
  | { kind: 'features'; id: number; features: ExampleFeatures[] }
  | { kind: 'error'; id: number | null; message: string };

const port = parentPort;
if (!port) throw new Error('feature-worker.ts runs only as a worker thread (see pooled-feature-model.ts)');
const { prepared, session } = workerData as FeatureWorkerData;

try {
  const model = await OnnxFeatureModel.fromGraph(prepared, session);
  port.on('message', (request: FeatureWorkerRequest) => {
    if (request.kind === 'close') {
      void model.close().finally(() => port.close());
      return;
    }
    model.featurize(request.batch).then(
      (features) => {
        // Each vector owns its buffer (sliced from the outputs): move them instead of copying.
        const vectors = features.flatMap((f) => [f.representation, f.gradient, f.layerStates]);
        // Empty ones are left out: a buffer may appear only once in a transfer list.
        const transfer = vectors.filter((v) => v.byteLength > 0).map((v) => v.buffer) as ArrayBuffer[];
        port.postMessage({ kind: 'features', id: request.id, features } satisfies FeatureWorkerReply, transfer);
      },
      (error: unknown) => port.postMessage({ kind: 'error', id: request.id, message: String(error instanceof Error ? error.message : error) } satisfies FeatureWorkerReply),
    );
  });
  port.postMessage({ kind: 'ready' } satisfies FeatureWorkerReply);
} catch (error) {
  port.postMessage({ kind: 'error', id: null, message: String(error instanceof Error ? error.message : error) } satisfies FeatureWorkerReply);
}
