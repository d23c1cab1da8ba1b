/**
 * Latency histogram: log-linear buckets on a typed array, HDR-style.
 *
 * Values are whole microseconds from 0 to 60 s. Below 64 µs every microsecond
 * has its own bucket; above, each power of two [2^e, 2^(e+1)) is cut into 32
 * equal sub-buckets, so a bucket is at most 1/32 of its lower bound wide. A
 * percentile is reported as the midpoint of its bucket, hence off by at most
 * half a bucket: a relative error ≤ 1/64 ≈ 1.6 % (0 below 64 µs). 698 buckets
 * cover 0 .. 60.8 s; values above 60 s are clamped to 60 s.
 *
 * Why 32 sub-buckets and not HDR's usual 2048: the counters keep one of these
 * per entity per second (see counters.ts), so a bucket array must stay small
 * (698 × 4 bytes); 1.6 % is well inside what an operator reads off a p99.
 *
 * The bucket arithmetic is exported as plain functions so the counter ring can
 * keep many histograms in one typed array without an object per histogram.
 */

/** Linear sub-buckets per power of two (2^5). */
const SUB_BITS = 5;
const SUB_COUNT = 1 << SUB_BITS;
/** Values below this have one bucket each. */
const LINEAR_LIMIT = SUB_COUNT * 2;

/** Largest value a histogram holds (60 s in µs); larger values are clamped to it. */
export const HISTOGRAM_MAX_MICROS = 60_000_000;
/** Number of buckets of every latency histogram. */
export const HISTOGRAM_BUCKETS = 698;
/** Bound on the relative error of a reported percentile (half a bucket over its lower bound). */
export const HISTOGRAM_RELATIVE_ERROR = 1 / (2 * SUB_COUNT);

/**
 * The bucket a latency falls in. Rounds to whole microseconds; negative and
 * NaN values count as 0, values over 60 s as 60 s. Allocation-free.
 *
 * @example
 * bucketOf(63) // 63 (exact below 64 µs)
 * bucketOf(1000) === bucketOf(1010) // true: 1000..1015 share a bucket
 */
export function bucketOf(micros: number): number {
  // `!(x > 0)` also catches NaN.
  if (!(micros > 0.5)) return 0;
  const v = micros >= HISTOGRAM_MAX_MICROS ? HISTOGRAM_MAX_MICROS : Math.round(micros);
  if (v < LINEAR_LIMIT) return v;
  const shift = 31 - Math.clz32(v) - SUB_BITS;
  return (shift << SUB_BITS) + (v >>> shift);
}

/** Smallest value of bucket `b` (µs). */
export function bucketLowerBound(b: number): number {
  if (b < LINEAR_LIMIT) return b;
  const shift = (b >>> SUB_BITS) - 1;
  return (SUB_COUNT + (b & (SUB_COUNT - 1))) * 2 ** shift;
}

/** Number of whole-µs values bucket `b` covers. */
export function bucketWidth(b: number): number {
  return b < LINEAR_LIMIT ? 1 : 2 ** ((b >>> SUB_BITS) - 1);
}

/** The value reported for bucket `b`: the midpoint of the whole values it covers (µs). */
export function bucketValue(b: number): number {
  return bucketLowerBound(b) + (bucketWidth(b) - 1) / 2;
}

/**
 * Several percentiles in one pass: `ps` ascending (0..100), written to `out`
 * (µs), each as `percentileOf` would give it. All 0 when empty.
 */
export function percentilesOf(
  counts: ArrayLike<number>,
  offset: number,
  total: number,
  ps: readonly number[],
  out: number[],
): void {
  let k = 0;
  if (total > 0) {
    let rank = rankOf(ps[0]!, total);
    let seen = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS && k < ps.length; b++) {
      seen += counts[offset + b]!;
      while (k < ps.length && seen >= rank) {
        out[k++] = bucketValue(b);
        if (k < ps.length) rank = rankOf(ps[k]!, total);
      }
    }
    for (; k < ps.length; k++) out[k] = bucketValue(HISTOGRAM_BUCKETS - 1);
  }
  for (; k < ps.length; k++) out[k] = 0;
}

/**
 * The `p`-th percentile (0..100) of the histogram stored in
 * `counts[offset, offset + HISTOGRAM_BUCKETS)` holding `total` values: the
 * value of rank ceil(p/100 · total), as a bucket midpoint (µs). 0 when empty.
 */
export function percentileOf(counts: ArrayLike<number>, offset: number, total: number, p: number): number {
  if (total <= 0) return 0;
  const rank = rankOf(p, total);
  let seen = 0;
  for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
    seen += counts[offset + b]!;
    if (seen >= rank) return bucketValue(b);
  }
  return bucketValue(HISTOGRAM_BUCKETS - 1);
}

/**
 * One latency histogram. `record` is allocation-free.
 *
 * @example
 * const h = new LatencyHistogram();
 * h.record(850); h.record(1200);
 * h.percentile(99) // ≈ 1200, within 1.6 %
 */
export class LatencyHistogram {
  /** Count per bucket. */
  readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  #total = 0;
  #sum = 0;
  #max = 0;

  /** Records `count` occurrences of a latency in microseconds. */
  record(micros: number, count = 1): void {
    this.counts[bucketOf(micros)]! += count;
    this.#total += count;
    const clamped = micros > HISTOGRAM_MAX_MICROS ? HISTOGRAM_MAX_MICROS : micros > 0 ? micros : 0;
    this.#sum += clamped * count;
    if (clamped > this.#max) this.#max = clamped;
  }

  /** Number of values recorded. */
  get count(): number {
    return this.#total;
  }

  /** Exact mean of the recorded values (µs), 0 when empty. */
  get mean(): number {
    return this.#total === 0 ? 0 : this.#sum / this.#total;
  }

  /** Exact largest recorded value (µs, clamped to 60 s). */
  get max(): number {
    return this.#max;
  }

  /** The `p`-th percentile (0..100) in µs, within {@link HISTOGRAM_RELATIVE_ERROR}. */
  percentile(p: number): number {
    return percentileOf(this.counts, 0, this.#total, p);
  }

  /** Adds another histogram's counts into this one. */
  merge(other: LatencyHistogram): void {
    this.addCounts(other.counts, 0);
    this.#sum += other.#sum;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  /** Adds raw bucket counts stored at `counts[offset, offset + HISTOGRAM_BUCKETS)` (no sum or max). */
  addCounts(counts: ArrayLike<number>, offset: number): void {
    let added = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      const c = counts[offset + b]!;
      if (c !== 0) {
        this.counts[b]! += c;
        added += c;
      }
    }
    this.#total += added;
  }

  /** Forgets every value. */
  reset(): void {
    this.counts.fill(0);
    this.#total = 0;
    this.#sum = 0;
    this.#max = 0;
  }
}

/** The rank of the `p`-th percentile (0..100, clamped) among `total` values: ceil(p/100 · total), at least 1. */
function rankOf(p: number, total: number): number {
  return Math.max(1, Math.ceil((Math.min(Math.max(p, 0), 100) / 100) * total));
}
