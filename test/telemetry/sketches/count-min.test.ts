import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountMinSketch } from '../../../src/telemetry/sketches/count-min.js';
import { keyHash, remix } from '../../../src/telemetry/sketches/key-hash.js';
import { keyOf, random, zipf } from '../streams.js';

function hashes(rank: number): [number, number] {
  const h1 = keyHash(keyOf(rank));
  return [h1, remix(h1)];
}

describe('count-min sketch', () => {
  it('count-min - conservative update never underestimates (property, tiny sketch so collisions abound)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 50 })), {
          maxLength: 400,
        }),
        (stream) => {
          const cms = new CountMinSketch({ width: 16, depth: 3 });
          const plain = new CountMinSketch({ width: 16, depth: 3, conservative: false });
          const truth = new Map<number, number>();
          for (const [k, w] of stream) {
            const [h1, h2] = hashes(k);
            cms.add(h1, h2, w);
            plain.add(h1, h2, w);
            truth.set(k, (truth.get(k) ?? 0) + w);
          }
          for (const [k, f] of truth) {
            const [h1, h2] = hashes(k);
            expect(cms.estimate(h1, h2)).toBeGreaterThanOrEqual(f);
            expect(cms.estimate(h1, h2)).toBeLessThanOrEqual(plain.estimate(h1, h2));
          }
          // Every conservative cell is at most the plain sketch's cell.
          for (let i = 0; i < cms.cells.length; i++)
            expect(cms.cells[i]).toBeLessThanOrEqual(plain.cells[i]!);
          expect(cms.total).toBe(plain.total);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('count-min - on a Zipf stream, estimates stay within ε·N for at least 1 − δ of the keys', () => {
    const rand = random(11);
    const z = zipf(50_000, 0.9, rand);
    const width = 1024;
    const depth = 4;
    const cms = new CountMinSketch({ width, depth });
    const plain = new CountMinSketch({ width, depth, conservative: false });
    const truth = new Float64Array(50_000);
    const n = 300_000;
    for (let i = 0; i < n; i++) {
      const r = z.next();
      const [h1, h2] = hashes(r);
      cms.add(h1, h2, 1);
      plain.add(h1, h2, 1);
      truth[r]! += 1;
    }
    const bound = cms.epsilon * n;
    for (const sketch of [cms, plain]) {
      let over = 0;
      let seen = 0;
      for (let r = 0; r < truth.length; r++) {
        if (truth[r] === 0) continue;
        seen++;
        const [h1, h2] = hashes(r);
        const est = sketch.estimate(h1, h2);
        expect(est).toBeGreaterThanOrEqual(truth[r]!);
        if (est - truth[r]! > bound) over++;
      }
      expect(over / seen).toBeLessThanOrEqual(sketch.delta);
    }
    expect(cms.epsilon).toBeCloseTo(Math.E / 1024);
  });

  it('count-min - plain sketches merge to exactly the sketch of the union', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 1000 }),
            fc.integer({ min: 1, max: 9 }),
            fc.integer({ min: 0, max: 3 }),
          ),
        ),
        (stream) => {
          const parts = [0, 1, 2, 3].map(
            () => new CountMinSketch({ width: 64, depth: 4, conservative: false }),
          );
          const union = new CountMinSketch({ width: 64, depth: 4, conservative: false });
          for (const [k, w, part] of stream) {
            const [h1, h2] = hashes(k);
            parts[part]!.add(h1, h2, w);
            union.add(h1, h2, w);
          }
          const merged = new CountMinSketch({ width: 64, depth: 4, conservative: false });
          for (const p of parts) merged.merge(p);
          expect([...merged.cells]).toEqual([...union.cells]);
          expect(merged.total).toBe(union.total);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('count-min - a shape mismatch on merge, or a bad shape, is refused', () => {
    expect(() => new CountMinSketch({ width: 1000 })).toThrow(/power of two/);
    expect(() => new CountMinSketch({ depth: 0 })).toThrow(/depth/);
    const a = new CountMinSketch({ width: 64 });
    expect(() => a.merge(new CountMinSketch({ width: 128 }))).toThrow(/shape/);
  });
});
