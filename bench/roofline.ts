// The CPU roofline of the feature computation: analytic FLOPs per example, and the float32
// matrix-multiply peak measured on this machine (onnxruntime and PyTorch, same run).
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { DType, OnnxGraph } from '../shared/src/graph/onnx-graph.ts';
import type { ProjectionSpec } from '../shared/src/graph/projection.ts';
import type { LlamaConfig } from '../shared/src/model/llama-config.ts';

const MATMUL_PEAK = fileURLToPath(new URL('./reference/matmul_peak.py', import.meta.url));

/** Where an example's FLOPs go. Matmul FLOPs only (2 per multiply-add); elementwise work is not counted. */
export interface FlopCount {
  forward: number;
  /** Back-propagation to the activations (never to the weights). */
  backward: number;
  /** Forming the gradient features: exact weight gradients, or the per-layer projections. */
  gradient: number;
  total: number;
}

/** Every matrix the per-example gradient covers, as [rows, cols] (HF layout: out × in). */
function weightShapes(c: LlamaConfig): Array<[number, number]> {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const layer: Array<[number, number]> = [
    [q, c.hiddenSize],
    [kv, c.hiddenSize],
    [kv, c.hiddenSize],
    [c.hiddenSize, q],
    [c.intermediateSize, c.hiddenSize],
    [c.intermediateSize, c.hiddenSize],
    [c.hiddenSize, c.intermediateSize],
  ];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), [c.vocabSize, c.hiddenSize]];
}

/**
 * FLOPs of one example of `tokens` tokens through forward, backward to activations and gradient
 * formation, for the full-gradient `all` probe. The LM head runs at every position (as all three
 * implementations do); attention counts the full T×T products (none exploits causality).
 * Embedding lookups and the embedding's own gradient (a scatter) are not matmuls and not counted.
 */
export function featureFlops(c: LlamaConfig, tokens: number, projection: ProjectionSpec): FlopCount {
  const T = tokens;
  const shapes = weightShapes(c);
  const linear = shapes.reduce((n, [r, k]) => n + 2 * T * r * k, 0);
  const attention = c.numLayers * 2 * (2 * T * T * c.numHeads * c.headDim); // QKᵀ and PV
  const forward = linear + attention;
  // dX of every linear (the head's included) + the four attention products' input gradients.
  const backward = linear + 2 * attention;
  const gradient =
    projection.kind === 'none'
      ? linear
      : shapes.reduce((n, [rows, cols]) => {
          const ko = Math.min(projection.outDim, rows);
          const ki = Math.min(projection.inDim, cols);
          // A side is projected only when it is larger than its target, then the k_out × k_in outer product.
          return n + (ko < rows ? 2 * T * rows * ko : 0) + (ki < cols ? 2 * T * cols * ki : 0) + 2 * T * ko * ki;
        }, 0);
  return { forward, backward, gradient, total: forward + backward + gradient };
}

export interface MatmulPeak {
  /** Best GFLOP/s of an n×n float32 MatMul on all cores. */
  onnxruntime: number;
  torch: number;
  n: number;
  threads: number;
}

/** One MatMul node, timed in onnxruntime-node on all cores: the best of 5 slices of `seconds`/5. */
async function onnxruntimeMatmulGflops(n: number, threads: number, seconds: number): Promise<number> {
  const g = new OnnxGraph('matmul-peak');
  const a = g.input('a', DType.float, [n, n]);
  const b = g.input('b', DType.float, [n, n]);
  g.output(g.op('MatMul', [a, b]), 'c', DType.float, [n, n]);
  const session = await ort.InferenceSession.create(g.finish('float32 matmul peak'), { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  const random = () => Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  const feeds = { a: new ort.Tensor('float32', random(), [n, n]), b: new ort.Tensor('float32', random(), [n, n]) };
  await session.run(feeds);
  let best = 0;
  for (let slice = 0; slice < 5; slice++) {
    let reps = 0;
    const start = performance.now();
    while (performance.now() - start < (seconds * 1000) / 5) {
      await session.run(feeds);
      reps++;
    }
    best = Math.max(best, (2 * n ** 3 * reps) / ((performance.now() - start) / 1000) / 1e9);
  }
  await session.release();
  return best;
}

function torchMatmulGflops(python: string, n: number, threads: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile(python, [MATMUL_PEAK, String(n), String(threads), String(seconds)], (error, stdout, stderr) =>
      error ? reject(new Error(`${MATMUL_PEAK} failed: ${error.message}\n${stderr}`)) : resolve((JSON.parse(stdout) as { gflops: number }).gflops),
    ),
  );
}

/** The machine's float32 matmul peak on all cores, by both runtimes, one after the other. */
export async function measureMatmulPeak(python: string, n = 1024, seconds = 5): Promise<MatmulPeak> {
  const threads = cpus().length;
  const onnxruntime = await onnxruntimeMatmulGflops(n, threads, seconds);
  const torch = await torchMatmulGflops(python, n, threads, seconds);
  console.error(`  float32 ${n}×${n} matmul on ${threads} cores: onnxruntime ${onnxruntime.toFixed(1)} GFLOP/s, PyTorch ${torch.toFixed(1)} GFLOP/s`);
  return { onnxruntime, torch, n, threads };
}
