import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  coefficientOfVariation,
  gini,
  maxOverMean,
  maxOverMedian,
  median,
  normalizedEntropy,
  p95OverP50,
  percentile,
  skew,
  skewReport,
} from '../../src/detect/skew.js';
import { snapshot, T0 } from './world.js';

// The seed's example (seed 003, "Quantifying Skew"): ten partitions, one at 100.
const SEED = [10, 9, 11, 10, 10, 9, 10, 10, 10, 100];
// By hand: sorted 9 9 10 10 10 10 10 10 11 100; n = 10, sum = 189, mean = 18.9, median = 10.
const SUM = 189;
const MEAN = 18.9;

/** Gini straight from its definition, Σ|xi - xj| / (2 n² mean), as the oracle. */
function giniByDefinition(xs: readonly number[]): number {
  const n = xs.length;
  const total = xs.reduce((a, b) => a + b, 0);
  if (n < 2 || total === 0) return 0;
  let d = 0;
  for (const a of xs) for (const b of xs) d += Math.abs(a - b);
  return d / (2 * n * total);
}

describe('skew measures', () => {
  it('skew measures - seed example: max/median is 10', () => {
    expect(median(SEED)).toBe(10);
    expect(maxOverMedian(SEED)).toBe(10);
  });

  it('skew measures - seed example: max/mean = 100 / 18.9', () => {
    expect(maxOverMean(SEED)).toBeCloseTo(100 / MEAN, 12);
    expect(maxOverMean(SEED)).toBeCloseTo(5.291005, 6);
  });

  it('skew measures - seed example: p95/p50 interpolates between the 9th and 10th values', () => {
    // h = (10 - 1) × 0.95 = 8.55 → 11 + 0.55 × (100 - 11) = 59.95; p50 = 10.
    expect(percentile(SEED, 0.95)).toBeCloseTo(59.95, 10);
    expect(p95OverP50(SEED)).toBeCloseTo(5.995, 10);
  });

  it('skew measures - seed example: Gini = 833 / 1890', () => {
    // Σ i·x(i) = 9 + 18 + 30 + 40 + 50 + 60 + 70 + 80 + 99 + 1000 = 1456;
    // G = 2 × 1456 / (10 × 189) - 11 / 10 = (2912 - 2079) / 1890 = 833 / 1890 ≈ 0.440741.
    expect(gini(SEED)).toBeCloseTo(833 / 1890, 12);
    expect(gini(SEED)).toBeCloseTo(0.440741, 6);
    expect(giniByDefinition(SEED)).toBeCloseTo(833 / 1890, 12);
  });

  it('skew measures - seed example: CV = sqrt(731.09) / 18.9', () => {
    // Squared deviations: 6 × 8.9² + 2 × 9.9² + 7.9² + 81.1² = 475.26 + 196.02 + 62.41 + 6577.21 = 7310.9.
    expect(coefficientOfVariation(SEED)).toBeCloseTo(Math.sqrt(7310.9 / 10) / MEAN, 12);
    expect(coefficientOfVariation(SEED)).toBeCloseTo(1.430618, 6);
  });

  it('skew measures - seed example: normalized entropy ≈ 0.749310', () => {
    // H = ln 189 - (6 × 10 ln 10 + 2 × 9 ln 9 + 11 ln 11 + 100 ln 100) / 189, over ln 10.
    const h =
      Math.log(SUM) -
      (6 * 10 * Math.log(10) + 2 * 9 * Math.log(9) + 11 * Math.log(11) + 100 * Math.log(100)) / SUM;
    expect(normalizedEntropy(SEED)).toBeCloseTo(h / Math.log(10), 12);
    expect(normalizedEntropy(SEED)).toBeCloseTo(0.74931, 5);
  });

  it('skew measures - skew() agrees with the single functions', () => {
    const s = skew(SEED);
    expect(s).toMatchObject({ n: 10, total: SUM, max: 100, median: 10, maxOverMedian: 10 });
    expect(s.mean).toBeCloseTo(MEAN, 12);
    expect(s.p95).toBeCloseTo(59.95, 10);
    expect(s.gini).toBeCloseTo(gini(SEED), 12);
    expect(s.cv).toBeCloseTo(coefficientOfVariation(SEED), 12);
    expect(s.entropy).toBeCloseTo(normalizedEntropy(SEED), 12);
    expect(s.p95OverP50).toBeCloseTo(p95OverP50(SEED), 12);
  });

  it('skew measures - uniform load is perfectly balanced', () => {
    const s = skew([7, 7, 7, 7]);
    expect(s).toMatchObject({ maxOverMedian: 1, maxOverMean: 1, p95OverP50: 1, gini: 0, cv: 0, entropy: 1 });
  });

  it('skew measures - everything on one of n: Gini (n-1)/n, entropy 0, ratios unbounded', () => {
    const s = skew([0, 0, 0, 12]);
    expect(s.gini).toBeCloseTo(3 / 4, 12);
    expect(s.entropy).toBe(0);
    expect(s.maxOverMean).toBe(4);
    expect(s.maxOverMedian).toBe(Infinity);
    expect(s.p95OverP50).toBe(Infinity);
    expect(s.cv).toBeCloseTo(Math.sqrt(3), 12);
  });

  it.each([
    ['empty', []],
    ['a single element', [42]],
    ['all zeros', [0, 0, 0]],
    ['a single zero', [0]],
  ])('skew measures - %s reads as no skew', (_name, xs) => {
    const s = skew(xs);
    expect(s).toMatchObject({ maxOverMedian: 1, maxOverMean: 1, p95OverP50: 1, gini: 0, cv: 0, entropy: 1 });
    expect(maxOverMedian(xs)).toBe(1);
    expect(maxOverMean(xs)).toBe(1);
    expect(p95OverP50(xs)).toBe(1);
    expect(gini(xs)).toBe(0);
    expect(coefficientOfVariation(xs)).toBe(0);
    expect(normalizedEntropy(xs)).toBe(1);
  });

  it('skew measures - empty median and percentile are 0', () => {
    expect(median([])).toBe(0);
    expect(percentile([], 0.95)).toBe(0);
    expect(skew([])).toMatchObject({ n: 0, total: 0, max: 0, mean: 0, median: 0, p95: 0 });
  });

  it('skew measures - median of an even count is the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 0)).toBe(1);
    expect(percentile([1, 2, 3, 4], 1)).toBe(4);
  });

  it.each([[[-1]], [[NaN]], [[Infinity]], [[1, -0.5, 2]]])('skew measures - rejects %j', (xs) => {
    expect(() => skew(xs)).toThrow(RangeError);
    expect(() => gini(xs)).toThrow(RangeError);
    expect(() => normalizedEntropy(xs)).toThrow(RangeError);
  });

  it('skew measures - percentile rejects q outside [0, 1]', () => {
    expect(() => percentile([1], 1.5)).toThrow(RangeError);
  });

  // Zero or a rate of at least 1e-3: denormals underflow when averaged, which no telemetry produces.
  const load = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 1e6, noNaN: true }));
  const loads = fc.array(load, { minLength: 0, maxLength: 40 });

  it('skew measures - Gini matches its definition, and every measure stays in range', () => {
    fc.assert(
      fc.property(loads, (xs) => {
        const s = skew(xs);
        expect(s.gini).toBeCloseTo(giniByDefinition(xs), 9);
        expect(s.gini).toBeGreaterThanOrEqual(0);
        expect(s.gini).toBeLessThanOrEqual(xs.length <= 1 ? 0 : (xs.length - 1) / xs.length + 1e-12);
        expect(s.entropy).toBeGreaterThanOrEqual(0);
        expect(s.entropy).toBeLessThanOrEqual(1);
        expect(s.maxOverMean).toBeGreaterThanOrEqual(1 - 1e-12);
        expect(s.maxOverMedian).toBeGreaterThanOrEqual(1 - 1e-12);
        expect(s.p95OverP50).toBeGreaterThanOrEqual(1 - 1e-12);
        expect(s.cv).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('skew measures - scale and order do not change any measure', () => {
    fc.assert(
      fc.property(loads, fc.double({ min: 0.001, max: 1000, noNaN: true }), (xs, k) => {
        const a = skew(xs);
        const b = skew([...xs].reverse().map((x) => x * k));
        for (const f of ['maxOverMean', 'gini', 'cv', 'entropy'] as const) {
          expect(b[f]).toBeCloseTo(a[f], 6);
        }
      }),
    );
  });
});

describe('skew report', () => {
  it('skew report - measures reads, writes, ops and bytes over shards and nodes separately', () => {
    // 16 shards of 1000 ops (80 % reads); shard 3 gets 9000 extra writes.
    const snap = snapshot({ now: T0, hotKeys: [{ key: 'counter', shard: 3, reads: 0, writes: 9000 }] });
    const r = skewReport(snap);
    expect(r.at).toBe(T0);
    // Writes: 15 shards at 200, shard 3 at 9200 → max/median 46, max/mean 9200 / (12200 / 16).
    expect(r.shards.writes.maxOverMedian).toBeCloseTo(46, 9);
    expect(r.shards.writes.maxOverMean).toBeCloseTo(9200 / (12200 / 16), 9);
    expect(r.shards.writes.hottest).toBe('s3');
    // Reads are untouched: perfectly even.
    expect(r.shards.reads).toMatchObject({ maxOverMedian: 1, gini: 0, hottest: 's0' });
    // Ops: shard 3 at 10000 over 15 at 1000.
    expect(r.shards.ops.maxOverMedian).toBe(10);
    expect(r.shards.bytes.maxOverMedian).toBe(10);
    // Nodes: n0 holds shards 0–3 → 13000 ops vs 4000 on the others.
    expect(r.nodes.ops.n).toBe(4);
    expect(r.nodes.ops.max).toBe(13000);
    expect(r.nodes.ops.median).toBe(4000);
    expect(r.nodes.ops.hottest).toBe('n0');
  });

  it('skew report - an empty cluster reports no skew and no hottest', () => {
    const r = skewReport({ ...snapshot({ now: T0 }), shards: [], nodes: [] });
    expect(r.shards.ops).toMatchObject({ n: 0, hottest: null, maxOverMedian: 1, gini: 0 });
  });
});
