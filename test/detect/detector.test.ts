import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { estimateMedianKeyRate } from '../../src/detect/classify.js';
import { Detector } from '../../src/detect/detector.js';
import type { DetectorEvent } from '../../src/detect/hotspot.js';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { DEFAULT_DETECTOR_RULES } from '../../src/detect/rules.js';
import { at, ramp, run, snapshot, T0, TICK_MS, type TickedEvent, type WorldSpec } from './world.js';

const RAISE = DEFAULT_DETECTOR_RULES.raiseTicks; // 8
const KEY_RAISE = DEFAULT_DETECTOR_RULES.hotKeyRaiseTicks; // 2
const CLEAR = DEFAULT_DETECTOR_RULES.clearTicks; // 8

/** The celebrity: 8000 reads/s on one key of shard 3, filling its 1 s window from `onset`. */
const celebrity = (tick: number, onset = 10, reads = 8000): Omit<WorldSpec, 'now'> => ({
  hotKeys: [{ key: 'celeb', shard: 3, reads: reads * ramp(tick, onset), writes: 0 }],
});

const raised = (events: readonly TickedEvent[]): TickedEvent[] => events.filter((e) => e.type === 'raised');
const kinds = (events: readonly TickedEvent[]): string[] =>
  raised(events).map((e) => `${e.hotspot.kind} ${e.hotspot.subject}`);
const only = (events: readonly TickedEvent[], type: TickedEvent['type']): TickedEvent => {
  const found = events.filter((e) => e.type === type);
  expect(found, `exactly one ${type} event`).toHaveLength(1);
  return found[0] as TickedEvent;
};

