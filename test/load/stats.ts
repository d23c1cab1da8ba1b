/** Statistics helpers for the distribution tests. */

/** Pearson's chi-square statistic of observed counts against expected probabilities. */
export function chiSquare(observed: ArrayLike<number>, probabilities: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < observed.length; i++) total += observed[i]!;
  let chi = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = total * probabilities[i]!;
    chi += (observed[i]! - expected) ** 2 / expected;
  }
  return chi;
}

/**
 * The chi-square critical value for `df` degrees of freedom at upper-tail
 * probability 0.001 (Wilson–Hilferty; accurate to well under 1 % for df ≥ 30).
 */
export function chiSquareCritical001(df: number): number {
  const z = 3.0902; // standard normal quantile at 0.999
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/** P(rank r) for r = 0..n-1 under Zipf(θ): ∝ 1/(r+1)^θ. */
export function zipfProbabilities(n: number, theta: number): Float64Array {
  const p = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) sum += p[r] = Math.pow(r + 1, -theta);
  for (let r = 0; r < n; r++) p[r]! /= sum;
  return p;
}

/** Counts draws per index. */
export function histogram(n: number, draws: number, next: () => number): Float64Array {
  const counts = new Float64Array(n);
  for (let i = 0; i < draws; i++) counts[next()]!++;
  return counts;
}
