/**
 * Latency recording for the load generator: an HdrHistogram (hdr-histogram-js,
 * the pure-JS 32-bit variant — no WebAssembly start-up, and a record is an
 * array increment) over microseconds, three significant digits, read back in
 * milliseconds.
 */
import * as hdr from 'hdr-histogram-js';

/** Percentiles of a set of latencies, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** The summary of no samples: every figure 0. */
export const EMPTY_LATENCY: LatencySummary = { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

/**
 * Records latencies and reports percentiles.
 *
 * @example
 * const h = new LatencyHistogram();
 * h.recordMs(1.25);
 * h.summary().p99; // 1.25
 */
export class LatencyHistogram {
  readonly #h: hdr.Histogram;

  constructor() {
    this.#h = hdr.build({
      bitBucketSize: 32,
      autoResize: true,
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000, // one minute in µs; autoResize grows it if ever needed
      numberOfSignificantValueDigits: 3,
      useWebAssembly: false,
    });
  }

  /** Records one latency in milliseconds (fractions kept to the microsecond; negatives count as 0). */
  recordMs(ms: number): void {
    this.#h.recordValue(ms > 0 ? Math.round(ms * 1000) : 0);
  }

  get count(): number {
    return this.#h.totalCount;
  }

  /** The latency at `percentile` (0..100) in ms; 0 when empty. */
  percentileMs(percentile: number): number {
    return this.#h.totalCount === 0 ? 0 : this.#h.getValueAtPercentile(percentile) / 1000;
  }

  /** Adds every sample of `other`. */
  add(other: LatencyHistogram): void {
    this.#h.add(other.#h);
  }

  reset(): void {
    this.#h.reset();
  }

  summary(): LatencySummary {
    const h = this.#h;
    if (h.totalCount === 0) return EMPTY_LATENCY;
    return {
      count: h.totalCount,
      mean: round3(h.mean / 1000),
      p50: h.getValueAtPercentile(50) / 1000,
      p90: h.getValueAtPercentile(90) / 1000,
      p99: h.getValueAtPercentile(99) / 1000,
      p999: h.getValueAtPercentile(99.9) / 1000,
      max: h.maxValue / 1000,
    };
  }
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
