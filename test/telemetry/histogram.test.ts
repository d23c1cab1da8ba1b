import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HISTOGRAM_BUCKETS,
  percentileOf,
  percentilesOf,
  HISTOGRAM_MAX_MICROS,
  HISTOGRAM_RELATIVE_ERROR,
  LatencyHistogram,
  bucketLowerBound,
  bucketOf,
  bucketValue,
  bucketWidth,
} from '../../src/telemetry/histogram.js';
import { random } from './streams.js';

/** The exact p-th percentile: the value of rank ceil(p/100 · n). */
function exact(sorted: readonly number[], p: number): number {
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

function withinError(reported: number, truth: number): boolean {
  return Math.abs(reported - truth) <= HISTOGRAM_RELATIVE_ERROR * truth + 1e-9;
}

describe('latency histogram', () => {
  it('histogram - buckets tile 0..60 s without gaps and each is at most 1/32 of its lower bound wide', () => {
    let next = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      expect(bucketLowerBound(b)).toBe(next);
      if (b >= 64) expect(bucketWidth(b) / bucketLowerBound(b)).toBeLessThanOrEqual(1 / 32);
      expect(bucketOf(bucketLowerBound(b))).toBe(b);
      expect(bucketOf(bucketLowerBound(b) + bucketWidth(b) - 1)).toBe(b);
      next += bucketWidth(b);
    }
    expect(next).toBeGreaterThan(HISTOGRAM_MAX_MICROS);
    expect(bucketOf(HISTOGRAM_MAX_MICROS)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(bucketOf(1e12)).toBe(bucketOf(HISTOGRAM_MAX_MICROS));
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
  });

  it('histogram - every bucket midpoint is within the documented relative error of every value in it', () => {
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      const lo = bucketLowerBound(b);
      const hi = lo + bucketWidth(b) - 1;
      expect(withinError(bucketValue(b), lo) || lo === 0).toBe(true);
      expect(withinError(bucketValue(b), hi)).toBe(true);
    }
  });

  it('histogram - percentilesOf gives, in one pass, what percentileOf gives for each', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: HISTOGRAM_BUCKETS - 1 }), fc.integer({ min: 1, max: 50 })),
          {
            maxLength: 40,
          },
        ),
        fc.integer({ min: 0, max: 3 }),
        (cells, extra) => {
          const h = new Float64Array(HISTOGRAM_BUCKETS);
          for (const [b, c] of cells) h[b]! += c;
          let total = 0;
          for (const c of h) total += c;
          // A total above the histogram's own count (e.g. weighted estimates) must not break it.
          total += extra;
          const ps = [0, 50, 95, 99, 99.9, 100];
          const out = ps.map(() => -1);
          percentilesOf(h, 0, total, ps, out);
          expect(out).toEqual(ps.map((p) => percentileOf(h, 0, total, p)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('histogram - percentiles match an exact sorted array within the relative error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: HISTOGRAM_MAX_MICROS }), { minLength: 1, maxLength: 400 }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (values, p) => {
          const h = new LatencyHistogram();
          for (const v of values) h.record(v);
          const sorted = [...values].sort((a, b) => a - b);
          expect(withinError(h.percentile(p), exact(sorted, p))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('histogram - p50/p95/p99/p999 of a 200k-sample lognormal with a slow tail stay within 1.6 %', () => {
    const rand = random(7);
    const h = new LatencyHistogram();
    const values: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
      let v = Math.round(Math.exp(6 + 1.2 * z)); // median ≈ 400 µs
      if (rand() < 0.002) v = 2_000_000 + Math.round(rand() * 3_000_000); // 2-5 s stalls
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const p of [50, 95, 99, 99.9, 100]) {
      expect(withinError(h.percentile(p), exact(values, p))).toBe(true);
    }
    expect(h.count).toBe(200_000);
    expect(h.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 6);
    expect(h.max).toBe(values[values.length - 1]);
  });

  it('histogram - merge equals recording both streams into one; reset empties it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5_000_000 })),
        fc.array(fc.integer({ min: 0, max: 5_000_000 })),
        (xs, ys) => {
          const a = new LatencyHistogram();
          const b = new LatencyHistogram();
          const both = new LatencyHistogram();
          for (const x of xs) {
            a.record(x);
            both.record(x);
          }
          for (const y of ys) {
            b.record(y);
            both.record(y);
          }
          a.merge(b);
          expect([...a.counts]).toEqual([...both.counts]);
          expect(a.count).toBe(both.count);
          expect(a.max).toBe(both.max);
          expect(a.percentile(99)).toBe(both.percentile(99));
        },
      ),
      { numRuns: 100 },
    );
    const h = new LatencyHistogram();
    h.record(100);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.percentile(99)).toBe(0);
  });

  it('histogram - values over 60 s are clamped, fractions are rounded to whole µs', () => {
    const h = new LatencyHistogram();
    h.record(3_600_000_000);
    expect(h.percentile(100)).toBeLessThanOrEqual(HISTOGRAM_MAX_MICROS * (1 + HISTOGRAM_RELATIVE_ERROR));
    expect(h.max).toBe(HISTOGRAM_MAX_MICROS);
    const g = new LatencyHistogram();
    g.record(12.4);
    g.record(12.6);
    expect(g.percentile(50)).toBe(12);
    expect(g.percentile(100)).toBe(13);
  });
});
