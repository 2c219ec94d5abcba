import * as ort from 'onnxruntime-node';
import { ModelError } from '../errors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { buildFeatureGraph, FEATURE_IO, GRAPH_BUILDER_VERSION, gradientDimension } from '../graph/feature-graph.ts';
import type { AttentionMode } from '../graph/autodiff/attention-mode.ts';
import { cachedGraph } from '../graph/graph-cache.ts';
import type { Probe } from '../graph/probes.ts';
import { describeProjection, type ProjectionSpec, type SketchSpec } from '../graph/projection.ts';
import type { TokenizedExample } from '../prompt/tokenized.ts';
import type { ExampleFeatures, FeatureModel, FeatureModelInfo } from './feature-model.ts';
import { openGraphSession } from './optimized-session.ts';
import { padBatch } from './padded-batch.ts';

export interface OnnxFeatureModelOptions extends SessionOptions {
  /** Parameters whose per-example gradients are the features (default lm_head). */
  probe?: Probe;
  projection: ProjectionSpec;
  /** Compute type of the graph (float16: GPU use; default float32). */
  dtype?: 'float32' | 'float16';
  /** Optional CountSketch to a fixed size after the projection. */
  sketch?: SketchSpec | null;
  /** Also compute full logits (parity tests). */
  emitLogits?: boolean;
  /** Attention's backward (default 'stored'; 'recomputed' for long contexts: see attention-mode.ts). */
  attention?: AttentionMode;
  /** Decoder layers (0-based, sorted, unique) whose states come back as `layerStates` (default none). */
  directionLayers?: readonly number[];
}

export interface RawFeatureOutputs {
  features: ExampleFeatures[];
  /** Per example [seq_i, V] logits, only with emitLogits. */
  logits?: Float32Array[];
}

/** A built (or cached) feature graph and what a session needs to serve it: plain data, so worker threads can open it too. */
export interface PreparedFeatureGraph {
  info: FeatureModelInfo & { graphPath: string; graphBuilt: boolean };
  emitLogits: boolean;
  vocabSize: number;
}

export interface SessionOptions {
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** onnxruntime graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Pre-packed weight copies (default true; see GraphSessionOptions.prepack). */
  prepack?: boolean;
  /** GPU ordinal (default $SAFESIFT_CUDA_DEVICE or 0). */
  deviceId?: number;
}

/** Builds the feature graph for `checkpoint` (or reuses the cached one). */
export async function prepareFeatureGraph(checkpoint: Checkpoint, options: OnnxFeatureModelOptions): Promise<PreparedFeatureGraph> {
  const graphOptions = {
    probe: options.probe ?? 'lm_head',
    projection: options.projection,
    sketch: options.sketch ?? null,
    dtype: options.dtype ?? 'float32',
    emitLogits: options.emitLogits ?? false,
    attention: options.attention ?? 'stored',
  };
  const directionLayers = [...(options.directionLayers ?? [])];
  // Keyed only when asked for, so graphs cached without layers keep their key.
  const withLayers = directionLayers.length > 0 ? { ...graphOptions, directionLayers } : graphOptions;
  const key = { kind: 'features', builder: GRAPH_BUILDER_VERSION, model: checkpoint.fingerprint, ...withLayers };
  const graph = await cachedGraph(key, (dataPath) => buildFeatureGraph(checkpoint, withLayers, dataPath));
  const info = {
    fingerprint: checkpoint.fingerprint,
    probe: graphOptions.probe,
    projection: describeProjection(options.projection, graphOptions.sketch),
    representationDim: checkpoint.config.hiddenSize,
    gradientDim: gradientDimension(checkpoint, graphOptions),
    directionLayers,
    graphPath: graph.modelPath,
    graphBuilt: graph.built,
  };
  return { info, emitLogits: graphOptions.emitLogits, vocabSize: checkpoint.config.vocabSize };
}

