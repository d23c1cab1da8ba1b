/**
 * The conformance suite every Partitioner runs: the routing table relies on each of these
 * properties, whatever the position type.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { HotshardError, ErrorCode } from '../../src/errors.js';
import type { Partitioner, Position } from '../../src/keyspace/partitioner.js';

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** Runs the shared cases against `partitioner`; `positions` generates arbitrary valid positions. */
export function runPartitionerCases(
  partitioner: Partitioner,
  positions: fc.Arbitrary<Position>,
  badTexts: readonly string[],
): void {
  const p = partitioner;
  const name = `${p.kind} partitioner`;

  it(`${name} - format then parse gives back the same position`, () => {
    fc.assert(
      fc.property(positions, (pos) => {
        const back = p.parse(p.format(pos));
        expect(p.compare(back, pos)).toBe(0);
        expect(p.format(back)).toBe(p.format(pos));
      }),
      { numRuns: 300 },
    );
  });

  it(`${name} - compare is a total order consistent with equality of text`, () => {
    fc.assert(
      fc.property(positions, positions, positions, (a, b, c) => {
        expect(p.compare(a, a)).toBe(0);
        expect(sign(p.compare(a, b)) + sign(p.compare(b, a))).toBe(0);
        expect(p.compare(a, b) === 0).toBe(p.format(a) === p.format(b));
        if (p.compare(a, b) <= 0 && p.compare(b, c) <= 0) expect(p.compare(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });

  it(`${name} - min sorts before or equal to every position`, () => {
    fc.assert(
      fc.property(positions, (pos) => {
        expect(p.compare(p.min, pos)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 200 },
    );
  });

  it(`${name} - positions of keys are valid positions and deterministic`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), (data) => {
        const key = Buffer.from(data);
        const pos = p.position(key);
        expect(p.isPosition(pos)).toBe(true);
        expect(p.compare(pos, p.position(Buffer.from(data)))).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it.each([1, 2, 3, 4, 7, 16, 255, 256, 257, 1000])(
    `${name} - initialSplits(%i) gives n-1 increasing points above min`,
    (n) => {
      const splits = p.initialSplits(n);
      expect(splits).toHaveLength(n - 1);
      let prev = p.min;
      for (const s of splits) {
        expect(p.isPosition(s)).toBe(true);
        expect(p.compare(prev, s)).toBeLessThan(0);
        prev = s;
      }
    },
  );

  it.each([0, -1, 1.5, Number.NaN, 1e9])(`${name} - initialSplits(%s) is a config error`, (n) => {
    expect(() => p.initialSplits(n)).toThrow(expect.objectContaining({ code: ErrorCode.Config }));
  });

  it(`${name} - midpoint lies strictly between its bounds, or is null`, () => {
    fc.assert(
      fc.property(positions, fc.option(positions), (a, b) => {
        if (b !== null && p.compare(a, b) >= 0) return;
        const m = p.midpoint(a, b);
        if (m === null) return;
        expect(p.isPosition(m)).toBe(true);
        expect(p.compare(a, m)).toBeLessThan(0);
        if (b !== null) expect(p.compare(m, b)).toBeLessThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it(`${name} - midpoint of the whole keyspace exists`, () => {
    const m = p.midpoint(p.min, null);
    expect(m).not.toBeNull();
    expect(p.compare(p.min, m!)).toBeLessThan(0);
  });

  it.each(badTexts)(`${name} - parse rejects %j with a config error naming the text`, (text) => {
    let error: unknown;
    try {
      p.parse(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(HotshardError);
    expect((error as HotshardError).code).toBe(ErrorCode.Config);
    expect((error as HotshardError).message).toContain(JSON.stringify(text));
  });
}
