/**
 * Skew measures: how unevenly load spreads over shards or nodes. Pure
 * functions of non-negative numbers (rates), so dashboards, the detector and
 * tests all get the same answer.
 *
 * Edge cases, chosen so that "no data" and "no load" read as "no skew" and a
 * consumer never has to special-case NaN:
 * - empty input, a single element, or all zeros: ratios are 1, Gini and CV are
 *   0, normalized entropy is 1 (one shard, or nothing, is trivially balanced);
 * - a positive numerator over a zero denominator (e.g. max/median of
 *   [0, 0, 5]) is `Infinity`: the skew is real and unbounded. `JSON.stringify`
 *   turns it into null, so an HTTP front end should say so;
 * - negative or non-finite input is a caller's bug and throws a RangeError.
 *
 * Percentiles interpolate linearly between closest ranks (numpy's default,
 * Excel's PERCENTILE.INC), so the median of an even count is the mean of the
 * middle two. Gini and CV are population measures (divide by n, not n - 1).
 */
import type { EntityLoad, TickSnapshot } from './snapshot.js';

/** The skew measures of one list of loads. */
export interface SkewMeasures {
  /** How many values (shards, nodes). */
  readonly n: number;
  readonly total: number;
  readonly max: number;
  readonly mean: number;
  readonly median: number;
  readonly p95: number;
  /** max / median; the seeds' headline skew ratio (seed 003: "max/median > 10"). */
  readonly maxOverMedian: number;
  /** max / mean; the seeds' "2× the average" rule compares against this (seed 002). */
  readonly maxOverMean: number;
  /** p95 / p50; more robust to a single outlier than max/median (seed 003). */
  readonly p95OverP50: number;
  /** Gini coefficient, 0 = equal, (n - 1) / n = everything on one (seed 001 warns above 0.8). */
  readonly gini: number;
  /** Coefficient of variation: population standard deviation / mean (seed 002 alerts above 0.5). */
  readonly cv: number;
  /** Shannon entropy of the shares over ln n: 0 = all on one, 1 = uniform. */
  readonly entropy: number;
}

function check(xs: readonly number[]): void {
  for (const x of xs) {
    if (!(x >= 0) || !Number.isFinite(x))
      throw new RangeError(`skew: loads must be finite and >= 0 (got ${x})`);
  }
}

function sorted(xs: readonly number[]): number[] {
  check(xs);
  return [...xs].sort((a, b) => a - b);
}

/** num / den with the module's conventions: 0/0 = 1 (no skew), x/0 = Infinity. */
function ratio(num: number, den: number): number {
  if (den > 0) return num / den;
  return num > 0 ? Infinity : 1;
}

/** Linear interpolation between closest ranks of an ascending array; 0 when empty. */
function quantileSorted(s: readonly number[], q: number): number {
  if (s.length === 0) return 0;
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const a = s[lo] ?? 0;
  const b = s[Math.min(lo + 1, s.length - 1)] ?? a;
  return a + (h - lo) * (b - a);
}

function sum(xs: readonly number[]): number {
  let t = 0;
  for (const x of xs) t += x;
  return t;
}

function giniSorted(s: readonly number[], total: number): number {
  const n = s.length;
  if (n < 2 || total <= 0) return 0;
  // G = Σ_i Σ_j |x_i - x_j| / (2 n² mean), computed in O(n) on ascending values:
  // G = 2 Σ_i i·x_(i) / (n Σ x) - (n + 1) / n, with i counted from 1.
  let weighted = 0;
  for (let i = 0; i < n; i++) weighted += (i + 1) * (s[i] ?? 0);
  return Math.max(0, (2 * weighted) / (n * total) - (n + 1) / n);
}

function cvOf(xs: readonly number[], total: number): number {
  const n = xs.length;
  if (n < 2 || total <= 0) return 0;
  const mean = total / n;
  let sq = 0;
  for (const x of xs) sq += (x - mean) ** 2;
  return Math.sqrt(sq / n) / mean;
}

function entropyOf(xs: readonly number[], total: number): number {
  const n = xs.length;
  if (n < 2 || total <= 0) return 1;
  let h = 0;
  for (const x of xs) {
    if (x > 0) {
      const p = x / total;
      h -= p * Math.log(p);
    }
  }
  // Clamp rounding (uniform input can land a hair above 1).
  return Math.min(1, Math.max(0, h / Math.log(n)));
}

/** Median (linear interpolation); 0 for an empty list. */
export function median(xs: readonly number[]): number {
  return quantileSorted(sorted(xs), 0.5);
}