describe('detector - no false alarms', () => {
  it('detector - uniform load raises nothing in 5 minutes', () => {
    const events = run(new Detector(), (5 * 60 * 1000) / TICK_MS, () => ({}));
    expect(events).toEqual([]);
  });

  it('detector - uniform load with ±20 % noise on every shard, tenant and key never raises (property)', () => {
    const noise = fc.double({ min: 0.8, max: 1.2, noNaN: true });
    const tick = fc.record({
      scale: fc.array(noise, { minLength: 16, maxLength: 16 }),
      tenantShares: fc.array(noise, { minLength: 4, maxLength: 4 }),
      keyScale: fc.array(noise, { minLength: 20, maxLength: 20 }),
      readShare: fc.double({ min: 0.6, max: 0.9, noNaN: true }),
      p99Ms: fc.double({ min: 1, max: 200, noNaN: true }),
    });
    fc.assert(
      fc.property(fc.array(tick, { minLength: 20, maxLength: 40 }), (ticks) => {
        const events = run(new Detector(), ticks.length, (t) => ticks[t] ?? {});
        // The brief allows at most info here; the margins are wide enough that nothing is raised at all.
        expect(events.filter((e) => e.hotspot.severity !== 'info')).toEqual([]);
        expect(events).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it('detector - slowly drifting load raises no false alarm', () => {
    const ticks = (5 * 60 * 1000) / TICK_MS;
    const events = run(new Detector(), ticks, (t) => {
      const f = t / ticks;
      // Every shard swings ±30 % over the run, out of phase; shard 15 climbs steadily to 1.6x.
      const scale = Array.from({ length: 16 }, (_, i) =>
        i === 15 ? 1 + 0.6 * f : 1 + 0.3 * Math.sin(2 * Math.PI * f + (i * 2 * Math.PI) / 15),
      );
      return {
        scale,
        tenantShares: [0.25 + 0.15 * f, 0.25 - 0.05 * f, 0.25 - 0.05 * f, 0.25 - 0.05 * f],
        keyScale: Array.from({ length: 20 }, (_, j) => 1 + 2 * f * (j % 2)),
      };
    });
    expect(events).toEqual([]);
  });

  it('detector - an idle cluster below the rate floors raises nothing, even with a dominant key', () => {
    const events = run(new Detector(), 60, (t) => ({
      baseRate: 2,
      hotKeys: [{ key: 'celeb', shard: 3, reads: t >= 10 ? 30 : 0, writes: 0 }],
    }));
    expect(events).toEqual([]);
  });
});

describe('detector - classification', () => {
  it('detector - celebrity key: hot-key, read-hot, within 1 s, onset at the first hot tick', () => {
    const events = run(new Detector(), 40, (t) => celebrity(t));
    expect(kinds(events)).toEqual(['hot-key celeb']);
    const h = only(events, 'raised').hotspot;
    expect(h).toMatchObject({ kind: 'hot-key', subject: 'celeb', shard: 's3', node: 'n0', heat: 'read-hot' });
    // At tick 10 the window already holds 2000 reads/s of it: > 1000 floor, 2/3 of its shard.
    expect(h.onset).toBe(at(10));
    expect(h.detectedAt).toBe(at(10 + KEY_RAISE - 1));
    expect(h.detectedAt - at(10)).toBeLessThanOrEqual(1000);
    expect(h.clearedAt).toBeNull();
  });

  it('detector - celebrity key: evidence is the numbers that tripped the rule', () => {
    const events = run(new Detector(), 12, (t) => celebrity(t));
    const e = only(events, 'raised');
    expect(e.tick).toBe(11);
    // Tick 11: the key at half its rate (4000/s) on a 1000/s shard.
    const ev = e.hotspot.evidence;
    expect(ev.rate).toBe(4000);
    expect(ev.reads).toBe(4000);
    expect(ev.writes).toBe(0);
    expect(ev.shardRate).toBe(5000);
    expect(ev.shareOfShard).toBe(0.8);
    // Median key: mean of the tail = (20000 total - 20 × 0.64 - 4000) / (100001 - 21 keys).
    expect(ev.medianKeyRate).toBeCloseTo((20000 - 12.8 - 4000) / 99980, 6);
    expect(ev.threshold).toBe(1000);
    expect(ev.readShare).toBe(1);
    expect(ev.sloP99Ms).toBe(50);
    expect(ev.shardP99Ms).toBe(5);
    // Shard s3: 5000 ops of 100000 / 4 shards per node of capacity; node n0: 8000 of 100000.
    expect(ev.utilization).toBe(0.2);
    expect(ev.shedRatio).toBe(0);
    expect(e.hotspot.summary).toContain('"celeb"');
    expect(e.hotspot.summary).toContain('80% of shard s3');
  });

  it('detector - a hot key does not also raise a hot range, hot node or skew warning for its shard', () => {
    // Shard 3 at 9x every other shard, node n0 far above the rest: all of it is the key's.
    const events = run(new Detector(), 120, (t) => celebrity(t));
    expect(kinds(events)).toEqual(['hot-key celeb']);
  });

  it('detector - viral counter (INCR): hot-key, write-hot', () => {
    const events = run(new Detector(), 30, (t) => ({
      hotKeys: [{ key: 'likes:total', shard: 7, reads: 0, writes: 6000 * ramp(t, 10) }],
    }));
    expect(kinds(events)).toEqual(['hot-key likes:total']);
    const h = only(events, 'raised').hotspot;
    expect(h).toMatchObject({ heat: 'write-hot', shard: 's7', node: 'n1', onset: at(10) });
    expect(h.evidence.readShare).toBe(0);
  });

  it('detector - a key written, then read (a list filled, then read by everyone) turns read-hot two ticks after the reads dominate; a near-even mix takes clearTicks', () => {
    // Ticks 10-29 LPUSH at 6,000/s; from tick 30 only reads (the world's window is the tick itself).
    const heats = (reads: number, writes: number): TickedEvent[] =>
      run(new Detector(), 50, (t) => ({
        hotKeys: [
          {
            key: 'mylist',
            shard: 3,
            reads: t >= 30 ? reads : 0,
            writes: t < 10 ? 0 : t < 30 ? 6000 : writes,
          },
        ],
      })).filter((e) => e.type === 'raised' || e.type === 'updated');
    const clear = heats(8000, 0);
    expect(clear.map((e) => [e.type, e.hotspot.heat])).toEqual([
      ['raised', 'write-hot'],
      ['updated', 'read-hot'],
    ]);
    expect(clear[1]!.tick).toBe(30 + KEY_RAISE - 1);
    // 55 % reads: the other heat, but no clear margin.
    const even = heats(3300, 2700);
    expect(even.map((e) => [e.type, e.hotspot.heat])).toEqual([
      ['raised', 'write-hot'],
      ['updated', 'read-hot'],
    ]);
    expect(even[1]!.tick).toBe(30 + CLEAR - 1);
  });

  it('detector - a key whose traffic turned is judged by its recent split, not the window that still holds the old one', () => {
    // LPUSH at 6,000/s from tick 10; from tick 30 the key is only read, but
    // the window still counts mostly the writes before (a 1-2 s window).
    const lagging = (recent: boolean): TickedEvent[] =>
      run(new Detector(), 40, (t) => ({
        hotKeys: [
          {
            key: 'mylist',
            shard: 3,
            reads: t >= 30 ? 2000 : 0,
            writes: t < 10 ? 0 : 6000,
            ...(recent && t >= 30 ? { recent: { reads: 8000, writes: 0 } } : {}),
          },
        ],
      })).filter((e) => e.type === 'raised' || e.type === 'updated');
    const turned = lagging(true);
    expect(turned.map((e) => [e.type, e.hotspot.heat])).toEqual([
      ['raised', 'write-hot'],
      ['updated', 'read-hot'],
    ]);
    expect(turned[1]!.tick).toBe(30 + KEY_RAISE - 1);
    expect(turned[1]!.hotspot.evidence.readShare).toBe(1);
    // Without the recent split the window's 25 % reads keep it write-hot.
    expect(lagging(false).map((e) => e.hotspot.heat)).toEqual(['write-hot']);
  });

  it('detector - hot range: many keys of one shard, none dominant, raises hot-range and no hot key', () => {
    const events = run(new Detector(), 40, (t) => ({
      spread: [{ shard: 5, rate: 3000 * ramp(t, 10), keys: 300, readShare: 0.2 }],
    }));
    expect(kinds(events)).toEqual(['hot-range s5']);
    const e = only(events, 'raised');
    // Tick 10 holds 750/s extra (1.67x the mean); tick 11 holds 1500 extra: 2500 > 2 × 1093.75.
    expect(e.hotspot.onset).toBe(at(11));
    expect(e.tick).toBe(11 + RAISE - 1);
    expect(e.hotspot.detectedAt - at(10)).toBeLessThanOrEqual(5000);
    // Tick 18, full load: 1000 + 3000 on s5; 80 % reads of the base, 20 % of the extra → write-hot.
    expect(e.hotspot).toMatchObject({ shard: 's5', node: 'n1', heat: 'write-hot' });
    expect(e.hotspot.evidence).toMatchObject({ rate: 4000, shardRate: 4000, explainedRate: 0 });
    expect(e.hotspot.evidence.meanShardRate).toBe(19000 / 16);
    expect(e.hotspot.evidence.loadOverMean).toBeCloseTo(4000 / (19000 / 16), 4);
    expect(e.hotspot.evidence.loadOverMedian).toBe(4);
    expect(e.hotspot.evidence.topKeyShare).toBe(0.0025);
  });

  it('detector - a hot key in a shard that stays hot without it raises both hot-key and hot-range', () => {
    const events = run(new Detector(), 30, () => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: 8000, writes: 0 }],
      spread: [{ shard: 3, rate: 3000, keys: 300 }],
    }));
    expect(kinds(events).sort()).toEqual(['hot-key celeb', 'hot-range s3']);
    const range = raised(events).find((e) => e.hotspot.kind === 'hot-range')?.hotspot;
    // The range's evidence is what is left once the key is taken out.
    expect(range?.evidence).toMatchObject({ shardRate: 12000, rate: 4000, explainedRate: 8000 });
  });

  it('detector - a single hot shard raises hot-range, not also hot-node for its node', () => {
    const events = run(new Detector(), 30, () => ({ scale: [4] }));
    expect(kinds(events)).toEqual(['hot-range s0']);
  });

  it('detector - hot node: two warm shards on one node, neither hot, raise hot-node', () => {
    const events = run(new Detector(), 30, (t) => ({ scale: t >= 10 ? [1.9, 1.9] : [] }));
    expect(kinds(events)).toEqual(['hot-node n0']);
    const h = only(events, 'raised').hotspot;
    expect(h).toMatchObject({ subject: 'n0', node: 'n0', shard: null, heat: 'read-hot', onset: at(10) });
    expect(h.detectedAt).toBe(at(10 + RAISE - 1));
    // n0 = 1900 + 1900 + 1000 + 1000 = 5800; mean node (5800 + 3 × 4000) / 4 = 4450.
    expect(h.evidence).toMatchObject({ rate: 5800, meanNodeRate: 4450, warmShards: 2 });
    expect(h.evidence.loadOverMean).toBeCloseTo(5800 / 4450, 4);
    expect(h.evidence.warmestShardOverMean).toBeCloseTo(1900 / (17800 / 16), 4);
  });

  it('detector - noisy tenant: one tenant at 65 % of the load raises noisy-tenant', () => {
    const events = run(new Detector(), 30, (t) => ({
      tenantShares: t >= 10 ? [0.65, 0.35 / 3, 0.35 / 3, 0.35 / 3] : undefined,
    }));
    expect(kinds(events)).toEqual(['noisy-tenant t0']);
    const h = only(events, 'raised').hotspot;
    expect(h).toMatchObject({ subject: 't0', shard: null, node: null, heat: 'read-hot' });
    expect(h.evidence.share).toBeCloseTo(0.65, 6);
    expect(h.evidence.overRunnerUp).toBeCloseTo(0.65 / (0.35 / 3), 4);
  });

  it('detector - `other` (the tenants telemetry does not track by name) is never raised as a noisy tenant, nor a runner-up', () => {
    // t0 stands for `other` here: 65 % of the load summed over many small tenants.
    class OtherAsT0 extends Detector {
      override tick(s: TickSnapshot): DetectorEvent[] {
        return super.tick({
          ...s,
          tenants: s.tenants.map((tn) => (tn.id === 't0' ? { ...tn, id: 'other' } : tn)),
        });
      }
    }
    const shares = [0.65, 0.35 / 3, 0.35 / 3, 0.35 / 3];
    expect(run(new OtherAsT0(), 30, (t) => ({ tenantShares: t >= 10 ? shares : undefined }))).toEqual([]);
    // A tenant at 55 % next to `other` at 40 %: raised, the runner-up is the largest single tenant.
    const events = run(new OtherAsT0(), 30, (t) => ({
      tenantShares: t >= 10 ? [0.4, 0.55, 0.03, 0.02] : undefined,
    }));
    expect(kinds(events)).toEqual(['noisy-tenant t1']);
    const evidence = only(events, 'raised').hotspot.evidence;
    expect(evidence.runnerUpRate).toBeCloseTo(Number(evidence.rate) * (0.03 / 0.55), 4);
  });

  it('detector - two tenants splitting 55/45 are not noisy', () => {
    expect(run(new Detector(), 30, () => ({ tenantShares: [0.55, 0.45] }))).toEqual([]);
  });

  it('detector - structural skew (Gini > 0.8) raises an info skew-warning, even under impact', () => {
    // Two shards on different nodes carry everything: Gini = 1 - 2/16 = 0.875.
    const scale = Array.from({ length: 16 }, (_, i) => (i === 0 || i === 8 ? 1 : 0));
    const events = run(new Detector(), 20, () => ({ scale, p99Ms: 500 }));
    expect(kinds(events).sort()).toEqual(['hot-range s0', 'hot-range s8', 'skew-warning shards']);
    const warning = raised(events).find((e) => e.hotspot.kind === 'skew-warning')?.hotspot;
    expect(warning?.severity).toBe('info');
    expect(warning?.impact).toEqual([]);
    expect(warning?.evidence.gini).toBeCloseTo(0.875, 6);
    const range = raised(events).find((e) => e.hotspot.kind === 'hot-range')?.hotspot;
    expect(range?.severity).toBe('critical');
  });
});

describe('detector - hysteresis', () => {
  it('detector - a one-tick blip never raises', () => {
    const events = run(new Detector(), 40, (t) => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: t === 10 ? 8000 : 0, writes: 0 }],
      scale: t === 20 ? [10] : [],
      tenantShares: t === 30 ? [0.9, 0.05, 0.05] : undefined,
    }));
    expect(events).toEqual([]);
  });

  it('detector - a key hot every other tick never raises', () => {
    const events = run(new Detector(), 60, (t) => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: t % 2 === 0 ? 8000 : 0, writes: 0 }],
    }));
    expect(events).toEqual([]);
  });

  it('detector - a hot range lasting raiseTicks - 1 ticks never raises; raiseTicks ticks do', () => {
    const short = run(new Detector(), 40, (t) => ({ scale: t >= 10 && t < 10 + RAISE - 1 ? [4] : [] }));
    expect(short).toEqual([]);
    const long = run(new Detector(), 40, (t) => ({ scale: t >= 10 && t < 10 + RAISE ? [4] : [] }));
    expect(only(long, 'raised').tick).toBe(10 + RAISE - 1);
  });

  it('detector - a raised hot key holds between the clear and raise thresholds, clears only after clearTicks below', () => {
    const reads = (t: number): number => {
      if (t < 20) return 8000;
      if (t < 40) return 900; // under the 1000 floor, over the 750 clear floor, 47 % of its shard
      if (t < 40 + CLEAR - 1) return 300; // below every clear threshold ...
      if (t === 40 + CLEAR - 1) return 900; // ... but one tick back above resets the count
      return 300;
    };
    const events = run(new Detector(), 80, (t) => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: reads(t), writes: 0 }],
    }));
    expect(events.map((e) => `${e.tick} ${e.type}`)).toEqual([
      `${KEY_RAISE - 1} raised`,
      `${40 + 2 * CLEAR - 1} cleared`,
    ]);
    const cleared = only(events, 'cleared').hotspot;
    expect(cleared.clearedAt).toBe(at(40 + 2 * CLEAR - 1));
    expect(cleared.id).toBe(only(events, 'raised').hotspot.id);
  });

  it('detector - watching while a condition waits for proof or a hotspot is active, not before or after', () => {
    const d = new Detector();
    const hot = (t: number): boolean => t === 5 || (t >= 20 && t < 30); // a blip, then a celebrity
    const watching: boolean[] = [];
    for (let t = 0; t < 30 + CLEAR + 4; t++) {
      d.tick(
        snapshot({ now: at(t), hotKeys: [{ key: 'celeb', shard: 3, reads: hot(t) ? 8000 : 0, writes: 0 }] }),
      );
      watching.push(d.watching);
    }
    expect(watching.slice(0, 5)).not.toContain(true);
    expect(watching[5]).toBe(true); // seen once, waiting for proof
    expect(watching.slice(6, 20)).not.toContain(true); // the blip broke off and was forgotten
    expect(watching.slice(20, 30 + CLEAR - 1)).not.toContain(false); // pending, raised, clearing
    expect(watching.slice(30 + CLEAR - 1)).not.toContain(true); // cleared
    expect(d.history()).toHaveLength(1);
  });

  it('detector - provingHotKey while a hot-key condition waits for its second tick, not for other kinds or once raised', () => {
    const d = new Detector();
    const proving: boolean[] = [];
    for (let t = 0; t < 4; t++) {
      d.tick(
        snapshot({ now: at(t), hotKeys: [{ key: 'celeb', shard: 3, reads: t >= 1 ? 8000 : 0, writes: 0 }] }),
      );
      proving.push(d.provingHotKey);
    }
    expect(proving).toEqual([false, true, false, false]);
    expect(d.active().map((h) => h.kind)).toEqual(['hot-key']);
    // A hot range waiting for its raiseTicks is watched, but not a hot key.
    const r = new Detector();
    r.tick(snapshot({ now: at(0), spread: [{ shard: 5, rate: 20_000, keys: 5000 }] }));
    expect([r.watching, r.provingHotKey]).toEqual([true, false]);
  });

  it('detector - clearing: active() empties and history() keeps the cleared hotspot', () => {
    const d = new Detector();
    run(d, 40, (t) => celebrity(t, 0, t < 20 ? 8000 : 0));
    expect(d.active()).toEqual([]);
    const history = d.history();
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      kind: 'hot-key',
      subject: 'celeb',
      onset: at(0),
      clearedAt: at(20 + CLEAR - 1),
    });
  });

  it('detector - a cleared hotspot reads as cleared: its summary and its cleared event say so, not that it is hot', () => {
    const d = new Detector();
    const events = run(d, 40, (t) => celebrity(t, 0, t < 20 ? 8000 : 0));
    const cleared = only(events, 'cleared').hotspot;
    expect(d.history()[0]).toBe(cleared);
    expect(cleared.summary).not.toMatch(/ is (read|write)-hot/);
    expect(cleared.summary).toBe(
      `cleared: hot key "celeb" stayed below its clear thresholds for ${CLEAR} ticks; it was read-hot at 8000 ops/s when last hot`,
    );
    // While active, the summary is the present tense of the latest tick.
    const raisedAt = only(events, 'raised').hotspot;
    expect(raisedAt.summary).toMatch(/^key "celeb" is read-hot: /);
  });

  it('detector - ids are stable across ticks and new for the next episode of the same subject', () => {
    const d = new Detector();
    const events = run(d, 80, (t) => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: t < 20 || t >= 50 ? 8000 : 0, writes: 0 }],
      p99Ms: t === 10 ? 500 : 5, // `updated` to critical and, clearTicks later, back to info
    }));
    const first = events.filter((e) => e.tick < 50).map((e) => e.hotspot.id);
    expect(events.filter((e) => e.tick < 50).map((e) => e.type)).toEqual([
      'raised',
      'updated',
      'updated',
      'cleared',
    ]);
    expect(new Set(first).size).toBe(1);
    expect(first[0]).toBe(`hot-key:celeb@${at(0)}`);
    const second = only(
      events.filter((e) => e.tick >= 50),
      'raised',
    ).hotspot;
    expect(second.id).toBe(`hot-key:celeb@${at(50)}`);
    expect(d.active().map((h) => h.id)).toEqual([second.id]);
    expect(d.history().map((h) => h.id)).toEqual([first[0], second.id]);
  });

  it('detector - history keeps at most maxHistory hotspots, dropping the oldest cleared first', () => {
    const d = new Detector({ maxHistory: 2 });
    run(d, 100, (t) => ({ hotKeys: [{ key: 'celeb', shard: 3, reads: t % 25 < 10 ? 8000 : 0, writes: 0 }] }));
    expect(d.history().map((h) => h.onset)).toEqual([at(50), at(75)]);
  });

  it('detector - snapshots must come in time order', () => {
    const d = new Detector();
    d.tick(snapshot({ now: T0 + 1000 }));
    expect(() => d.tick(snapshot({ now: T0 }))).toThrow(RangeError);
  });
});

