import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HotshardError } from '../../../src/errors.js';
import { decodeSketch, encodeSketch } from '../../../src/telemetry/sketches/codec.js';
import { HeavyHitters } from '../../../src/telemetry/sketches/heavy-hitters.js';
import { keyOf, random, zipf } from '../streams.js';

function filled(seconds: number, perSecond: number, options = {}): HeavyHitters {
  const rand = random(17);
  const z = zipf(5000, 1.05, rand);
  const hh = new HeavyHitters({ seconds: 4, ...options });
  for (let s = 0; s < seconds; s++) {
    hh.advanceTo(500 + s);
    for (let i = 0; i < perSecond; i++) {
      const r = z.next();
      const write = rand() < 0.25;
      // A third of the writes are a counter's increments.
      hh.offer(keyOf(r), write, 16 + (r % 100), 1, write && r % 3 === 0);
    }
  }
  hh.advanceTo(500 + seconds);
  return hh;
}

describe('sketch codec', () => {
  it('codec - decode(encode(x)) round-trips every cell, summary entry and register, byte for byte', () => {
    const hh = filled(3, 20_000);
    const bytes = hh.encode();
    const state = decodeSketch(bytes);
    expect(state.shape).toEqual(hh.shape);
    const original = hh.state();
    expect(state.epochs.map((e) => e.second)).toEqual([500, 501, 502]);
    state.epochs.forEach((ep, i) => {
      const src = original.epochs[i]!;
      expect(ep.requests).toBe(src.requests);
      expect([...ep.registers]).toEqual([...src.registers]);
      ep.metrics.forEach((m, j) => {
        expect(m.total).toBe(src.metrics[j]!.total);
        expect(Buffer.from(m.cells.buffer).equals(Buffer.from(src.metrics[j]!.cells.buffer))).toBe(true);
        expect(m.summary.entries).toEqual(src.metrics[j]!.summary.entries);
      });
      expect(ep.increments!.total).toBe(src.increments!.total);
      expect(ep.increments!.total).toBeGreaterThan(0);
      expect([...ep.increments!.cells]).toEqual([...src.increments!.cells]);
    });
    expect(encodeSketch(state).equals(bytes)).toBe(true);
    // Merged into an empty router, it reports what the source reports.
    const copy = new HeavyHitters({ seconds: 4 });
    copy.advanceTo(503);
    copy.merge(bytes);
    expect(copy.topKeys(3, 50)).toEqual(hh.topKeys(3, 50));
    expect(copy.distinctKeys(3)).toBe(hh.distinctKeys(3));
    expect(copy.totals(3)).toEqual(hh.totals(3));
    for (let r = 0; r < 30; r++) {
      expect(copy.increments(keyOf(r), 3)).toBe(hh.increments(keyOf(r), 3));
      if (r % 3 === 0) expect(hh.increments(keyOf(r), 3)).toBeGreaterThan(0);
    }
  });

  it('codec - a sketch from an older router, without the increments, decodes and merges as no increments seen', () => {
    const hh = new HeavyHitters({ seconds: 4, width: 64 });
    hh.advanceTo(7);
    for (let i = 0; i < 50; i++) hh.offer(Buffer.from('likes'), true, 10);
    hh.advanceTo(8);
    const now = hh.encode();
    // The older format: flags bit 1 clear, and no increments after the metrics (total f64 + an empty sparse cell list).
    const older = Buffer.from(now.subarray(0, now.length - 13));
    expect(now.subarray(now.length - 13).equals(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]))).toBe(
      true,
    );
    older[4]! &= ~2;
    const state = decodeSketch(older);
    expect(state.epochs[0]!.increments).toBeUndefined();
    expect(state.epochs[0]!.metrics[1].total).toBe(50);
    const into = new HeavyHitters({ seconds: 4, width: 64 });
    into.advanceTo(8);
    into.merge(older);
    expect(into.estimate(Buffer.from('likes'), 1).writes).toBe(50);
    expect(into.increments(Buffer.from('likes'), 1)).toBe(0);
    // The same bytes with bit 1 still set read the increments past the end: refused.
    const mislabelled = Buffer.from(older);
    mislabelled[4]! |= 2;
    expect(() => decodeSketch(mislabelled)).toThrow(/truncated/);
  });

  it('codec - a quiet second is encoded sparse, a busy one dense, and empty seconds not at all', () => {
    const quiet = new HeavyHitters();
    quiet.advanceTo(1);
    quiet.offer(Buffer.from('k'), false, 5);
    quiet.advanceTo(5);
    const small = quiet.encode();
    expect(small.length).toBeLessThan(6000); // vs 3 × 131 KB of dense cells
    expect(decodeSketch(small).epochs).toHaveLength(1);
    const busy = filled(1, 60_000, { width: 1024 });
    const dense = busy.encode();
    expect(dense.length).toBeGreaterThan(3 * 1024 * 4 * 8);
    expect(decodeSketch(dense).epochs[0]!.metrics[0].cells).toEqual(busy.state().epochs[0]!.metrics[0].cells);
  });

  it('codec - since/until select whole seconds to ship once', () => {
    const hh = filled(3, 1000);
    expect(decodeSketch(hh.encode(501)).epochs.map((e) => e.second)).toEqual([501, 502]);
    expect(decodeSketch(hh.encode(500, 500)).epochs.map((e) => e.second)).toEqual([500]);
    expect(decodeSketch(hh.encode(503)).epochs).toEqual([]);
  });

  it('codec - malformed input is refused with HS_ERR_BAD_REQUEST, never read past its end', () => {
    const good = filled(1, 300, { width: 64 }).encode();
    const fails = (buf: Uint8Array): void => {
      try {
        decodeSketch(buf);
      } catch (err) {
        expect(err).toBeInstanceOf(HotshardError);
        expect((err as HotshardError).code).toBe('HS_ERR_BAD_REQUEST');
        return;
      }
      throw new Error('decoded');
    };
    fails(Buffer.from('not a sketch at all, no'));
    fails(Buffer.concat([good, Buffer.from([0])]));
    for (let cut = 0; cut < good.length; cut += 97) fails(good.subarray(0, cut));
    const otherSeed = Buffer.from(good);
    otherSeed.writeUInt32LE(12345, 24);
    fails(otherSeed);
    // Random corruption either still decodes or fails with the stable code.
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (flips) => {
          const bad = Buffer.from(good);
          for (const [at, v] of flips) bad[at] = v;
          try {
            decodeSketch(bad);
          } catch (err) {
            expect(err).toBeInstanceOf(HotshardError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
