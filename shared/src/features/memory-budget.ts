import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { ConfigError } from '../errors.ts';

/** Memory an audit process may plan for: the cgroup (pod) limit where there is one, else the machine's. */
export function hostMemoryBytes(): number {
  return Math.min(totalmem(), cgroupLimitBytes() ?? Infinity);
}

/** cgroup v2 `memory.max`, or v1 `memory.limit_in_bytes`; null when unlimited or not on Linux. */
function cgroupLimitBytes(): number | null {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const text = readFileSync(path, 'utf8').trim();
      const bytes = Number(text);
      // v1 reports "no limit" as a huge number near 2^63.
      if (text !== 'max' && Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60) return bytes;
    } catch {
      // not this cgroup version
    }
  }
  return null;
}

/**
 * Total memory of GPU `deviceId`, from nvidia-smi (the CUDA image has it through the device plugin).
 * onnxruntime-node cannot report it and takes no arena limit for CUDA (only the device id), so the
 * planner keeps batches within this instead. Null when nvidia-smi is absent or fails.
 */
export function gpuMemoryBytes(deviceId: number): number | null {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', String(deviceId)], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const mib = Number(out.trim().split('\n')[0]);
    return Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : null;
  } catch {
    return null;
  }
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?$/i;
const UNIT: Record<string, number> = { b: 1, k: 2 ** 10, kb: 1e3, kib: 2 ** 10, m: 2 ** 20, mb: 1e6, mib: 2 ** 20, g: 2 ** 30, gb: 1e9, gib: 2 ** 30, t: 2 ** 40, tb: 1e12, tib: 2 ** 40 };

/** "16GiB", "80G", "512MiB", "1e9"-style plain bytes → bytes; `what` names the option in errors. */
export function parseByteSize(text: string, what: string): number {
  const match = SIZE.exec(text.trim());
  if (!match) throw new ConfigError(`${what}: expected a size such as 16GiB, 80G or 512MiB, got '${text}'`);
  const bytes = Number(match[1]) * UNIT[(match[2] ?? 'b').toLowerCase()]!;
  if (!(bytes > 0)) throw new ConfigError(`${what}: must be positive, got '${text}'`);
  return Math.floor(bytes);
}