describe('detector - impact and severity', () => {
  it('detector - quiet skew: a key at 50 % of all traffic on an idle cluster is info and never pages', () => {
    const events = run(new Detector(), 60, (t) => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: t >= 10 ? 16000 : 0, writes: 0 }],
    }));
    const h = only(events, 'raised').hotspot;
    expect(h).toMatchObject({ kind: 'hot-key', severity: 'info', impact: [] });
    expect(events.every((e) => e.hotspot.severity === 'info')).toBe(true);
  });

  it('detector - p99 over the SLO makes it a warning, at 2x the SLO critical; severity falls only after clearTicks', () => {
    const p99 = (t: number): number => (t >= 30 ? 5 : t >= 25 ? 120 : t >= 20 ? 80 : 5);
    const events = run(new Detector(), 60, (t) => ({
      ...celebrity(t, 0),
      set: { s3: { p99Ms: p99(t) } },
    }));
    expect(events.map((e) => `${e.tick} ${e.type} ${e.hotspot.severity}`)).toEqual([
      `${KEY_RAISE - 1} raised info`,
      '20 updated warning',
      '25 updated critical',
      `${30 + CLEAR - 1} updated info`,
    ]);
    const critical = events.find((e) => e.hotspot.severity === 'critical')?.hotspot;
    expect(critical?.impact).toEqual(['p99-over-slo']);
    expect(critical?.evidence).toMatchObject({ shardP99Ms: 120, sloP99Ms: 50 });
  });

  it('detector - a raise under impact starts at its severity', () => {
    const events = run(new Detector(), 20, (t) => ({ ...celebrity(t), set: { n0: { p99Ms: 80 } } }));
    const h = only(events, 'raised').hotspot;
    expect(h.severity).toBe('warning');
    expect(h.evidence).toMatchObject({ nodeP99Ms: 80, shardP99Ms: 5 });
  });

  it('detector - a rising queue is impact; a deep but flat one is not', () => {
    const rising = run(new Detector(), 40, (t) => ({
      ...celebrity(t, 0),
      set: { s3: { queueDepth: t >= 20 ? 20 + 10 * (t - 20) : 0 } },
    }));
    // Growth from tick 20 is impact once it has lasted three spans of 4 ticks: from 16 to 20, 24 and 28.
    expect(only(rising, 'updated')).toMatchObject({
      tick: 28,
      hotspot: { severity: 'warning', impact: ['queue-rising'] },
    });
    const flat = run(new Detector(), 40, (t) => ({ ...celebrity(t, 0), set: { s3: { queueDepth: 500 } } }));
    expect(flat.every((e) => e.hotspot.severity === 'info')).toBe(true);
  });

  it('detector - a queue that wanders within a bound (clients waiting for their replies) is not rising', () => {
    // 50 clients, one request each (16..50 in flight), or 16 each (500..800): redis-benchmark through
    // the proxy. Compared with one tick long ago, such a queue read as rising half the time.
    for (const [low, high] of [
      [16, 50],
      [500, 800],
    ] as const) {
      let seed = 7;
      const wander = (): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return low + (seed % (high - low + 1));
      };
      const events = run(new Detector(), 400, (t) => ({
        ...celebrity(t, 0),
        set: { s3: { queueDepth: wander() }, n0: { queueDepth: wander() } },
      }));
      expect(events.length).toBeGreaterThan(0);
      expect(events.flatMap((e) => e.hotspot.impact)).toEqual([]);
    }
  });

  it('detector - the step a pipelined client makes when it starts is not rising', () => {
    // redis-benchmark -P 16 with 50 clients: from nothing to 500..800 in flight at once, then held
    // (or held still). With one span, the step read as rising and the planner throttled its key.
    for (const jitter of [0, 300]) {
      let seed = 11;
      const held = (): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return 500 + (jitter === 0 ? 0 : seed % (jitter + 1));
      };
      const events = run(new Detector(), 200, (t) => ({
        ...celebrity(t, 0),
        set: { s3: { queueDepth: t >= 20 ? held() : 0 }, n0: { queueDepth: t >= 20 ? held() : 0 } },
      }));
      expect(events.length).toBeGreaterThan(0);
      expect(events.flatMap((e) => e.hotspot.impact)).toEqual([]);
    }
  });

  it('detector - utilization near capacity is impact', () => {
    const events = run(new Detector(), 20, (t) => ({ ...celebrity(t), set: { n0: { utilization: 0.9 } } }));
    expect(only(events, 'raised').hotspot).toMatchObject({ severity: 'warning', impact: ['near-capacity'] });
    expect(only(events, 'raised').hotspot.evidence.utilization).toBe(0.9);
  });

  it('detector - shedding 1 % or more of the requests is critical', () => {
    // Raised at tick 1, when s3 serves 1000 + 4000 ops/s: 200 shed = 3.8 %.
    const events = run(new Detector(), 20, (t) => ({ ...celebrity(t, 0), set: { s3: { shed: 200 } } }));
    expect(only(events, 'raised').hotspot).toMatchObject({ severity: 'critical', impact: ['shedding'] });
    expect(only(events, 'raised').hotspot.evidence.shedRatio).toBeCloseTo(200 / 5200, 4);
  });

  it('detector - impact is configurable: a signal left out does not count', () => {
    const events = run(new Detector({ impactSignals: ['queue-rising'] }), 20, (t) => ({
      ...celebrity(t),
      p99Ms: 500,
    }));
    expect(only(events, 'raised').hotspot.severity).toBe('info');
  });

  it('detector - a noisy tenant is judged by the impact on the nodes it shares', () => {
    const events = run(new Detector(), 20, () => ({
      tenantShares: [0.7, 0.1, 0.1, 0.1],
      set: { n2: { p99Ms: 80 } },
    }));
    expect(only(events, 'raised').hotspot).toMatchObject({ kind: 'noisy-tenant', severity: 'warning' });
  });
});

