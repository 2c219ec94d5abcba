// The PyTorch peers (the paper's loop, the LoGra-style batched loop) at every fair configuration of
// the same cores: T threads in one process, or N processes of one thread over shards of the examples.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PAPER_LOOP = fileURLToPath(new URL('./reference/paper_loop.py', import.meta.url));
export const LOGRA_LOOP = fileURLToPath(new URL('./reference/logra_loop.py', import.meta.url));

/** One way to spend the cores: `processes` shards, each with `threads` PyTorch threads. */
export interface TorchConfig {
  processes: number;
  threads: number;
  /** Examples per batch (the LoGra peer; the paper's loop is batch size 1). */
  batch?: number;
}

export interface TorchRun {
  config: TorchConfig;
  examples: number;
  /** The slowest shard's timed loop: the shards start together, so this is the wall time. */
  seconds: number;
  examplesPerSecond: number;
  blas: string;
  torch: string;
  /** In corpus order, merged from the shards. */
  scores: number[];
}

interface ShardOutput {
  seconds: number;
  blas: string;
  torch: string;
  scores: number[];
  indices: number[];
}

export const describeTorchConfig = (c: TorchConfig) =>
  `${c.processes} process${c.processes > 1 ? 'es' : ''} × ${c.threads} thread${c.threads > 1 ? 's' : ''}${c.batch === undefined ? '' : `, batch ${c.batch}`}`;

/** 1…cores threads in one process, and 2…cores processes of one thread: every split of the cores. */
export function torchConfigs(cores: number, batches: readonly (number | undefined)[] = [undefined]): TorchConfig[] {
  const splits: TorchConfig[] = [];
  for (let t = 1; t <= cores; t++) splits.push({ processes: 1, threads: t });
  for (let p = 2; p <= cores; p++) splits.push({ processes: p, threads: 1 });
  return batches.flatMap((batch) => splits.map((s) => (batch === undefined ? s : { ...s, batch })));
}

/**
 * The environment of a PyTorch process of `threads` threads. torch.set_num_threads does not reach
 * Debian's OpenBLAS: a "1-thread" matmul ran on both cores of this machine kind (user time 1.65× wall,
 * 167 GFLOP/s against 82 with OPENBLAS_NUM_THREADS=1), so the thread count is also set where the
 * BLAS reads it, at load.
 */
export function blasThreadEnv(threads: number): NodeJS.ProcessEnv {
  const n = String(threads);
  return { ...process.env, OPENBLAS_NUM_THREADS: n, OMP_NUM_THREADS: n, MKL_NUM_THREADS: n };
}

/**
 * Runs `script` as `config.processes` shards of `request`. Each shard loads the model and computes the
 * anchor target untimed, says "ready", and waits; all are released together, so their timed loops
 * overlap and the slowest one is the configuration's wall time.
 */
export async function runTorchConfig(python: string, script: string, request: string, config: TorchConfig, extraArgs: readonly string[] = []): Promise<TorchRun> {
  const shards = Array.from({ length: config.processes }, (_, i) => {
    const args = [script, request, '--threads', String(config.threads), '--shard', `${i}/${config.processes}`, '--wait-go', ...extraArgs];
    if (config.batch !== undefined) args.push('--batch', String(config.batch));
    const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'], env: blasThreadEnv(config.threads) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    let onReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (onReady = resolve));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/^ready$/m.test(stderr)) onReady();
    });
    child.stdin.on('error', () => undefined); // EPIPE from a shard that already died: its exit says why
    const command = `${python} ${args.join(' ')}`;
    const done = new Promise<ShardOutput>((resolve, reject) => {
      child.on('error', (error) => reject(new Error(`${command}: could not start: ${error.message}`)));
      child.on('close', (code, signal) => {
        if (code !== 0) return reject(new Error(`${command} exited ${code ?? signal}:\n${stderr.slice(-2000)}`));
        try {
          resolve(JSON.parse(stdout) as ShardOutput);
        } catch {
          reject(new Error(`${command}: stdout is not the expected JSON: ${stdout.slice(0, 200)}`));
        }
      });
    });
    done.catch(() => undefined); // a shard killed after another failed must not crash the bench
    return { child, ready: Promise.race([ready, done.then(() => undefined)]), done };
  });
  try {
    await Promise.all(shards.map((s) => s.ready));
    for (const s of shards) s.child.stdin.end('go\n');
    const outputs = await Promise.all(shards.map((s) => s.done));
    const count = outputs.reduce((n, o) => n + o.indices.length, 0);
    const scores = new Array<number>(count);
    for (const o of outputs) o.indices.forEach((index, k) => (scores[index] = o.scores[k]!));
    const seconds = Math.max(...outputs.map((o) => o.seconds));
    return { config, examples: count, seconds, examplesPerSecond: count / seconds, blas: outputs[0]!.blas, torch: outputs[0]!.torch, scores };
  } finally {
    for (const s of shards) if (s.child.exitCode === null) s.child.kill();
  }
}

/** Every configuration, one after the other (never two at once), and the fastest. */
export async function sweepTorch(
  label: string,
  python: string,
  script: string,
  request: string,
  configs: readonly TorchConfig[],
  extraArgs: readonly string[] = [],
): Promise<{ runs: TorchRun[]; best: TorchRun }> {
  const runs: TorchRun[] = [];
  for (const config of configs) {
    const run = await runTorchConfig(python, script, request, config, extraArgs);
    console.error(`  ${label} ${describeTorchConfig(config)}: ${run.examplesPerSecond.toFixed(2)} ex/s`);
    runs.push(run);
  }
  const best = runs.reduce((a, b) => (b.examplesPerSecond > a.examplesPerSecond ? b : a));
  return { runs, best };
}
