import { readFileSync } from 'node:fs';

/**
 * Peak resident memory of this process, in bytes. Linux's VmHWM belongs to the current program
 * image, whereas ru_maxrss survives exec and can report the memory of the parent that spawned us.
 */
export function peakRssBytes(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux: fall back below
  }
  return process.resourceUsage().maxRSS * 1024;
}
