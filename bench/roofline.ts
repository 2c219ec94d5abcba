// The CPU roofline of the feature computation: analytic FLOPs per example, and the float32
// matrix-multiply peak measured on this machine (onnxruntime and PyTorch, same run).
import { execFile } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { DType, OnnxGraph } from '../shared/src/graph/onnx-graph.ts';
import type { ProjectionSpec } from '../shared/src/graph/projection.ts';
import type { LlamaConfig } from '../shared/src/model/llama-config.ts';
import { blasThreadEnv } from './torch-peers.ts';

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

/** Every matrix the per-example gradient covers, as [rows, cols] (HF layout: out × in), with the positions it runs at. */
function weightShapes(c: LlamaConfig, tokens: number, labels: number): Array<[number, number, number]> {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const layer: Array<[number, number, number]> = [
    [q, c.hiddenSize, tokens],
    [kv, c.hiddenSize, tokens],
    [kv, c.hiddenSize, tokens],
    [c.hiddenSize, q, tokens],
    [c.intermediateSize, c.hiddenSize, tokens],
    [c.intermediateSize, c.hiddenSize, tokens],
    [c.hiddenSize, c.intermediateSize, tokens],
  ];
  return [...Array.from({ length: c.numLayers }, () => layer).flat(), [c.vocabSize, c.hiddenSize, labels]];
}

/**
 * FLOPs the feature computation needs for one example of `tokens` tokens, `labels` of them labels
 * (response tokens): forward, backward to activations and gradient formation. The layers run at every
 * position, the LM head only at the labels: elsewhere the loss weight is 0 and the logits change
 * nothing (safesift skips them; the PyTorch peers compute them, and that extra work is not counted).
 * Attention counts the full T×T products (none exploits causality). Embedding lookups and the
 * embedding's own gradient (a scatter) are not matmuls and not counted.
 */
export function featureFlops(c: LlamaConfig, tokens: number, labels: number, projection: ProjectionSpec): FlopCount {
  const T = tokens;
  const shapes = weightShapes(c, tokens, labels);
  const linear = shapes.reduce((n, [r, k, positions]) => n + 2 * positions * r * k, 0);
  const attention = c.numLayers * 2 * (2 * T * T * c.numHeads * c.headDim); // QKᵀ and PV
  const forward = linear + attention;
  // dX of every linear (the head's included) + the four attention products' input gradients.
  const backward = linear + 2 * attention;
  const gradient =
    projection.kind === 'none'
      ? linear
      : shapes.reduce((n, [rows, cols, positions]) => {
          const ko = Math.min(projection.outDim, rows);
          const ki = Math.min(projection.inDim, cols);
          // A side is projected only when it is larger than its target, then the k_out × k_in outer product.
          return n + (ko < rows ? 2 * positions * rows * ko : 0) + (ki < cols ? 2 * positions * cols * ki : 0) + 2 * positions * ko * ki;
        }, 0);
  return { forward, backward, gradient, total: forward + backward + gradient };
}

export interface MatmulRun {
  runtime: 'onnxruntime' | 'PyTorch';
  /** n×n · n×n. */
  n: number;
  threads: number;
  /** Best GFLOP/s over 5 timed slices. */
  gflops: number;
}

export interface MatmulPeak {
  runs: MatmulRun[];
  cores: number;
  /** The best rate measured with every core in one MatMul. */
  allCores: number;
  /** The best single-thread rate times the cores: what the cores would do if each ran its best kernel at once. */
  perCoreTimesCores: number;
  /** The roofline: the larger of the two (the stricter yardstick). */
  roof: number;
}

/**
 * One MatMul node in onnxruntime-node, B a constant initializer as the feature graph's weights are
 * (onnxruntime pre-packs it once): the best of 5 slices of `seconds`/5.
 */
async function onnxruntimeMatmulGflops(n: number, threads: number, seconds: number): Promise<number> {
  const random = () => Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
  const g = new OnnxGraph('matmul-peak');
  const a = g.input('a', DType.float, [n, n]);
  g.output(g.op('MatMul', [a, g.weight('b', random(), [n, n])]), 'c', DType.float, [n, n]);
  const session = await ort.InferenceSession.create(g.finish('float32 matmul peak'), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const feeds = { a: new ort.Tensor('float32', random(), [n, n]) };
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

/** PyTorch's n×n float32 matmul rate on `threads` threads, in a fresh process with `env`. */
export function torchMatmulGflops(python: string, n: number, threads: number, seconds: number, env: NodeJS.ProcessEnv = blasThreadEnv(threads)): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile(python, [MATMUL_PEAK, String(n), String(threads), String(seconds)], { env }, (error, stdout, stderr) =>
      error ? reject(new Error(`${MATMUL_PEAK} failed: ${error.message}\n${stderr}`)) : resolve((JSON.parse(stdout) as { gflops: number }).gflops),
    ),
  );
}

/**
 * The machine's float32 matmul peak: both runtimes, n×n for each of `sizes`, on one thread and on
 * every core, one run after another. A single size or thread count can miss the peak (one 1024²
 * product on 2 threads ran at half the rate of 2048² on this machine kind), so the roof is the best
 * of everything measured, or the best single-thread rate times the cores where that is higher.
 */
export async function measureMatmulPeak(python: string, sizes: readonly number[] = [1024, 2048], seconds = 2): Promise<MatmulPeak> {
  const cores = cpus().length;
  const runs: MatmulRun[] = [];
  for (const n of sizes) {
    for (const threads of [...new Set([1, cores])]) {
      runs.push({ runtime: 'onnxruntime', n, threads, gflops: await onnxruntimeMatmulGflops(n, threads, seconds) });
      runs.push({ runtime: 'PyTorch', n, threads, gflops: await torchMatmulGflops(python, n, threads, seconds) });
    }
  }
  const best = (threads: number) => Math.max(...runs.filter((r) => r.threads === threads).map((r) => r.gflops));
  const allCores = best(cores);
  const perCoreTimesCores = best(1) * cores;
  console.error(`  float32 matmul peak: ${runs.map((r) => `${r.runtime} ${r.n}² ×${r.threads} ${r.gflops.toFixed(0)}`).join(', ')} GFLOP/s`);
  return { runs, cores, allCores, perCoreTimesCores, roof: Math.max(allCores, perCoreTimesCores) };
}
