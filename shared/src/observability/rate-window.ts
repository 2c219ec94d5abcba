/**
 * Events per second over a sliding window, kept as per-second buckets so memory stays bounded
 * however many events arrive. A window younger than its length divides by its actual age, so a
 * fresh process does not report a rate diluted by seconds it never lived.
 */
export class RateWindow {
  private readonly buckets = new Map<number, number>();
  private readonly startedAt: number;

  constructor(
    private readonly windowSeconds = 60,
    private readonly clock: () => number = () => performance.now(),
  ) {
    if (!(windowSeconds >= 1)) throw new RangeError('windowSeconds must be at least 1');
    this.startedAt = clock();
  }

  add(count: number, at = this.clock()): void {
    if (!(count > 0)) return;
    const second = Math.floor(at / 1000);
    this.buckets.set(second, (this.buckets.get(second) ?? 0) + count);
    this.prune(second);
  }

  /** Events per second over the last windowSeconds (the current partial second included). */
  perSecond(at = this.clock()): number {
    const second = Math.floor(at / 1000);
    this.prune(second);
    let total = 0;
    for (const n of this.buckets.values()) total += n;
    const span = Math.min(this.windowSeconds, Math.max(1, (at - this.startedAt) / 1000));
    return total / span;
  }

  private prune(second: number): void {
    for (const key of this.buckets.keys()) if (key <= second - this.windowSeconds) this.buckets.delete(key);
  }
}
