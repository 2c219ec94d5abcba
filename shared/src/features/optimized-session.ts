import { createHash, randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { arch, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

export interface GraphSessionOptions {
  optimization: 'disabled' | 'basic' | 'extended' | 'all';
  providers: string[];
  /** Intra-op threads (default: onnxruntime's, all cores). */
  threads?: number;
  /**
   * Let kernels keep pre-packed copies of constant weights (default true): about 15% faster MatMuls
   * on the CPU, but each weight then lives once more per consuming node (the graph uses every weight
   * twice, forward and backward). Off, the weights stay memory-mapped from the graph's data file:
   * one copy, shared with the page cache.
   */
  prepack?: boolean;
  /** GPU ordinal for the cuda and tensorrt providers (default 0). */
  deviceId?: number;
}

/**
 * Opens an onnxruntime session on a feature graph, reusing the graph as onnxruntime optimised it
 * the first time: optimising takes about a third of a session's start, which every worker of every
 * audit pays, and a nightly re-audit waits for it. The optimised graph is saved beside the graph
 * (it reads the same external weights file), named by the onnxruntime version, the level, and the
 * CPU: level 'all' lays tensors out for this machine's instruction set. CPU provider only: other
 * providers may fuse nodes that a file cannot hold.
 */
export async function openGraphSession(graphPath: string, options: GraphSessionOptions): Promise<ort.InferenceSession> {
  const deviceId = options.deviceId ?? 0;
  const base: ort.InferenceSession.SessionOptions = {
    executionProviders: options.providers.map((name) => (name === 'cuda' || name === 'tensorrt' ? { name, deviceId } : name)),
    ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    ...(options.prepack === false ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  };
  const cpuOnly = options.providers.length === 1 && options.providers[0] === 'cpu';
  if (!cpuOnly || options.optimization === 'disabled') {
    return ort.InferenceSession.create(graphPath, { ...base, graphOptimizationLevel: options.optimization });
  }
  const optimized = optimizedGraphPath(graphPath, options.optimization);
  if (existsSync(optimized)) {
    try {
      return await ort.InferenceSession.create(optimized, { ...base, graphOptimizationLevel: 'disabled' });
    } catch {
      rmSync(optimized, { force: true }); // unreadable (e.g. cut short): optimise afresh below
    }
  }
  // Written under a private name, then renamed: workers starting together never read half a file.
  const staging = `${optimized}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const session = await ort.InferenceSession.create(graphPath, {
      ...base,
      graphOptimizationLevel: options.optimization,
      optimizedModelFilePath: staging,
      // Saving at level 'all' warns that the file suits this machine only, which is what we key it by.
      logSeverityLevel: 3,
    });
    if (existsSync(staging)) renameSync(staging, optimized);
    return session;
  } finally {
    rmSync(staging, { force: true });
  }
}

/** Where openGraphSession keeps `graphPath` as onnxruntime optimised it at `level` on this machine. */
export function optimizedGraphPath(graphPath: string, level: GraphSessionOptions['optimization']): string {
  return join(dirname(graphPath), `optimized-${optimizedGraphKey(level)}.onnx`);
}

function optimizedGraphKey(level: string): string {
  const cpu = `${arch()} ${cpus()[0]?.model ?? 'unknown cpu'}`;
  return createHash('sha256').update(`${ort.env.versions.common}\n${level}\n${cpu}`).digest('hex').slice(0, 16);
}