/**
 * The q-quantile (0 ≤ q ≤ 1), interpolating linearly between closest ranks; 0 for an empty list.
 * @example percentile([1, 2, 3, 4], 0.5) // 2.5
 */
export function percentile(xs: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile: q must be in [0, 1] (got ${q})`);
  return quantileSorted(sorted(xs), q);
}

/**
 * max / median.
 * @example maxOverMedian([10, 9, 11, 10, 10, 9, 10, 10, 10, 100]) // 10
 */
export function maxOverMedian(xs: readonly number[]): number {
  const s = sorted(xs);
  return ratio(s[s.length - 1] ?? 0, quantileSorted(s, 0.5));
}

/** max / mean. */
export function maxOverMean(xs: readonly number[]): number {
  const s = sorted(xs);
  return ratio(s[s.length - 1] ?? 0, s.length === 0 ? 0 : sum(s) / s.length);
}

/** p95 / p50. */
export function p95OverP50(xs: readonly number[]): number {
  const s = sorted(xs);
  return ratio(quantileSorted(s, 0.95), quantileSorted(s, 0.5));
}

/** Population Gini coefficient: 0 = equal; (n - 1) / n when one element holds everything. */
export function gini(xs: readonly number[]): number {
  const s = sorted(xs);
  return giniSorted(s, sum(s));
}

/** Population standard deviation over the mean; 0 for fewer than two elements or no load. */
export function coefficientOfVariation(xs: readonly number[]): number {
  check(xs);
  return cvOf(xs, sum(xs));
}

/** Shannon entropy of the shares, normalized by ln n: 0 = all on one, 1 = uniform (and for n ≤ 1). */
export function normalizedEntropy(xs: readonly number[]): number {
  check(xs);
  return entropyOf(xs, sum(xs));
}

/**
 * Every measure at once, sorting once.
 * @example skew([10, 9, 11, 10, 10, 9, 10, 10, 10, 100]).maxOverMedian // 10
 */
export function skew(xs: readonly number[]): SkewMeasures {
  const s = sorted(xs);
  const n = s.length;
  const total = sum(s);
  const max = s[n - 1] ?? 0;
  const mean = n === 0 ? 0 : total / n;
  const med = quantileSorted(s, 0.5);
  const p95 = quantileSorted(s, 0.95);
  return {
    n,
    total,
    max,
    mean,
    median: med,
    p95,
    maxOverMedian: ratio(max, med),
    maxOverMean: ratio(max, mean),
    p95OverP50: ratio(p95, med),
    gini: giniSorted(s, total),
    cv: cvOf(s, total),
    entropy: entropyOf(s, total),
  };
}

/** Skew of one dimension, plus which entity is the busiest (null when there is no load). */
export interface DimensionSkew extends SkewMeasures {
  readonly hottest: string | null;
}

/** Skew per dimension: reads, writes, ops (reads + writes) and bytes, each measured separately. */
export interface LoadSkew {
  readonly reads: DimensionSkew;
  readonly writes: DimensionSkew;
  readonly ops: DimensionSkew;
  readonly bytes: DimensionSkew;
}

/** What `GET /skew` serves: skew over shards and over nodes at one tick. */
export interface SkewReport {
  /** The snapshot's `now` (ms since the epoch). */
  readonly at: number;
  readonly shards: LoadSkew;
  readonly nodes: LoadSkew;
}

function dimension(entities: readonly EntityLoad[], value: (e: EntityLoad) => number): DimensionSkew {
  const xs = entities.map(value);
  let hottest: string | null = null;
  let best = 0;
  entities.forEach((e, i) => {
    const x = xs[i] ?? 0;
    if (x > best) {
      best = x;
      hottest = e.id;
    }
  });
  return { ...skew(xs), hottest };
}

function loadSkew(entities: readonly EntityLoad[]): LoadSkew {
  return {
    reads: dimension(entities, (e) => e.reads),
    writes: dimension(entities, (e) => e.writes),
    ops: dimension(entities, (e) => e.reads + e.writes),
    bytes: dimension(entities, (e) => e.bytes),
  };
}

/**
 * Skew of reads, writes, ops and bytes over the snapshot's shards and nodes.
 * Reads and writes are kept apart because a shard can be write-hot while its
 * total is unremarkable, and bytes because large values make a shard hot
 * without more operations (seed 003, "Track skew separately for reads, writes, and bytes").
 * @example skewReport(snapshot).shards.ops.maxOverMedian
 */
export function skewReport(snapshot: TickSnapshot): SkewReport {
  return { at: snapshot.now, shards: loadSkew(snapshot.shards), nodes: loadSkew(snapshot.nodes) };
}
