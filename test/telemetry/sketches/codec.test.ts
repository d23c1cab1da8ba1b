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
      hh.offer(keyOf(r), rand() < 0.25, 16 + (r % 100));
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
    });
    expect(encodeSketch(state).equals(bytes)).toBe(true);
    // Merged into an empty router, it reports what the source reports.
    const copy = new HeavyHitters({ seconds: 4 });
    copy.advanceTo(503);
    copy.merge(bytes);
    expect(copy.topKeys(3, 50)).toEqual(hh.topKeys(3, 50));
    expect(copy.distinctKeys(3)).toBe(hh.distinctKeys(3));
    expect(copy.totals(3)).toEqual(hh.totals(3));
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
