import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountMinSketch } from '../../../src/telemetry/sketches/count-min.js';
import { keyHash, remix } from '../../../src/telemetry/sketches/key-hash.js';
import {
  SpaceSaving,
  mergeSummaries,
  summaryBase,
  truncateSummary,
  type Summary,
} from '../../../src/telemetry/sketches/space-saving.js';

const key = (k: number): Buffer => Buffer.from(`k${k}`);

/** Checks every SpaceSaving guarantee of `s` against exact weights. */
function checkGuarantees(s: Summary, truth: ReadonlyMap<number, number>): void {
  const n = [...truth.values()].reduce((a, b) => a + b, 0);
  expect(s.total).toBe(n);
  const base = summaryBase(s);
  const m = s.capacity;
  let sumCounts = 0;
  const monitored = new Map<string, { count: number; lower: number }>();
  for (const e of s.entries) {
    sumCounts += e.count;
    monitored.set(e.key.toString(), e);
  }
  expect(sumCounts).toBeLessThanOrEqual(n + 1e-9);
  expect(base).toBeLessThanOrEqual(n / m + 1e-9);
  for (const [k, f] of truth) {
    const e = monitored.get(`k${k}`);
    if (e === undefined) {
      expect(f).toBeLessThanOrEqual(base);
    } else {
      expect(e.lower).toBeLessThanOrEqual(f);
      expect(e.count).toBeGreaterThanOrEqual(f);
      expect(e.count - f).toBeLessThanOrEqual(base + 1e-9);
    }
    if (f > n / m) expect(e).toBeDefined();
  }
}

const streamArb = fc.array(
  fc.tuple(
    fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 120 })),
    fc.integer({ min: 1, max: 20 }),
  ),
  { maxLength: 500 },
);

function feed(
  ss: SpaceSaving,
  stream: readonly (readonly [number, number])[],
  cms?: CountMinSketch,
): Map<number, number> {
  const truth = new Map<number, number>();
  for (const [k, w] of stream) {
    const buf = key(k);
    const h = keyHash(buf);
    const bound = cms === undefined ? Infinity : cms.add(h, remix(h), w);
    ss.add(buf, h, w, bound);
    truth.set(k, (truth.get(k) ?? 0) + w);
  }
  return truth;
}

