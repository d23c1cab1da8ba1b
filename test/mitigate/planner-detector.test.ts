/**
 * The planner on what the real detector raises: synthetic snapshots
 * (test/detect/world.ts) and load driven through the real telemetry on a
 * manual clock (test/detect/traffic.ts).
 */
import { describe, expect, it } from 'vitest';
import { Detector } from '../../src/detect/detector.js';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { Planner, type PlannerOutput } from '../../src/mitigate/planner.js';
import { commandMixFrom } from '../../src/mitigate/planner-heavy.js';
import { Traffic } from '../detect/traffic.js';
import { at, ramp, snapshot, type WorldSpec } from '../detect/world.js';
import { ActionLog, applies, kindsOf } from './planner-harness.js';
import { ManualClock } from '../../src/clock.js';
import type { PlannerInputs, PlannerSettings } from '../../src/mitigate/planner.js';

/** Detector and planner ticked together every 250 ms over world(tick); returns the planner's outputs by tick. */
function plan(
  ticks: number,
  world: (tick: number) => Omit<WorldSpec, 'now'>,
  settings: Partial<PlannerSettings> = {},
  inputs: Partial<PlannerInputs> = {},
): { outs: PlannerOutput[][]; log: ActionLog } {
  const clock = new ManualClock(at(0));
  const detector = new Detector();
  const log = new ActionLog(clock);
  let last: TickSnapshot | undefined;
  const planner = new Planner(
    { clock, hotspots: () => detector.active(), actions: () => log.records, snapshot: () => last, ...inputs },
    settings,
  );
  const outs: PlannerOutput[][] = [];
  for (let t = 0; t < ticks; t++) {
    clock.advance(at(t) - clock.now());
    last = snapshot({ ...world(t), now: at(t) });
    detector.tick(last);
    const out = planner.tick();
    log.submit(out);
    outs.push(out);
  }
  return { outs, log };
}

const firstApply = (outs: PlannerOutput[][]): { tick: number; kinds: string[] } => {
  const tick = outs.findIndex((o) => applies(o).length > 0);
  return { tick, kinds: kindsOf(applies(outs[tick] ?? [])) };
};

describe('planner - on the detector', () => {
  it('planner - the celebrity (8,000 reads/s on one key) is cached the tick it is raised, with the detector’s evidence', () => {
    const { outs, log } = plan(30, (t) => ({
      hotKeys: [{ key: 'celeb', shard: 3, reads: 8000 * ramp(t, 10), writes: 0 }],
    }));
    const first = firstApply(outs);
    expect(first.kinds).toEqual(['cache celeb']);
    expect(first.tick).toBeLessThanOrEqual(12);
    const rec = log.records[0];
    expect(rec?.hotspot?.id).toMatch(/^hot-key:celeb@/);
    expect(rec?.hotspot?.evidence.rate).toBeGreaterThan(1000);
    expect(log.records).toHaveLength(1);
  });

  it('planner - the viral counter (6,000 INCR/s on likes:total) is aggregated, as a counter by its pattern', () => {
    const { outs, log } = plan(
      30,
      (t) => ({ hotKeys: [{ key: 'likes:total', shard: 7, reads: 0, writes: 6000 * ramp(t, 10) }] }),
      { counters: ['likes:*'] },
    );
    expect(firstApply(outs).kinds).toEqual(['aggregate likes:total']);
    expect(log.records[0]?.reason).toMatch(/counters pattern "likes:\*"/);
  });

  it('planner - a write-hot key that is no counter, with its shard and node over the SLO, is throttled to what its node has left', () => {
    const { outs } = plan(
      30,
      (t) => ({
        capacity: 10_000,
        hotKeys: [{ key: 'doc:7', shard: 7, reads: 0, writes: 5000 * ramp(t, 10) }],
        set: t >= 10 ? { s7: { p99Ms: 120 }, n1: { p99Ms: 120 } } : undefined,
      }),
      {},
      { commandMix: () => ({ increments: 0, writes: 5000 }) },
    );
    const [req] = applies(outs.flat());
    expect(req?.kind).toBe('throttle-key');
    // n1: 4 shards × 1,000 + 5,000 = 9,000 of 10,000; 70 % = 7,000 less the other 4,000 → 3,000.
    expect(req?.settings).toEqual({ opsPerSec: 3000, burst: 300 });
    expect(req?.prediction).toMatchObject({ metric: 'nodeP99Ms', expected: 50, direction: 'below' });
  });

  it('planner - a noisy tenant at 65 % of all load, with the others’ p99 over the SLO, gets a quota at its fair share', () => {
    const { outs } = plan(40, (t) => ({
      capacity: 5_000,
      tenantShares: t >= 10 ? [0.65, 0.35 / 3, 0.35 / 3, 0.35 / 3] : undefined,
      set:
        t >= 10 ? { t1: { p99Ms: 80 }, t2: { p99Ms: 80 }, t3: { p99Ms: 80 }, n0: { p99Ms: 80 } } : undefined,
    }));
    const [req] = applies(outs.flat());
    expect(req).toMatchObject({ kind: 'quota-tenant', subject: { type: 'tenant', name: 't0' } });
    // 16,000 ops/s on 4 nodes of 5,000: 70 % = 14,000; the others ask 5,600 → t0 (asking 10,400) gets 8,400.
    expect(req?.settings).toEqual({ opsPerSec: 8400, burst: 840 });
    expect(req?.prediction).toMatchObject({ metric: 'otherTenantsP99Ms', before: 80, expected: 50 });
  });
});