/** Feature model backed by our ONNX feature graph on onnxruntime-node (CPU). */
export class OnnxFeatureModel implements FeatureModel {
  private constructor(
    readonly info: FeatureModelInfo & { graphPath: string; graphBuilt: boolean },
    private readonly session: ort.InferenceSession,
    private readonly emitLogits: boolean,
    private readonly vocabSize: number,
  ) {}

  static async open(checkpoint: Checkpoint, options: OnnxFeatureModelOptions): Promise<OnnxFeatureModel> {
    return OnnxFeatureModel.fromGraph(await prepareFeatureGraph(checkpoint, options), options);
  }

  /** Opens a session on an already prepared graph (what each worker of a pool does). */
  static async fromGraph(prepared: PreparedFeatureGraph, options: SessionOptions = {}): Promise<OnnxFeatureModel> {
    const session = await openGraphSession(prepared.info.graphPath, {
      optimization: options.optimization ?? 'all',
      providers: executionProviders(),
      deviceId: options.deviceId ?? cudaDeviceId(),
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.prepack === undefined ? {} : { prepack: options.prepack }),
    });
    return new OnnxFeatureModel(prepared.info, session, prepared.emitLogits, prepared.vocabSize);
  }

  async featurize(batch: readonly TokenizedExample[]): Promise<ExampleFeatures[]> {
    return (await this.run(batch)).features;
  }

  async run(batch: readonly TokenizedExample[]): Promise<RawFeatureOutputs> {
    if (batch.length === 0) return { features: [] };
    const padded = padBatch(batch);
    const dims = [padded.batch, padded.seq];
    const results = await this.session.run({
      [FEATURE_IO.inputIds]: new ort.Tensor('int64', padded.inputIds, dims),
      [FEATURE_IO.attentionMask]: new ort.Tensor('int64', padded.attentionMask, dims),
      [FEATURE_IO.lossWeights]: new ort.Tensor('float32', padded.lossWeights, dims),
    });
    const reps = floatData(results, FEATURE_IO.representation);
    const losses = floatData(results, FEATURE_IO.loss);
    const grads = floatData(results, FEATURE_IO.gradient);
    const { representationDim: D, gradientDim: G } = this.info;
    const S = 2 * this.info.directionLayers.length * D;
    const states = S > 0 ? floatData(results, FEATURE_IO.layerStates) : new Float32Array(0);
    const features = batch.map((_, b) => ({
      representation: reps.slice(b * D, (b + 1) * D),
      loss: losses[b]!,
      gradient: grads.slice(b * G, (b + 1) * G),
      layerStates: states.slice(b * S, (b + 1) * S),
    }));
    if (!this.emitLogits) return { features };
    const all = floatData(results, FEATURE_IO.logits);
    const V = this.vocabSize;
    const logits = batch.map((example, b) => all.slice(b * padded.seq * V, (b * padded.seq + example.ids.length) * V));
    return { features, logits };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

function floatData(results: ort.InferenceSession.ReturnType, name: string): Float32Array {
  const tensor = results[name];
  if (!tensor || !(tensor.data instanceof Float32Array)) throw new Error(`feature graph returned no float output '${name}'`);
  return tensor.data;
}

/** The GPU a worker pod was given: $SAFESIFT_CUDA_DEVICE (default 0; the device plugin maps one GPU per pod to 0). */
export function cudaDeviceId(): number {
  const text = process.env.SAFESIFT_CUDA_DEVICE ?? '0';
  const id = Number(text);
  if (!Number.isInteger(id) || id < 0) throw new ModelError(`SAFESIFT_CUDA_DEVICE: expected a GPU ordinal (0, 1, …), got '${text}'`);
  return id;
}

/**
 * onnxruntime execution providers, best first, from $SAFESIFT_EXECUTION_PROVIDERS (e.g. `cuda,cpu`
 * in the CUDA worker image, which installs that provider); the npm package itself ships `cpu` only.
 */
export function executionProviders(): string[] {
  const listed = (process.env.SAFESIFT_EXECUTION_PROVIDERS ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  return listed.length > 0 ? listed : ['cpu'];
}
