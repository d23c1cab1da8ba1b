import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EntityCounters, Field } from '../../src/telemetry/counters.js';
import { HISTOGRAM_BUCKETS, bucketOf, bucketValue } from '../../src/telemetry/histogram.js';

const T0 = 1_700_000_000;

/** One request measured in full, as the router records it: counted, then its details added. */
function request(
  c: EntityCounters,
  e: number,
  isWrite: boolean,
  bytesIn: number,
  bytesOut: number,
  micros: number,
  outcome: number,
): void {
  c.count(e, isWrite);
  c.add(e, bytesIn, bytesOut, micros, outcome);
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}

describe('entity counters', () => {
  it('counters - window sums are exact and cover whole seconds before the current one', () => {
    const c = new EntityCounters();
    const s0 = c.index('s0');
    const s1 = c.index('s1');
    c.advanceTo(T0);
    request(c, s0, false, 10, 100, 500, 0);
    request(c, s0, false, 10, 100, 700, 1);
    request(c, s0, true, 50, 5, 900, 0);
    request(c, s1, true, 1, 1, 100, 2);
    c.advanceTo(T0 + 1);
    request(c, s0, false, 10, 100, 500, 0);
    // The current second is not part of any window yet.
    expect(c.totals(s0, 1)).toMatchObject({ reads: 2, writes: 1, bytesIn: 70, bytesOut: 205, errors: 1 });
    c.advanceTo(T0 + 2);
    expect(c.totals(s0, 1)).toMatchObject({ reads: 1, writes: 0, bytesIn: 10, bytesOut: 100 });
    expect(c.totals(s0, 2)).toMatchObject({
      reads: 3,
      writes: 1,
      bytesIn: 80,
      bytesOut: 305,
      errors: 1,
      timed: 4,
    });
    expect(c.totals(s0, 2).latencySum).toBe(2600);
    // Shed requests count as demand but carry no latency sample.
    expect(c.totals(s1, 2)).toMatchObject({ writes: 1, shed: 1, timed: 0, latencySum: 0 });
    expect(sum(c.latency(s1, 2))).toBe(0);
    expect(sum(c.latency(s0, 2))).toBe(4);
  });

  it('counters - 30 s without traffic reads as zeros, and traffic after the gap lands in its own second', () => {
    const c = new EntityCounters();
    const e = c.index('n0');
    for (let s = 0; s < 10; s++) {
      c.advanceTo(T0 + s);
      for (let i = 0; i <= s; i++) request(c, e, false, 1, 1, 100, 0);
    }
    c.advanceTo(T0 + 40); // seconds 10..39 saw nothing
    for (let i = 0; i < 7; i++) request(c, e, true, 3, 0, 200, 0);
    c.advanceTo(T0 + 41);
    for (let s = 10; s < 40; s++) expect(c.value(e, Field.Reads, T0 + s)).toBe(0);
    for (let s = 0; s < 10; s++) expect(c.value(e, Field.Reads, T0 + s)).toBe(s + 1);
    expect(c.value(e, Field.Writes, T0 + 40)).toBe(7);
    expect(c.totals(e, 1)).toMatchObject({ reads: 0, writes: 7, bytesIn: 21 });
    expect(c.totals(e, 31)).toMatchObject({ reads: 0, writes: 7 });
    expect(c.totals(e, 41)).toMatchObject({ reads: 55, writes: 7 });
    expect(sum(c.latency(e, 41))).toBe(62);
  });

  it('counters - the ring keeps 600 whole seconds and forgets the 601st', () => {
    const c = new EntityCounters({ seconds: 600 });
    const e = c.index('t');
    c.advanceTo(T0);
    request(c, e, false, 0, 0, 1, 0);
    c.advanceTo(T0 + 600);
    expect(c.totals(e, 600).reads).toBe(1);
    expect(c.totals(e, 10_000).reads).toBe(1);
    c.advanceTo(T0 + 601);
    expect(c.totals(e, 600).reads).toBe(0);
    expect(c.value(e, Field.Reads, T0)).toBe(0);
    // A jump of several rings wipes everything, and the slots are reusable.
    c.advanceTo(T0 + 5000);
    request(c, e, false, 0, 0, 1, 0);
    c.advanceTo(T0 + 5001);
    expect(c.totals(e, 600).reads).toBe(1);
  });

  it('counters - property: random traffic and clock jumps match an exact model for every window', () => {
    const event = fc.record({
      gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 10, max: 700 })),
      entity: fc.integer({ min: 0, max: 2 }),
      write: fc.boolean(),
      bytesIn: fc.integer({ min: 0, max: 1000 }),
      bytesOut: fc.integer({ min: 0, max: 1000 }),
      micros: fc.integer({ min: 0, max: 2_000_000 }),
      outcome: fc.constantFrom(0, 0, 0, 1, 2),
    });
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 150 }),
        fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 8 }),
        (events, windows) => {
          const c = new EntityCounters({ seconds: 600, histogramSeconds: 60 });
          for (let i = 0; i < 3; i++) c.index(`e${i}`);
          let now = T0;
          c.advanceTo(now);
          const log: { second: number; e: (typeof events)[number] }[] = [];
          for (const e of events) {
            now += e.gap;
            c.advanceTo(now);
            request(c, e.entity, e.write, e.bytesIn, e.bytesOut, e.micros, e.outcome);
            log.push({ second: now, e });
          }
          c.advanceTo(now + 1);
          for (const w of windows) {
            for (let ent = 0; ent < 3; ent++) {
              const inWin = log.filter(
                (l) => l.e.entity === ent && l.second >= now + 1 - w && l.second <= now,
              );
              const t = c.totals(ent, w);
              expect(t.reads).toBe(inWin.filter((l) => !l.e.write).length);
              expect(t.writes).toBe(inWin.filter((l) => l.e.write).length);
              expect(t.bytesIn).toBe(inWin.reduce((a, l) => a + l.e.bytesIn, 0));
              expect(t.bytesOut).toBe(inWin.reduce((a, l) => a + l.e.bytesOut, 0));
              expect(t.errors).toBe(inWin.filter((l) => l.e.outcome === 1).length);
              expect(t.shed).toBe(inWin.filter((l) => l.e.outcome === 2).length);
              const timed = inWin.filter((l) => l.e.outcome !== 2);
              expect(t.timed).toBe(timed.length);
              // Latency: exact to the second up to 60 s; longer windows start at a 10 s boundary.
              const from = w <= 60 ? now + 1 - w : Math.floor((now + 1 - w) / 10) * 10;
              const hist = c.latency(ent, w);
              const expected = new Float64Array(HISTOGRAM_BUCKETS);
              for (const l of log)
                if (l.e.entity === ent && l.e.outcome !== 2 && l.second >= from && l.second <= now)
                  expected[bucketOf(l.e.micros)]! += 1;
              expect([...hist]).toEqual([...expected]);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('counters - each completed second stores its own p50/p99/p999', () => {
    const c = new EntityCounters();
    const e = c.index('s0');
    c.advanceTo(T0);
    for (let i = 1; i <= 1000; i++) request(c, e, false, 0, 0, i * 10, 0);
    c.advanceTo(T0 + 1);
    expect(c.value(e, Field.P50, T0)).toBe(bucketValue(bucketOf(5000)));
    expect(c.value(e, Field.P99, T0)).toBe(bucketValue(bucketOf(9900)));
    expect(c.value(e, Field.P999, T0)).toBe(bucketValue(bucketOf(9990)));
    expect(c.value(e, Field.P99, T0 + 1)).toBe(0); // not complete yet
  });

  it('counters - a shard added after a split starts at zero and the others keep their history', () => {
    const c = new EntityCounters();
    const a = c.index('s0');
    c.advanceTo(T0);
    request(c, a, false, 0, 0, 1, 0);
    c.advanceTo(T0 + 1);
    const b = c.index('s0a');
    expect(c.index('s0')).toBe(a);
    expect(c.find('s0a')).toBe(b);
    expect(c.names).toEqual(['s0', 's0a']);
    request(c, b, true, 0, 0, 1, 0);
    c.advanceTo(T0 + 2);
    expect(c.totals(a, 2)).toMatchObject({ reads: 1, writes: 0 });
    expect(c.totals(b, 2)).toMatchObject({ reads: 0, writes: 1 });
    // An index that was never handed out is ignored, not a crash.
    request(c, 99, false, 0, 0, 1, 0);
  });

  it('counters - counts reach the current window at once, land in their own second, and survive entities added in between', () => {
    const c = new EntityCounters();
    const first = c.index('s0');
    c.advanceTo(T0);
    // Sent to an index not handed out yet: not the count of whichever entity gets that index later.
    c.count(5, false);
    const ids = Array.from({ length: 100 }, (_, i) => c.index(`s${i}`));
    expect(ids[0]).toBe(first);
    for (const e of ids) for (let k = 0; k <= e; k++) c.count(e, k % 2 === 1);
    expect(c.totals(ids[5]!, 1, true)).toMatchObject({ reads: 3, writes: 3 });
    expect(c.totals(ids[99]!, 1, true)).toMatchObject({ reads: 50, writes: 50 });
    expect(c.totals(ids[99]!, 1)).toMatchObject({ reads: 0, writes: 0 }); // the second is not over
    c.count(ids[99]!, true);
    c.advanceTo(T0 + 1);
    c.count(ids[99]!, false);
    expect(c.value(ids[99]!, Field.Writes, T0)).toBe(51);
    expect(c.value(ids[99]!, Field.Reads, T0)).toBe(50);
    expect(c.totals(ids[99]!, 1, true)).toMatchObject({ reads: 51, writes: 51 });
    c.advanceTo(T0 + 2);
    expect(c.value(ids[99]!, Field.Reads, T0 + 1)).toBe(1);
    expect(c.value(ids[99]!, Field.Writes, T0 + 1)).toBe(0);
  });

  it('counters - in-flight gauge goes up and down and each second keeps its peak', () => {
    const c = new EntityCounters();
    const e = c.index('n0');
    c.advanceTo(T0);
    c.begin(e);
    c.begin(e);
    c.begin(e);
    c.end(e);
    expect(c.inflight(e)).toBe(2);
    c.advanceTo(T0 + 1);
    c.end(e);
    c.end(e);
    c.end(e); // one too many: stays at 0
    expect(c.inflight(e)).toBe(0);
    c.advanceTo(T0 + 2);
    expect(c.value(e, Field.InflightMax, T0)).toBe(3);
    expect(c.value(e, Field.InflightMax, T0 + 1)).toBe(2); // what was in flight when it began
    expect(c.totals(e, 2).inflightMax).toBe(3);
  });

  it('counters - a sampled request counts once as a request and its weight times in bytes, errors, latency and in-flight', () => {
    const c = new EntityCounters();
    const e = c.index('s0');
    c.advanceTo(T0);
    // 16 requests, one of them measured with weight 16 (an error taking 2 ms).
    for (let i = 0; i < 16; i++) c.count(e, i % 4 === 0);
    c.begin(e, 16);
    expect(c.inflight(e)).toBe(16);
    c.end(e, 16);
    c.add(e, 30, 500, 2000, 1, bucketOf(2000), 16);
    c.advanceTo(T0 + 1);
    expect(c.totals(e, 1)).toMatchObject({
      reads: 12,
      writes: 4,
      bytesIn: 480,
      bytesOut: 8000,
      errors: 16,
      shed: 0,
      latencySum: 32_000,
      inflightMax: 16,
    });
    expect(sum(c.latency(e, 1))).toBe(16);
    expect(c.value(e, Field.P50, T0)).toBe(bucketValue(bucketOf(2000)));
    expect(c.inflight(e)).toBe(0);
  });

  it('counters - invalid ring sizes fail fast naming the field', () => {
    expect(() => new EntityCounters({ seconds: 0 })).toThrow(/seconds/);
    expect(() => new EntityCounters({ histogramSeconds: 1.5 })).toThrow(/histogramSeconds/);
  });
});
