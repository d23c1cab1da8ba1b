import { describe, expect, it } from 'vitest';
import { HyperLogLog } from '../../../src/telemetry/sketches/hyperloglog.js';
import { keyHash, remix } from '../../../src/telemetry/sketches/key-hash.js';
import { KEY_BYTES, writeKey } from '../streams.js';

const scratch = Buffer.alloc(KEY_BYTES);
function add(h: HyperLogLog, rank: number): void {
  const h1 = keyHash(writeKey(scratch, rank));
  h.add(h1, remix(h1));
}

describe('hyperloglog', () => {
  it('hyperloglog - 100k distinct keys are estimated within 3 %, and repeats do not count', () => {
    const h = new HyperLogLog(12);
    for (let r = 0; r < 100_000; r++) add(h, r);
    for (let r = 0; r < 100_000; r += 3) add(h, r);
    expect(Math.abs(h.estimate() / 100_000 - 1)).toBeLessThan(0.03);
  });

  it('hyperloglog - small and mid-range cardinalities stay accurate (no linear-counting seam)', () => {
    expect(new HyperLogLog(12).estimate()).toBe(0);
    for (const n of [1, 10, 100, 1000, 5000, 12_000, 30_000]) {
      const h = new HyperLogLog(12);
      for (let r = 0; r < n; r++) add(h, r + n * 7);
      const tolerance = n <= 100 ? 0.02 : 0.05;
      expect(Math.abs(h.estimate() / n - 1), `n = ${n}`).toBeLessThan(tolerance);
    }
  });

  it('hyperloglog - merge is exactly the sketch of the union', () => {
    const a = new HyperLogLog(12);
    const b = new HyperLogLog(12);
    const u = new HyperLogLog(12);
    for (let r = 0; r < 40_000; r++) {
      add(r % 3 === 0 ? a : b, r);
      add(u, r);
    }
    for (let r = 0; r < 10_000; r++) add(a, r); // overlap
    a.merge(b);
    expect([...a.registers]).toEqual([...u.registers]);
    expect(a.estimate()).toBe(u.estimate());
    expect(() => a.merge(new HyperLogLog(10))).toThrow(/registers/);
  });
});
