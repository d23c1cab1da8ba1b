import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createRng, Xoshiro128 } from '../../src/load/random.js';
import {
  compileWorkload,
  parseOps,
  parseTenants,
  parseValueSize,
  rateAt,
  type WorkloadSpec,
} from '../../src/load/workload.js';

const MIXED: WorkloadSpec = {
  keys: 5_000,
  distribution: { kind: 'zipf', theta: 1.1 },
  ops: { get: 50, set: 20, incr: 10, mget: 10, del: 10 },
  valueSize: { kind: 'uniform', min: 16, max: 256 },
  tenants: [
    { name: 'a', rate: 1000 },
    { name: 'b', rate: 3000 },
  ],
};

function draw(spec: WorkloadSpec, seed: number, n: number): string[] {
  const w = compileWorkload(spec, { seed });
  return Array.from({ length: n }, (_, i) => {
    const r = w.next(i);
    return `${r.op} ${r.tenant} ${r.keys.join(',')} ${r.valueSize}`;
  });
}

describe('random', () => {
  it('random - the same seed gives the same stream, another seed another', () => {
    const a = createRng(123);
    const b = createRng(123);
    const c = createRng(124);
    const xs = Array.from({ length: 100 }, () => a.nextU32());
    expect(Array.from({ length: 100 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.nextU32())).not.toEqual(xs);
    expect(createRng(123, 'x').nextU32()).not.toBe(createRng(123, 'y').nextU32());
  });

  it('random - floats in [0, 1) and ints in [0, n) for any n', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, n) => {
        const rng = new Xoshiro128(seed);
        for (let i = 0; i < 50; i++) {
          const f = rng.nextFloat();
          const k = rng.nextInt(n);
          if (!(f >= 0 && f < 1 && Number.isInteger(k) && k >= 0 && k < n)) return false;
        }
        return true;
      }),
    );
  });
});

describe('workload', () => {
  it('workload - a seed reproduces every request; another seed changes them', () => {
    const a = draw(MIXED, 42, 5_000);
    expect(draw(MIXED, 42, 5_000)).toEqual(a);
    expect(draw(MIXED, 43, 5_000)).not.toEqual(a);
  });

  it('workload - adding a tenant leaves the other tenants’ keys as they were', () => {
    const keysOf = (spec: WorkloadSpec): string[] => {
      const w = compileWorkload(spec, { seed: 5 });
      const out: string[] = [];
      for (let i = 0; out.length < 500; i++) {
        const r = w.next(i);
        if (r.tenant === 0) out.push(r.keys.join(','));
      }
      return out;
    };
    const one = keysOf({ ops: { get: 1 }, tenants: [{ name: 'a', rate: 1 }] });
    const two = keysOf({
      ops: { get: 1 },
      tenants: [
        { name: 'a', rate: 1 },
        { name: 'z', rate: 1 },
      ],
    });
    expect(two).toEqual(one);
  });

  it('workload - op mix, tenant shares and value sizes follow their weights', () => {
    const w = compileWorkload(MIXED, { seed: 1 });
    const ops: Record<string, number> = {};
    const tenants = [0, 0];
    let minSize = Infinity;
    let maxSize = 0;
    let badNames = 0;
    let badMget = 0;
    const names = [/^a:key:\d{12}$/, /^b:key:\d{12}$/, /^a:counter:\d{12}$/, /^b:counter:\d{12}$/];
    const N = 40_000;
    for (let i = 0; i < N; i++) {
      const r = w.next(i);
      ops[r.op] = (ops[r.op] ?? 0) + 1;
      tenants[r.tenant]!++;
      if (r.op === 'set') {
        minSize = Math.min(minSize, r.valueSize);
        maxSize = Math.max(maxSize, r.valueSize);
      }
      if (r.op === 'mget' && r.keys.length !== 10) badMget++;
      if (!names[r.tenant + (r.op === 'incr' ? 2 : 0)]!.test(r.keys[0]!)) badNames++;
    }
    expect(badNames).toBe(0);
    expect(badMget).toBe(0);
    expect(ops.get! / N).toBeCloseTo(0.5, 1);
    expect(ops.set! / N).toBeCloseTo(0.2, 1);
    expect(ops.del! / N).toBeCloseTo(0.1, 1);
    expect(tenants[1]! / N).toBeCloseTo(0.75, 1);
    expect(minSize).toBeGreaterThanOrEqual(16);
    expect(maxSize).toBeLessThanOrEqual(256);
    expect(maxSize - minSize).toBeGreaterThan(200);
  });

  it('workload - the rate schedule sums tenant steps, and a given total rate overrides it', () => {
    const w = compileWorkload(
      {
        tenants: [
          { name: 'a', rate: 1000 },
          {
            name: 'b',
            rate: [
              { fromMs: 0, rate: 0 },
              { fromMs: 2000, rate: 4000 },
            ],
          },
        ],
      },
      { seed: 1 },
    );
    expect(rateAt(w.schedule, 0)).toBe(1000);
    expect(rateAt(w.schedule, 2500)).toBe(5000);
    expect(w.schedule[1]).toMatchObject({ fromMs: 2000, before: 2000 });
    // Before 2 s only tenant a sends; after, b takes 80 %.
    expect(Array.from({ length: 200 }, (_, i) => w.next(i * 5).tenant).every((t) => t === 0)).toBe(true);
    const later = Array.from({ length: 5000 }, () => w.next(3000).tenant);
    expect(later.filter((t) => t === 1).length / 5000).toBeCloseTo(0.8, 1);
    expect(
      rateAt(compileWorkload({ tenants: [{ name: 'a', rate: 5 }] }, { seed: 1, rate: 700 }).schedule, 10),
    ).toBe(700);
  });

  it('workload - command-line forms parse, bad ones name the flag', () => {
    expect(parseOps('get=90,set=10')).toEqual({ get: 90, set: 10 });
    expect(parseValueSize('64')).toEqual({ kind: 'fixed', bytes: 64 });
    expect(parseValueSize('32-512')).toEqual({ kind: 'uniform', min: 32, max: 512 });
    expect(parseValueSize('64:90,1024:10')).toEqual({
      kind: 'buckets',
      buckets: [
        { bytes: 64, weight: 90 },
        { bytes: 1024, weight: 10 },
      ],
    });
    expect(parseTenants('a=1000,b=5000')).toEqual([
      { name: 'a', rate: 1000 },
      { name: 'b', rate: 5000 },
    ]);
    expect(() => parseOps('get=90,put=10')).toThrow(/--ops: unknown op "put"/);
    expect(() => parseOps('get=0')).toThrow(/at least one op/);
    expect(() => parseOps('get')).toThrow(/--ops must look like/);
    expect(() => parseValueSize('512-32')).toThrow(/--value-size/);
    expect(() => parseValueSize('big')).toThrow(/--value-size/);
    expect(() => parseTenants('a b=1')).toThrow(/--tenants/);
    expect(() =>
      compileWorkload(
        {
          tenants: [
            { name: 'a', rate: 1 },
            { name: 'a', rate: 2 },
          ],
        },
        { seed: 1 },
      ),
    ).toThrow(ConfigError);
  });
});
