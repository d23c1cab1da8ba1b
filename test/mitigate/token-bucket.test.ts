/**
 * The token bucket, exact on a manual clock: how many requests a burst
 * admits, how fast credit comes back, and the retry-after a refused request
 * is told.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { TokenBucket } from '../../src/mitigate/token-bucket.js';

describe('token bucket', () => {
  it('token bucket - starts full: burst requests pass at once, the next is told when a token is back', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ opsPerSec: 10, burst: 3 }, clock);
    expect([b.take(), b.take(), b.take()]).toEqual([0, 0, 0]);
    // 10/s: one token every 100 ms; the bucket is empty now.
    expect(b.take()).toBe(100);
    expect(b.take()).toBe(100); // a refused request takes nothing
    clock.advance(40);
    expect(b.take()).toBe(60);
    clock.advance(60);
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(100);
  });

  it('token bucket - credit refills at the rate and never beyond burst', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ opsPerSec: 4, burst: 2 }, clock);
    b.take();
    b.take();
    clock.advance(10_000); // long idle: still only `burst` tokens
    expect(b.tokens()).toBe(2);
    expect([b.take(), b.take(), b.take()]).toEqual([0, 0, 250]);
  });

  it('token bucket - a retry-after is whole milliseconds, rounded up; fractional rates work', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ opsPerSec: 3, burst: 1 }, clock);
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(334); // 333.3 ms per token
    clock.advance(333);
    expect(b.take()).toBe(1);
    clock.advance(1);
    expect(b.take()).toBe(0);
    const slow = new TokenBucket({ opsPerSec: 0.5, burst: 1 }, clock);
    expect(slow.take()).toBe(0);
    expect(slow.take()).toBe(2000);
  });

  it('token bucket - wait() tells without taking', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ opsPerSec: 10, burst: 1 }, clock);
    expect(b.wait()).toBe(0);
    expect(b.wait()).toBe(0);
    expect(b.take()).toBe(0);
    expect(b.wait()).toBe(100);
  });

  it('token bucket - reconfiguring keeps the credit it had (capped at the new burst), not a fresh burst', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ opsPerSec: 100, burst: 10 }, clock);
    for (let i = 0; i < 9; i++) b.take();
    b.configure({ opsPerSec: 1, burst: 5 });
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(1000);
    b.configure({ opsPerSec: 1000, burst: 50 });
    expect(b.take()).toBe(1);
  });

  it('token bucket - a clock that steps back gives no credit and does not break the bucket', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ opsPerSec: 10, burst: 1 }, clock);
    b.take();
    clock.advance(-5000);
    expect(b.take()).toBe(100);
    clock.advance(100);
    expect(b.take()).toBe(0);
  });

  it('token bucket - refuses a rate or burst that is not positive', () => {
    const clock = new ManualClock();
    expect(() => new TokenBucket({ opsPerSec: 0, burst: 1 }, clock)).toThrow(/opsPerSec/);
    expect(() => new TokenBucket({ opsPerSec: 1, burst: 0.5 }, clock)).toThrow(/burst/);
    expect(() => new TokenBucket({ opsPerSec: Number.NaN, burst: 1 }, clock)).toThrow(/opsPerSec/);
  });

  it('token bucket - over any schedule, admitted requests never exceed burst + rate × elapsed, and a request at its retry-after passes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 200 }),
        (rate, burst, gaps) => {
          const clock = new ManualClock(0);
          const b = new TokenBucket({ opsPerSec: rate, burst }, clock);
          let admitted = 0;
          for (const gap of gaps) {
            clock.advance(gap);
            const wait = b.take();
            if (wait === 0) admitted++;
            else {
              expect(wait).toBeGreaterThan(0);
              expect(wait).toBeLessThanOrEqual(Math.ceil(1000 / rate));
            }
            expect(admitted).toBeLessThanOrEqual(burst + (rate * clock.now()) / 1000 + 1e-9);
          }
          const wait = b.take();
          if (wait > 0) {
            clock.advance(wait);
            expect(b.take()).toBe(0);
          }
        },
      ),
      { seed: 13, numRuns: 300 },
    );
  });
});
