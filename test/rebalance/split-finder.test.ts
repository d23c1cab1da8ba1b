/**
 * The load-based split finder: accepts a point only when it divides the
 * load evenly and few requests span it, and names the key when one key
 * carries more than any split could leave on one side.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashPartitioner, rangePartitioner, type Position } from '../../src/keyspace/partitioner.js';
import { SplitFinder, SplitRefusal } from '../../src/rebalance/split-finder.js';
import { mulberry32 } from '../seeded-random.js';

const hash = hashPartitioner();
const range = rangePartitioner();

/** Feeds single-key requests to a finder over the whole hash keyspace. */
function feedHash(f: SplitFinder, keys: readonly string[]): void {
  for (const k of keys) {
    const key = Buffer.from(k);
    const pos = hash.position(key);
    f.record(pos, pos, key);
  }
}

/** Recounts a stream against a split point: shares of requests left and right of it. */
function recount(positions: readonly number[], at: number): { left: number; right: number } {
  const left = positions.filter((p) => p < at).length;
  return { left: left / positions.length, right: 1 - left / positions.length };
}

describe('split finder', () => {
  it('split finder - uniform load over a hash shard splits near the load median, accepted', () => {
    const random = mulberry32(1);
    const f = new SplitFinder(hash, 0, null, { random });
    const keys = Array.from({ length: 20_000 }, () => `user:${Math.floor(random() * 1_000_000)}`);
    feedHash(f, keys);
    const d = f.decide();
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(Math.max(d.leftShare, d.rightShare)).toBeLessThanOrEqual(0.6);
    // What the finder counted agrees with a recount of the whole stream.
    const all = recount(
      keys.map((k) => hash.position(Buffer.from(k)) as number),
      d.at as number,
    );
    expect(Math.max(all.left, all.right)).toBeLessThanOrEqual(0.62);
    expect(d.atText).toBe(String(d.at));
    expect(d.reason).toMatch(/^split at "\d+" divides the load \d+ % \/ \d+ %/);
  });

  it('split finder - a hot tail of sequential keys (range) splits inside the hot part, not at the middle of the range', () => {
    const random = mulberry32(2);
    const start = Buffer.from('ts:');
    const end = Buffer.from('ts;');
    const f = new SplitFinder(range, start, end, { random });
    // ts:00000..ts:09999; the newest 1,000 take 80 % of the requests (a time series).
    const keyOf = (i: number): Buffer => Buffer.from(`ts:${String(i).padStart(5, '0')}`);
    for (let n = 0; n < 30_000; n++) {
      const i = random() < 0.8 ? 9_000 + Math.floor(random() * 1_000) : Math.floor(random() * 9_000);
      const key = keyOf(i);
      f.record(key, key, key);
    }
    const d = f.decide();
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    const at = d.at as Buffer;
    // The load median is near ts:09375 (20 % below 9000 + 30 % of the hot 1000); the range midpoint is not.
    expect(at.compare(keyOf(9_000))).toBeGreaterThan(0);
    expect(at.compare(keyOf(9_800))).toBeLessThan(0);
    expect(Math.max(d.leftShare, d.rightShare)).toBeLessThanOrEqual(0.6);
  });

  it('split finder - one key with 80 % of the load is refused, naming the key and its share', () => {
    const random = mulberry32(3);
    const f = new SplitFinder(hash, 0, null, { random });
    const keys: string[] = [];
    for (let i = 0; i < 10_000; i++) keys.push(random() < 0.8 ? 'counter:likes' : `user:${i}`);
    feedHash(f, keys);
    const d = f.decide();
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.code).toBe(SplitRefusal.DominantKey);
    expect(d.key).toBe('counter:likes');
    expect(d.share).toBeGreaterThan(0.75);
    expect(d.share).toBeLessThan(0.85);
    expect(d.reason).toMatch(
      /^key "counter:likes" \(hash position \d+\) carries (7[6-9]|8[0-4]) % of the shard's load: split cannot divide it; take a key-level action$/,
    );
  });

  it('split finder - multi-key requests spanning every balanced point are refused as spanning', () => {
    const random = mulberry32(4);
    const f = new SplitFinder(range, Buffer.alloc(0), null, { random });
    for (let n = 0; n < 5_000; n++) {
      // An MGET of a key in the first half and one in the second: every point between spans it.
      const a = Buffer.from(`a:${Math.floor(random() * 1000)}`);
      const b = Buffer.from(`z:${Math.floor(random() * 1000)}`);
      // Half of the requests single keys, so balanced points exist among the candidates.
      if (n % 2 === 0) f.record(a, b, a);
      else {
        const k = random() < 0.5 ? a : b;
        f.record(k, k, k);
      }
    }
    const d = f.decide();
    expect(d).toMatchObject({ ok: false, code: SplitRefusal.Spanning });
    // The same load with a lenient spanning bound is split.
    expect(f.decide({ maxSpanningShare: 0.6 }).ok).toBe(true);
  });

  it('split finder - judges nothing before a candidate has seen minSamples requests', () => {
    const f = new SplitFinder(hash, 0, null, { random: mulberry32(5) });
    feedHash(
      f,
      Array.from({ length: 50 }, (_, i) => `k${i}`),
    );
    expect(f.decide()).toMatchObject({ ok: false, code: SplitRefusal.TooFewSamples });
    expect(f.decide({ minSamples: 10 }).ok).toBe(true);
  });

  it('split finder - never proposes the start of its range (the left half would be empty)', () => {
    const key = Buffer.from('only');
    const pos = hash.position(key) as number;
    const f = new SplitFinder(hash, pos, null, { random: mulberry32(6) });
    const other = Buffer.from('x');
    for (let i = 0; i < 1000; i++) {
      // Half the load at the range's very start: a 50/50 "split" there would be no split.
      if (i % 2 === 0) f.record(pos, pos, key);
      else f.record(pos + 1 + (i % 100), pos + 1 + (i % 100), other);
    }
    const d = f.decide({ maxHotterShare: 0.99 });
    expect(d.ok).toBe(true);
    if (d.ok) expect(d.at as number).toBeGreaterThan(pos);
  });

  it('split finder - a key above the hotter-side bound in every stretch of the stream is never split around', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.boolean(),
        (others, seed, isRange) => {
          const p = isRange ? range : hash;
          const f = new SplitFinder(p, p.min, null, { random: mulberry32(seed) });
          const hot = Buffer.from('hot');
          // 4 of every 5 requests are the hot key (80 % in every window), the rest spread.
          for (let i = 0; i < 2_000; i++) {
            const key = i % 5 === 4 ? Buffer.from(others[i % others.length]!) : hot;
            const pos: Position = p.position(key);
            f.record(pos, pos, key);
          }
          const d = f.decide();
          expect(d.ok).toBe(false);
          if (!d.ok) expect([SplitRefusal.DominantKey, SplitRefusal.Unbalanced]).toContain(d.code);
          if (!d.ok && d.code === SplitRefusal.DominantKey) expect(d.key).toBe('hot');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('split finder - sequential inserts (an append-only tail) are refused as unbalanced, saying so', () => {
    const f = new SplitFinder(range, Buffer.from('ingest:'), null, { random: mulberry32(8) });
    for (let i = 0; i < 5000; i++) {
      const key = Buffer.from(`ingest:key:${String(i).padStart(8, '0')}`);
      f.record(key, key, key);
    }
    const d = f.decide();
    expect(d).toMatchObject({ ok: false, code: SplitRefusal.Unbalanced });
    if (!d.ok) expect(d.reason).toMatch(/keys arrive in increasing order \(an append-only tail\)/);
  });

  it('split finder - rejects a bad candidate count', () => {
    expect(() => new SplitFinder(hash, 0, null, { size: 0 })).toThrow(/size must be an integer >= 1/);
  });
});