describe('space-saving', () => {
  it('space-saving - bounds, N/m guarantee and heap/table consistency hold on any weighted stream', () => {
    fc.assert(
      fc.property(streamArb, fc.integer({ min: 1, max: 24 }), fc.boolean(), (stream, m, filtered) => {
        const ss = new SpaceSaving({ capacity: m });
        const cms = filtered ? new CountMinSketch({ width: 16, depth: 2 }) : undefined;
        const truth = feed(ss, stream, cms);
        const s = ss.summary();
        checkGuarantees(s, truth);
        expect(ss.size).toBe(s.entries.length);
        expect(ss.base).toBe(summaryBase(s));
        // Every monitored key is found through the table with its own count.
        for (const e of s.entries) {
          expect(ss.upperBound(e.key, e.hash)).toBe(e.count);
          expect(ss.lowerBound(e.key, e.hash)).toBe(e.lower);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('space-saving - merged summaries keep every guarantee for the union, in any merge order', () => {
    fc.assert(
      fc.property(
        fc.array(streamArb, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 16 }),
        fc.boolean(),
        (streams, m, pairwise) => {
          const parts = streams.map((st) => {
            const ss = new SpaceSaving({ capacity: m });
            return { ss, truth: feed(ss, st) };
          });
          const union = new Map<number, number>();
          for (const p of parts) for (const [k, f] of p.truth) union.set(k, (union.get(k) ?? 0) + f);
          const summaries = parts.map((p) => p.ss.summary());
          const merged = pairwise
            ? summaries.slice(1).reduce((acc, s) => mergeSummaries([acc, s]), summaries[0]!)
            : mergeSummaries(summaries);
          checkGuarantees(merged, union);
          // Merging into a live summary and carrying on keeps them too.
          const live = new SpaceSaving({ capacity: m });
          live.load(merged);
          const more = feed(live, streams[0]!);
          for (const [k, f] of more) union.set(k, (union.get(k) ?? 0) + f);
          checkGuarantees(live.summary(), union);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('space-saving - truncated read-outs (summary(top), truncateSummary) keep every guarantee, alone and merged with full ones', () => {
    fc.assert(
      fc.property(
        fc.array(streamArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 2, max: 16 }),
        fc.integer({ min: 1, max: 16 }),
        (streams, m, top) => {
          const parts = streams.map((st) => {
            const ss = new SpaceSaving({ capacity: m });
            return { ss, truth: feed(ss, st) };
          });
          const union = new Map<number, number>();
          for (const p of parts) for (const [k, f] of p.truth) union.set(k, (union.get(k) ?? 0) + f);
          // The live read-out and the plain-data truncation keep the same entries.
          const first = parts[0]!;
          const live = first.ss.summary(top);
          const plain = truncateSummary(first.ss.summary(), top);
          expect(live.entries.map((e) => e.count).sort()).toEqual(plain.entries.map((e) => e.count).sort());
          expect(live.capacity).toBe(plain.capacity);
          checkGuarantees(live, first.truth);
          // Mixed: one part truncated, the rest full; the union keeps the fewest counters.
          const summaries = parts.map((p, i) => (i === 0 ? live : p.ss.summary()));
          const merged = mergeSummaries(summaries);
          expect(merged.capacity).toBe(Math.min(...summaries.map((x) => x.capacity)));
          checkGuarantees(merged, union);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('space-saving - long keys are stored truncated and told apart by length and hash', () => {
    const ss = new SpaceSaving({ capacity: 4, maxKeyBytes: 8 });
    const a = Buffer.from('prefix--aaaaaaaaaaaa');
    const b = Buffer.from('prefix--bbbbbbbbbbbb');
    for (let i = 0; i < 5; i++) ss.add(a, keyHash(a), 1);
    ss.add(b, keyHash(b), 2);
    const entries = ss.summary().entries.sort((x, y) => y.count - x.count);
    expect(entries.map((e) => [e.key.toString(), e.length, e.count])).toEqual([
      ['prefix--', 20, 5],
      ['prefix--', 20, 2],
    ]);
    expect(ss.upperBound(a, keyHash(a))).toBe(5);
  });

  it('space-saving - peakLower is the largest guaranteed weight, not what a newcomer inherited', () => {
    const ss = new SpaceSaving({ capacity: 2 });
    expect(ss.peakLower).toBe(0);
    const add = (k: number, w: number): void => ss.add(key(k), keyHash(key(k)), w);
    add(1, 3);
    add(2, 5);
    expect(ss.peakLower).toBe(5);
    // k3 takes over k1's counter: count 3 + 4 = 7, of which only its own 4 are guaranteed.
    add(3, 4);
    expect(ss.upperBound(key(3), keyHash(key(3)))).toBe(7);
    expect(ss.peakLower).toBe(5);
    add(3, 2);
    expect(ss.peakLower).toBe(6);
  });

  it('space-saving - shapes must match to load; key sizes must match to merge', () => {
    const a = new SpaceSaving({ capacity: 4 });
    expect(() => a.load(new SpaceSaving({ capacity: 8 }).summary())).toThrow(/shape/);
    expect(() =>
      mergeSummaries([a.summary(), new SpaceSaving({ capacity: 4, maxKeyBytes: 16 }).summary()]),
    ).toThrow(/bytes/);
    expect(() => mergeSummaries([])).toThrow(/no summaries/);
    expect(() => new SpaceSaving({ capacity: 0 })).toThrow(/capacity/);
  });
  it('space-saving - merge keeps keys apart whose hashes collide', () => {
    const entry = (key: string, count: number): Summary['entries'][number] => ({
      key: Buffer.from(key),
      hash: 42,
      length: key.length,
      count,
      lower: count,
    });
    const a: Summary = { capacity: 4, maxKeyBytes: 128, total: 5, entries: [entry('x', 3), entry('y', 2)] };
    const b: Summary = { capacity: 4, maxKeyBytes: 128, total: 4, entries: [entry('y', 4)] };
    const merged = mergeSummaries([a, b]);
    const byKey = new Map(merged.entries.map((e) => [e.key.toString(), e.count]));
    expect(byKey).toEqual(
      new Map([
        ['x', 3],
        ['y', 6],
      ]),
    );
    expect(merged.total).toBe(9);
  });
});
