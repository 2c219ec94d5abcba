// Which OpenBLAS kernel set PyTorch's peers run. A machine's environment can pin one
// (OPENBLAS_CORETYPE=Haswell on this machine kind: 97 GFLOP/s on one thread of an AVX-512 EPYC,
// against 181 with OpenBLAS's own detection), so a peer left to its environment may run handicapped.
import { readFileSync } from 'node:fs';
import { torchMatmulGflops } from './roofline.ts';
import { blasThreadEnv } from './torch-peers.ts';

export interface OpenblasCoreRate {
  /** OPENBLAS_CORETYPE, or undefined for OpenBLAS's own detection. */
  core: string | undefined;
  /** One-thread 1024² matmul rate; undefined when that kernel set failed on this CPU. */
  gflops: number | undefined;
}

export interface OpenblasCoreChoice {
  chosen: string | undefined;
  rates: OpenblasCoreRate[];
}

/** Kernel sets (OpenBLAS DYNAMIC_ARCH core names) this CPU's flags can run. */
export function openblasCoreCandidates(flags: ReadonlySet<string>): string[] {
  const cores: string[] = [];
  if (flags.has('avx2')) cores.push('Haswell', 'Zen');
  if (flags.has('avx512f')) cores.push('SkylakeX');
  if (flags.has('avx512_bf16')) cores.push('Cooperlake');
  return cores;
}

export function cpuFlags(): Set<string> {
  const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
  return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
}

/** Measures OpenBLAS's detection and every candidate kernel set on one thread; the fastest wins. */
export async function chooseOpenblasCore(python: string, seconds = 1): Promise<OpenblasCoreChoice> {
  const rates: OpenblasCoreRate[] = [];
  for (const core of [undefined, ...openblasCoreCandidates(cpuFlags())]) {
    const env = blasThreadEnv(1);
    delete env.OPENBLAS_CORETYPE;
    if (core !== undefined) env.OPENBLAS_CORETYPE = core;
    // A kernel set the CPU cannot run dies (SIGILL): it is reported, not chosen.
    const gflops = await torchMatmulGflops(python, 1024, 1, seconds, env).catch(() => undefined);
    rates.push({ core, gflops });
  }
  const best = rates.reduce((a, b) => ((b.gflops ?? 0) > (a.gflops ?? 0) ? b : a));
  return { chosen: best.core, rates };
}

export function describeOpenblasChoice(choice: OpenblasCoreChoice): string {
  const name = (core: string | undefined) => (core === undefined ? "OpenBLAS's own detection" : `OPENBLAS_CORETYPE=${core}`);
  const rates = choice.rates.map((r) => `${name(r.core)} ${r.gflops === undefined ? 'failed' : `${r.gflops.toFixed(0)}`}`).join(', ');
  return `${name(choice.chosen)} (one-thread 1024² matmul, GFLOP/s: ${rates})`;
}
