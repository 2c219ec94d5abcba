// Paired timing rounds and the interval of their ratio: how every side-by-side cost in the benchmarks is judged.

/** Two-sided 95% Student t quantiles by degrees of freedom (1–30; beyond, 1.96 is close enough). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** The geometric-mean ratio of paired times and its 95% interval (t on the per-round log ratios). */
export function pairedRatio(without: readonly number[], withExtra: readonly number[]): { ratio: number; low: number; high: number } {
  const logs = withExtra.map((w, i) => Math.log(w / without[i]!));
  const n = logs.length;
  const mean = logs.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { ratio: Math.exp(mean), low: NaN, high: NaN };
  const sd = Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (T975[n - 2] ?? 1.96) * (sd / Math.sqrt(n));
  return { ratio: Math.exp(mean), low: Math.exp(mean - half), high: Math.exp(mean + half) };
}

/** Runs `a` and `b` in ABBA order per pair of rounds, so a drift hits both alike. */
export async function alternate(rounds: number, a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      out.a.push(await a());
      out.b.push(await b());
    } else {
      out.b.push(await b());
      out.a.push(await a());
    }
  }
  return out;
}
