import { describe, expect, it } from 'vitest';
import {
  celebrity,
  compileDistribution,
  hotspot,
  parseDistribution,
  scrambleIndex,
  sequential,
  uniform,
  zipf,
  type DistributionSpec,
} from '../../src/load/distributions.js';
import { ConfigError } from '../../src/errors.js';
import { createRng } from '../../src/load/random.js';
import { compileWorkload } from '../../src/load/workload.js';
import { chiSquare, chiSquareCritical001, histogram, zipfProbabilities } from './stats.js';

const KEYS = 1000;
const DRAWS = 200_000;

describe('distributions', () => {
  for (const theta of [0.99, 1.2]) {
    it(`zipf - θ=${theta} ranks fit the exact distribution (chi-square, 1000 keys, 200k draws)`, () => {
      const d = zipf(KEYS, theta, { scrambled: false });
      const rng = createRng(7);
      const counts = histogram(KEYS, DRAWS, () => d.next(rng, 0));
      const chi = chiSquare(counts, zipfProbabilities(KEYS, theta));
      expect(chi).toBeLessThan(chiSquareCritical001(KEYS - 1));
    });
  }

  it('zipf - the test has power: YCSB’s Gray approximation fails it at θ=0.99 and 1.2', () => {
    for (const theta of [0.99, 1.2]) {
      const d = zipf(KEYS, theta, { scrambled: false, sampler: 'ycsb' });
      const rng = createRng(7);
      const counts = histogram(KEYS, DRAWS, () => d.next(rng, 0));
      expect(chiSquare(counts, zipfProbabilities(KEYS, theta))).toBeGreaterThan(
        chiSquareCritical001(KEYS - 1),
      );
    }
  });

  it('zipf - θ=1 exactly (a singular point of the closed forms) fits too', () => {
    const d = zipf(200, 1, { scrambled: false });
    const rng = createRng(3);
    const counts = histogram(200, 100_000, () => d.next(rng, 0));
    expect(chiSquare(counts, zipfProbabilities(200, 1))).toBeLessThan(chiSquareCritical001(199));
  });

  it('zipf - scrambling is a bijection that moves each rank’s whole share to one key', () => {
    for (const n of [1, 2, 3, 1000, 4097]) {
      const seen = new Set<number>();
      for (let r = 0; r < n; r++) {
        const k = scrambleIndex(r, n);
        if (Number.isInteger(k) && k >= 0 && k < n) seen.add(k);
      }
      expect(seen.size).toBe(n);
    }
    // The same draws land on scrambleIndex(rank) instead of rank.
    const plain = zipf(KEYS, 1.2, { scrambled: false });
    const scrambled = zipf(KEYS, 1.2);
    const a = createRng(11);
    const b = createRng(11);
    let differ = 0;
    for (let i = 0; i < 10_000; i++)
      if (scrambled.next(b, 0) !== scrambleIndex(plain.next(a, 0), KEYS)) differ++;
    expect(differ).toBe(0);
    // The hottest keys are spread out, not the first indexes.
    const top = [0, 1, 2, 3, 4].map((r) => scrambleIndex(r, KEYS));
    expect(top.filter((k) => k < 5).length).toBeLessThan(2);
  });

  it('zipf - works on a billion keys without precomputation', () => {
    const d = zipf(1e9, 1.2);
    const rng = createRng(5);
    const started = performance.now();
    let hottest = 0;
    const hot = scrambleIndex(0, 1e9);
    for (let i = 0; i < 100_000; i++) if (d.next(rng, 0) === hot) hottest++;
    expect(performance.now() - started).toBeLessThan(2_000);
    // P(rank 1) = 1/ζ(1.2) ≈ 0.1815 for n = 1e9.
    expect(hottest / 100_000).toBeGreaterThan(0.17);
    expect(hottest / 100_000).toBeLessThan(0.19);
  });

  it('uniform - fits the uniform distribution (chi-square)', () => {
    const d = uniform(KEYS);
    const rng = createRng(9);
    const counts = histogram(KEYS, DRAWS, () => d.next(rng, 0));
    expect(chiSquare(counts, new Float64Array(KEYS).fill(1 / KEYS))).toBeLessThan(
      chiSquareCritical001(KEYS - 1),
    );
  });

  it('hotspot - 90 % of traffic on the first 1 % of keys, uniform within each set', () => {
    const d = hotspot(10_000, 0.9, 0.01);
    const rng = createRng(1);
    let hot = 0;
    let outside = 0;
    const hotCounts = new Float64Array(100);
    for (let i = 0; i < DRAWS; i++) {
      const k = d.next(rng, 0);
      if (k < 0 || k >= 10_000) outside++;
      if (k < 100) {
        hot++;
        hotCounts[k]!++;
      }
    }
    expect(outside).toBe(0);
    expect(hot / DRAWS).toBeCloseTo(0.9, 2);
    expect(chiSquare(hotCounts, new Float64Array(100).fill(0.01))).toBeLessThan(chiSquareCritical001(99));
  });

  it('celebrity - one key takes its share only between T and T2', () => {
    const d = celebrity(uniform(10_000), 42, 0.3, 1_000, 2_000);
    const rng = createRng(2);
    const share = (t: number): number => {
      let n = 0;
      for (let i = 0; i < 50_000; i++) if (d.next(rng, t) === 42) n++;
      return n / 50_000;
    };
    expect(share(500)).toBeLessThan(0.001);
    expect(share(1_500)).toBeCloseTo(0.3 + 0.7 / 10_000, 2);
    expect(share(2_000)).toBeLessThan(0.001);
  });

  it('sequential - ids increase by one and their key names sort in the same order', () => {
    const w = compileWorkload(
      { distribution: { kind: 'sequential', start: 995 }, ops: { set: 1 }, keyPrefix: 'ts:' },
      { seed: 1 },
    );
    const names = Array.from({ length: 20 }, (_, i) => w.next(i).keys[0]!);
    expect(names[0]).toBe('ts:000000000995');
    expect(names[19]).toBe('ts:000000001014');
    expect([...names].sort()).toEqual(names);
    const d = sequential(10, 5);
    expect([d.next(createRng(1), 0), d.next(createRng(2), 0), d.next(createRng(3), 0)]).toEqual([5, 6, 7]);
  });

  it('phased - switches distributions at the given times', () => {
    const d = compileDistribution(
      {
        kind: 'phased',
        phases: [
          { fromMs: 0, distribution: { kind: 'uniform' } },
          { fromMs: 1000, distribution: { kind: 'hotspot', trafficShare: 1, keyShare: 0.001 } },
        ],
      },
      10_000,
    );
    const rng = createRng(4);
    const before = Array.from({ length: 1000 }, () => d.next(rng, 10));
    const after = Array.from({ length: 1000 }, () => d.next(rng, 1500));
    expect(before.some((k) => k >= 10)).toBe(true);
    expect(after.every((k) => k < 10)).toBe(true);
  });

  it('parse - the command-line forms', () => {
    expect(parseDistribution('uniform')).toEqual({ kind: 'uniform' });
    expect(parseDistribution('zipf:1.2')).toEqual({ kind: 'zipf', theta: 1.2 });
    expect(parseDistribution('zipf:0.99,ycsb')).toEqual({ kind: 'zipf', theta: 0.99, sampler: 'ycsb' });
    expect(parseDistribution('hotspot:0.9,0.01')).toEqual({
      kind: 'hotspot',
      trafficShare: 0.9,
      keyShare: 0.01,
    });
    expect(parseDistribution('celebrity:7,0.5,10,20')).toEqual({
      kind: 'celebrity',
      key: 7,
      share: 0.5,
      fromMs: 10_000,
      toMs: 20_000,
    });
    expect(parseDistribution('sequential:100')).toEqual({ kind: 'sequential', start: 100 });
    for (const bad of [
      'zipf',
      'zipf:abc',
      'hotspot:0.9',
      'celebrity:1,2',
      'pareto:1',
      'uniform:3',
      'zipf:1,fast',
    ])
      expect(() => parseDistribution(bad), bad).toThrow(ConfigError);
  });

  it('compile - invalid specs fail naming the field', () => {
    const bad: [DistributionSpec, RegExp][] = [
      [{ kind: 'zipf', theta: 0 }, /distribution\.theta/],
      [{ kind: 'hotspot', trafficShare: 1.5, keyShare: 0.1 }, /trafficShare/],
      [{ kind: 'celebrity', key: 10, share: 0.5, fromMs: 0 }, /distribution\.key/],
      [{ kind: 'celebrity', key: 1, share: 0.5, fromMs: 10, toMs: 5 }, /toMs/],
      [{ kind: 'phased', phases: [{ fromMs: 5, distribution: { kind: 'uniform' } }] }, /fromMs 0/],
    ];
    for (const [spec, message] of bad) expect(() => compileDistribution(spec, 10)).toThrow(message);
  });
});
