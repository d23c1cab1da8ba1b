import { describe, expect, it } from 'vitest';
import { CountMinSketch } from '../../../src/telemetry/sketches/count-min.js';
import { HeavyHitters } from '../../../src/telemetry/sketches/heavy-hitters.js';
import { keyHash, remix } from '../../../src/telemetry/sketches/key-hash.js';
import { AdaptiveSampler } from '../../../src/telemetry/sketches/sampler.js';
import { keyOf, random, rankOf, zipf } from '../streams.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('heavy hitters', () => {
  it('heavy hitters - windows cover whole past seconds and epochs leave the ring after `seconds`', () => {
    const hh = new HeavyHitters({ seconds: 5 });
    hh.advanceTo(100);
    for (let i = 0; i < 3; i++) hh.offer(b('a'), false, 10);
    hh.advanceTo(101);
    hh.offer(b('b'), true, 100);
    hh.offer(b('b'), true, 100);
    expect(hh.topKeys(5, 10)).toHaveLength(1); // second 101 is not complete
    hh.advanceTo(102);
    expect(hh.topKeys(1, 10).map((k) => [k.key.toString(), k.reads, k.writes, k.bytes])).toEqual([
      ['b', 0, 2, 200],
    ]);
    expect(hh.topKeys(2, 10).map((k) => [k.key.toString(), k.reads, k.writes])).toEqual([
      ['a', 3, 0],
      ['b', 0, 2],
    ]);
    expect(hh.topKeys(2, 10, 'bytes')[0]?.key.toString()).toBe('b');
    expect(hh.totals(2)).toEqual({ requests: 5, reads: 3, writes: 2, bytes: 230 });
    expect(hh.estimate(b('a'), 5)).toMatchObject({ reads: 3, writes: 0, readsError: 0 });
    expect(hh.distinctKeys(5)).toBeCloseTo(2, 1);
    hh.advanceTo(106); // window of 5 = 101..105
    expect(hh.topKeys(5, 10).map((k) => k.key.toString())).toEqual(['b']);
    hh.advanceTo(107);
    expect(hh.topKeys(5, 10)).toEqual([]);
    hh.advanceTo(10_000); // a long gap
    expect(hh.totals(5)).toEqual({ requests: 0, reads: 0, writes: 0, bytes: 0 });
    expect(hh.distinctKeys(5)).toBe(0);
  });

  it('heavy hitters - against an exact Map: no underestimate, error covers the overcount, every key above N/m reported', () => {
    const rand = random(5);
    const z = zipf(3000, 1.0, rand);
    const hh = new HeavyHitters({ capacity: 32, width: 128, depth: 3, seconds: 3 });
    const truth = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
    const bump = (m: Map<string, number>, k: string, w: number): void => void m.set(k, (m.get(k) ?? 0) + w);
    for (let s = 0; s < 3; s++) {
      hh.advanceTo(10 + s);
      for (let i = 0; i < 20_000; i++) {
        const r = z.next();
        const key = keyOf(r);
        const write = rand() < 0.3;
        const bytes = 1 + (r % 7) * 100;
        hh.offer(key, write, bytes);
        bump(truth[write ? 1 : 0]!, key.toString(), 1);
        bump(truth[2]!, key.toString(), bytes);
      }
    }
    hh.advanceTo(13);
    const totals = hh.totals(3);
    for (const [m, by] of [
      [0, 'reads'],
      [1, 'writes'],
      [2, 'bytes'],
    ] as const) {
      const n = [totals.reads, totals.writes, totals.bytes][m]!;
      const top = hh.topKeys(3, 96, by);
      const seen = new Set(top.map((k) => k.key.toString()));
      for (const k of top) {
        const f = truth[m]!.get(k.key.toString()) ?? 0;
        const est = [k.reads, k.writes, k.bytes][m]!;
        const err = [k.readsError, k.writesError, k.bytesError][m]!;
        expect(est).toBeGreaterThanOrEqual(f);
        expect(est - err).toBeLessThanOrEqual(f);
        expect(est - f).toBeLessThanOrEqual(n / 32);
      }
      for (const [k, f] of truth[m]!) if (f > n / 32) expect(seen.has(k), `${by} ${k}`).toBe(true);
    }
  });

  it('heavy hitters - sampling keeps totals and heavy-key estimates unbiased within their bound', () => {
    const keys = 5000;
    const perSecond = 40_000;
    const stream = new Int32Array(perSecond);
    const z = zipf(keys, 1.1, random(99));
    for (let i = 0; i < perSecond; i++) stream[i] = z.next();
    const truth = new Float64Array(keys);
    for (const r of stream) truth[r]! += 1;
    const runs = 24;
    const reads: number[] = [];
    const top: number[][] = [];
    const factors: number[] = [];
    for (let seed = 1; seed <= runs; seed++) {
      const hh = new HeavyHitters({ budget: perSecond / 16, seed });
      // Second 0 sets the rate; second 1 is measured at the factor it implies.
      for (let s = 0; s < 2; s++) {
        hh.advanceTo(s);
        for (const r of stream) hh.offer(keyOf(r), false, 0);
        if (s === 1) factors.push(hh.sampler.factor);
      }
      hh.advanceTo(2);
      reads.push(hh.totals(1).reads);
      const est = new Map(hh.topKeys(1, 50).map((k) => [rankOf(k.key), k]));
      top.push(
        [0, 1, 2, 5, 10].map((r) => {
          const k = est.get(r)!;
          expect(k, `key ${r} reported`).toBeDefined();
          // One run: within 5 σ of sampling noise plus the sketch's own overcount bound.
          expect(Math.abs(k.reads - truth[r]!)).toBeLessThanOrEqual(
            5 * Math.sqrt(truth[r]! * 15) + k.readsError,
          );
          return k.reads;
        }),
      );
    }
    expect(new Set(factors)).toEqual(new Set([16]));
    const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;
    // The total: unbiased, σ = √(N·(s − 1)).
    expect(Math.abs(mean(reads) - perSecond)).toBeLessThan((4 * Math.sqrt(perSecond * 15)) / Math.sqrt(runs));
    [0, 1, 2, 5, 10].forEach((r, j) => {
      const m = mean(top.map((t) => t[j]!));
      const sigma = Math.sqrt(truth[r]! * 15);
      expect(Math.abs(m - truth[r]!), `key ${r}`).toBeLessThan(
        (4 * sigma) / Math.sqrt(runs) + 0.002 * perSecond,
      );
    });
  });

  it('heavy hitters - a smaller limit returns the head of a larger one, also among sampled, tied cold keys', () => {
    const hh = new HeavyHitters({ budget: 2000, seed: 5 });
    const rnd = random(17);
    for (let s = 0; s < 3; s++) {
      hh.advanceTo(100 + s);
      for (let i = 0; i < 8000; i++) {
        // One key at 40 %, the rest uniform over 10 k keys, 10 % writes.
        const k = rnd() < 0.4 ? 42 : Math.floor(rnd() * 10_000);
        hh.offer(keyOf(k), rnd() < 0.1, 64);
      }
    }
    hh.advanceTo(103);
    for (const current of [false, true]) {
      const head = hh.topKeys(2, 64, 'ops', current).map((k) => k.key.toString());
      expect(head[0]).toBe(keyOf(42).toString());
      for (const limit of [1, 2, 3, 5, 10, 20, 63]) {
        expect(hh.topKeys(2, limit, 'ops', current).map((k) => k.key.toString())).toEqual(
          head.slice(0, limit),
        );
      }
    }
  });

  it('heavy hitters - adaptive sampling holds sketch updates near the budget and relaxes when the rate falls', () => {
    const s = new AdaptiveSampler(1000, 3);
    const second = (offers: number): { kept: number; weight: number } => {
      let kept = 0;
      let weight = 0;
      for (let i = 0; i < offers; i++) {
        const w = s.sample();
        if (w > 0) {
          kept++;
          weight += w;
        }
      }
      s.nextSecond();
      return { kept, weight };
    };
    const burst = second(50_000); // no history: escalates within the second
    expect(burst.kept).toBeLessThan(2 * 1000 * (1 + Math.log2(50) / 2));
    expect(Math.abs(burst.weight - 50_000)).toBeLessThan(0.1 * 50_000);
    expect(s.factor).toBe(64);
    const steady = second(50_000);
    expect(steady.kept).toBeLessThan(1100);
    expect(Math.abs(steady.weight - 50_000)).toBeLessThan(4 * Math.sqrt(50_000 * 63));
    second(500);
    expect(s.factor).toBe(1);
    expect(second(500)).toEqual({ kept: 500, weight: 500 });
    expect(() => new AdaptiveSampler(0)).toThrow(/budget/);
  });

  it('heavy hitters - conservative sketches of 4 routers merge to an upper bound between the truth and the plain union', () => {
    const rand = random(42);
    const z = zipf(20_000, 1.1, rand);
    const routers = [0, 1, 2, 3].map(() => new HeavyHitters({ seconds: 2, width: 512 }));
    const plain = new CountMinSketch({ width: 512, conservative: false });
    const truth = new Float64Array(20_000);
    for (const r of routers) r.advanceTo(7);
    for (let i = 0; i < 100_000; i++) {
      const r = z.next();
      const key = keyOf(r);
      routers[Math.floor(rand() * 4)]!.offer(key, false, 0);
      const h1 = keyHash(key);
      plain.add(h1, remix(h1), 1);
      truth[r]! += 1;
    }
    for (const r of routers) r.advanceTo(8);
    const collector = new HeavyHitters({ seconds: 2, width: 512 });
    collector.advanceTo(8);
    for (const r of routers) collector.merge(r.encode());
    const cells = collector.state().epochs[0]!.metrics[0].cells;
    for (let c = 0; c < cells.length; c++) expect(cells[c]).toBeLessThanOrEqual(plain.cells[c]!);
    for (let r = 0; r < 20_000; r++) {
      if (truth[r] === 0) continue;
      const e = collector.estimate(keyOf(r), 1);
      expect(e.reads).toBeGreaterThanOrEqual(truth[r]!);
    }
    const n = collector.totals(1).reads;
    expect(n).toBe(100_000);
    const top = new Map(collector.topKeys(1, 200).map((k) => [rankOf(k.key), k]));
    for (let r = 0; r < 20_000; r++) if (truth[r]! > n / 1024) expect(top.has(r)).toBe(true);
  });

  it('heavy hitters - a merge adopts newer seconds and drops seconds older than the ring', () => {
    const a = new HeavyHitters({ seconds: 3 });
    a.advanceTo(50);
    a.offer(b('x'), false, 1);
    a.advanceTo(51);
    a.offer(b('y'), false, 1);
    a.advanceTo(52);
    const c = new HeavyHitters({ seconds: 3 });
    c.advanceTo(20);
    expect(c.merge(a.encode())).toEqual({ merged: 2, dropped: 0 });
    expect(c.second).toBe(51); // adopted the sender's newest second
    c.advanceTo(52);
    expect(
      c
        .topKeys(3, 5)
        .map((k) => k.key.toString())
        .sort(),
    ).toEqual(['x', 'y']);
    c.advanceTo(60);
    expect(c.merge(a.encode())).toEqual({ merged: 0, dropped: 2 });
    // A sender an hour ahead is a broken clock: dropped, and this ring stays put.
    const future = new HeavyHitters({ seconds: 3 });
    future.advanceTo(3660);
    future.offer(b('z'), false, 1);
    future.advanceTo(3661);
    expect(c.merge(future.encode())).toEqual({ merged: 0, dropped: 1 });
    expect(c.second).toBe(60);
    expect(() => c.merge({ ...a.state(), shape: { ...a.shape, width: 1024 } })).toThrow(/shape/);
  });

  it('heavy hitters - keys longer than maxKeyBytes are reported as a truncated prefix', () => {
    const hh = new HeavyHitters({ maxKeyBytes: 8 });
    hh.advanceTo(1);
    hh.offer(b('0123456789abcdef'), false, 0);
    hh.advanceTo(2);
    const [k] = hh.topKeys(1, 1);
    expect(k).toMatchObject({ truncated: true, reads: 1 });
    expect(k?.key.toString()).toBe('01234567');
  });
  it('heavy hitters - a sliding window weighs the oldest second, in top keys and totals alike', () => {
    const hh = new HeavyHitters({ seconds: 5 });
    hh.advanceTo(100);
    for (let i = 0; i < 40; i++) hh.offer(b('k'), false, 10);
    hh.advanceTo(101);
    for (let i = 0; i < 8; i++) hh.offer(b('k'), true, 10);
    // A quarter into second 101: three quarters of second 100 are still in a 1 s window.
    const [k] = hh.topKeys(1, 1, 'ops', true, 0.75);
    expect(k).toMatchObject({ reads: 30, writes: 8, bytes: 380, readsError: 0, writesError: 0 });
    expect(hh.totals(1, true, 0.75)).toEqual({ requests: 38, reads: 30, writes: 8, bytes: 380 });
    // Without the current second nothing is weighted.
    expect(hh.topKeys(1, 1, 'ops', false, 0.75)[0]).toMatchObject({ reads: 40, writes: 0 });
    // A 2 s window weighs second 99 (empty), not 100.
    expect(hh.topKeys(2, 1, 'ops', true, 0.5)[0]).toMatchObject({ reads: 40, writes: 8 });
  });
  it('heavy hitters - top keys see a merge into a second they already read', () => {
    const a = new HeavyHitters({ seconds: 5 });
    const other = new HeavyHitters({ seconds: 5 });
    for (const hh of [a, other]) hh.advanceTo(100);
    for (let i = 0; i < 10; i++) a.offer(b('k'), false, 0);
    for (let i = 0; i < 30; i++) other.offer(b('k'), false, 0);
    a.advanceTo(101);
    other.advanceTo(101);
    a.offer(b('k'), false, 0);
    expect(a.topKeys(1, 1, 'ops', true)[0]?.reads).toBe(11);
    expect(a.topKeys(1, 1)[0]?.reads).toBe(10);
    a.merge(other.encode());
    expect(a.topKeys(1, 1, 'ops', true)[0]?.reads).toBe(41);
    expect(a.topKeys(1, 1)[0]?.reads).toBe(40);
    // The window moves on: the cached second drops out.
    a.advanceTo(103);
    expect(a.topKeys(1, 1)).toEqual([]);
    expect(a.topKeys(3, 1)[0]?.reads).toBe(41);
  });
});