describe('median key rate', () => {
  it('median key rate - the mean of the keys outside the top-K when the tail holds the median', () => {
    // 16000 ops over 100000 keys; the 20 known keys take 0.64/s each.
    expect(estimateMedianKeyRate(snapshot({ now: T0 }))).toBeCloseTo((16000 - 20 * 0.64) / (100000 - 20), 9);
  });

  it('median key rate - read off the top keys when they are the whole keyspace', () => {
    // Four shards: five keys are more keys than shards.
    const all = snapshot({ now: T0 });
    const base = { ...all, shards: all.shards.slice(0, 4) };
    const keys = [100, 4, 3, 2, 1].map((r, i) => ({
      ...base.topKeys[0]!,
      key: `k${i}`,
      reads: r,
      writes: 0,
    }));
    expect(estimateMedianKeyRate({ ...base, topKeys: keys, distinctKeys: 5, totalKeyOps: 110 })).toBe(3);
    // Six keys, five known: the median lies between the 3rd and 4th known ones.
    const six = estimateMedianKeyRate({ ...base, topKeys: keys, distinctKeys: 6, totalKeyOps: 110.5 });
    expect(six).toBeGreaterThanOrEqual(2);
    expect(six).toBeLessThanOrEqual(3);
  });

  it('median key rate - fewer keys than shards: the idle rest of the keyspace counts at rate 0, so one key carrying all the load is hot', () => {
    const base = snapshot({ now: T0 }); // 16 shards
    const key = (name: string, reads: number) => ({ ...base.topKeys[0]!, key: name, reads, writes: 0 });
    expect(
      estimateMedianKeyRate({
        ...base,
        topKeys: [key('mylist', 45_000)],
        distinctKeys: 1,
        totalKeyOps: 45_000,
      }),
    ).toBe(0);
    // Ten keys of sixteen: the median is the ninth.
    const ten = Array.from({ length: 10 }, (_, i) => key(`k${i}`, 1000 - i));
    expect(estimateMedianKeyRate({ ...base, topKeys: ten, distinctKeys: 10, totalKeyOps: 9955 })).toBe(992);
    // Through the detector: a single key is a hot key within hotKeyRaiseTicks, not only a hot range.
    const events = run(new Detector(), 20, (t) => ({
      baseRate: 0,
      hotKeys: [{ key: 'mylist', shard: 14, reads: t >= 5 ? 40_000 : 0, writes: 0 }],
    }));
    const first = raised(events)[0]!;
    expect(`${first.hotspot.kind} ${first.hotspot.subject}`).toBe('hot-key mylist');
    expect(first.tick).toBe(5 + KEY_RAISE - 1);
  });

  it('median key rate - no keys, no rate', () => {
    expect(
      estimateMedianKeyRate({ ...snapshot({ now: T0 }), topKeys: [], distinctKeys: 0, totalKeyOps: 0 }),
    ).toBe(0);
  });
});