describe('planner - on real telemetry', () => {
  it('planner - a key over its node’s capacity: cache, then (p99 still over the SLO) throttle, then shed; reverted once the key is cold', () => {
    // Nodes answer 5,000 requests a second; the key alone asks 6,000: its node queues and its p99 climbs.
    const traffic = new Traffic(5000);
    const pad = (i: number): string => String(i).padStart(12, '0');
    traffic.add({ tenant: 'app', rate: 2500, keyOf: (i) => `key:${pad((i * 7919) % 100_000)}` });
    // A batch tenant of priority 0 is what shedding refuses first.
    traffic.add({ tenant: 'batch', rate: 2000, keyOf: (i) => `batch:${pad((i * 104_729) % 100_000)}` });
    const detector = new Detector();
    const log = new ActionLog(traffic.clock);
    let last: TickSnapshot | undefined;
    const planner = new Planner(
      {
        clock: traffic.clock,
        tenantPriority: (t) => (t === 'batch' ? 0 : 1),
        hotspots: () => detector.active(),
        actions: () => log.records,
        snapshot: () => last,
      },
      { verifyDelayMs: 2000, hysteresisMs: 4000 },
    );
    const steps: string[] = [];
    const tick = (ms: number): void => {
      for (let t = 0; t < ms; t += 250) {
        traffic.run(250);
        last = traffic.snapshot();
        detector.tick(last);
        const out = planner.tick();
        log.submit(out);
        steps.push(...kindsOf(out));
      }
    };
    tick(2000);
    expect(steps).toEqual([]);
    const key = { tenant: 'web', rate: 6000, keyOf: () => 'web:celebrity' };
    traffic.add(key);
    tick(8000);
    // Nothing here serves the cache, so p99 stays over the SLO and the ladder climbs to shedding.
    const node = detector.active().find((h) => h.subject === 'web:celebrity')?.node;
    expect(steps).toEqual([
      'cache web:celebrity',
      'ineffective cache web:celebrity',
      'throttle-key web:celebrity',
      'ineffective throttle-key web:celebrity',
      `shed ${node}`,
      `ineffective shed ${node}`,
    ]);
    const throttle = log.records.find((r) => r.kind === 'throttle-key');
    expect(throttle?.reason).toMatch(/standing in for an unknown capacity/);
    expect(throttle?.settings.opsPerSec).toBeGreaterThan(1000);
    expect(throttle?.settings.opsPerSec).toBeLessThan(6000);
    expect(log.records.find((r) => r.kind === 'shed')?.settings).toEqual({ belowPriority: 1 });
    traffic.stop(key);
    steps.length = 0;
    tick(12_000);
    expect(steps.filter((s) => s.startsWith('revert')).sort()).toEqual(
      ['revert cache web:celebrity', 'revert throttle-key web:celebrity', `revert shed ${node}`].sort(),
    );
    expect(log.live()).toEqual([]);
  });

  it('planner - with the command mix from real telemetry, a hot INCR key is aggregated and a hot LPUSH key is not probed', () => {
    const run = (withMix: boolean): string[] => {
      // Nodes keep up: no impact, so a key that is no counter gets nothing (throttling needs impact).
      const traffic = new Traffic();
      traffic.add({ tenant: 'app', rate: 2000, keyOf: (i) => `key:${(i * 7919) % 100_000}` });
      traffic.add({ tenant: 'app', rate: 4000, keyOf: () => 'views:home', increment: true });
      const queue = { tenant: 'app', rate: 4000, keyOf: () => 'queue:jobs', write: true };
      traffic.add(queue);
      const detector = new Detector();
      const log = new ActionLog(traffic.clock);
      let last: TickSnapshot | undefined;
      let active: string[] = [];
      const planner = new Planner({
        clock: traffic.clock,
        hotspots: () => detector.active(),
        actions: () => log.records,
        snapshot: () => last,
        ...(withMix ? { commandMix: commandMixFrom(traffic.telemetry) } : {}),
      });
      const steps: string[] = [];
      for (let t = 0; t < 24; t++) {
        // The queue's burst ends; its hotspot outlives it (hysteresis), the 1-s window does not.
        if (t === 16) traffic.stop(queue);
        traffic.run(250);
        last = traffic.snapshot();
        detector.tick(last);
        const out = planner.tick();
        log.submit(out);
        steps.push(...kindsOf(out));
        if (t === 15) active = detector.active().map((h) => `${h.kind} ${h.subject} ${h.heat}`);
      }
      expect(active).toEqual(
        expect.arrayContaining(['hot-key views:home write-hot', 'hot-key queue:jobs write-hot']),
      );
      return steps;
    };
    expect(run(true)).toEqual(['aggregate views:home']);
    // Without the mix both are probed with aggregation (queue:jobs is found no counter only later).
    expect(
      run(false)
        .filter((s) => s.startsWith('aggregate'))
        .sort(),
    ).toEqual(['aggregate queue:jobs', 'aggregate views:home']);
  });
});
