/**
 * The monitor's timer: it ticks while traffic flows, until the windows show
 * it gone, and rests while the router is idle and nothing is hot. The timer
 * and the clock are the test's: the timer is fired by hand every half tick as
 * the clock moves, so the counts are exact on any machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { EventBus } from '../../src/control/events.js';

import { Monitor, tickDue, type Interval, type TimerState } from '../../src/control/monitor.js';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { Detector } from '../../src/detect/detector.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const TICK_MS = 20;

/**
 * A router over two embedded nodes, measured by telemetry on a manual clock,
 * and a manual timer: `period(n)` moves the clock by tickMs in two halves,
 * firing the timer after each, with that period's traffic before the
 * second firing, n times.
 */
function rig(): {
  router: Router;
  telemetry: RouterTelemetry;
  clock: ManualClock;
  interval: Interval;
  period: (n: number, traffic?: () => void) => void;
} {
  const clock = new ManualClock();
  const nodes = ['n0', 'n1'].map(nodeId);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
  const router = new Router(table, backends);
  const telemetry = new RouterTelemetry({ clock });
  router.instrument(new Instrumentation(telemetry, table));
  let fire: (() => void) | undefined;
  // The monitor's timer fires every half tick (tickDue decides at each firing).
  const interval: Interval = (fn, ms) => {
    expect(ms).toBe(TICK_MS / 2);
    fire = fn;
    return () => (fire = undefined);
  };
  const period = (n: number, traffic?: () => void): void => {
    for (let i = 0; i < n; i++) {
      clock.advance(TICK_MS / 2);
      fire?.();
      clock.advance(TICK_MS / 2);
      traffic?.();
      fire?.();
    }
  };
  return { router, telemetry, clock, interval, period };
}

/** Every snapshot the detector is given, in order. */
function snapshotsOf(detector: Detector): TickSnapshot[] {
  const seen: TickSnapshot[] = [];
  const tick = detector.tick.bind(detector);
  detector.tick = (s: TickSnapshot) => {
    seen.push(s);
    return tick(s);
  };
  return seen;
}

const settings = { bus: new EventBus(), sloP99Ms: 20, tickMs: TICK_MS, windowSeconds: 1 };

/** A detector whose `watching` the test sets: what it watches is the detector tests' business, here only the timer's answer to it. */
class Steered extends Detector {
  on = false;
  override get watching(): boolean {
    return this.on;
  }
}

/** Sends `n` GETs through the router, each for the key `keyOf()` names. */
function gets(router: Router, n: number, keyOf: () => string): () => void {
  const session = new Session(1, 'test', false, 0);
  return () => {
    for (let i = 0; i < n; i++)
      router.dispatch(session, [Buffer.from('GET'), Buffer.from(keyOf())], undefined, () => {});
  };
}

const reads = (s: TickSnapshot): number => s.shards.reduce((sum, x) => sum + x.reads, 0);

describe('monitor', () => {
  it('monitor - timed ticks run while requests flow and rest while the router is idle and nothing is hot', () => {
    const { router, telemetry, clock, interval, period } = rig();
    const detector = new Detector();
    const seen = snapshotsOf(detector);
    const monitor = new Monitor({ ...settings, router, telemetry, detector, clock, interval });
    monitor.start();
    cleanups.push(() => monitor.stop());
    // The first timed tick runs (nothing seen yet); after that the idle router is left alone.
    period(10);
    expect(seen).toHaveLength(1);
    period(
      10,
      gets(router, 1, () => 'k'),
    );
    expect(seen).toHaveLength(11);
    expect(reads(seen.at(-1)!)).toBeGreaterThan(0);
    // Ticks go on until a snapshot shows the windows drained (a 1 s window: ≤ 2 s), then rest.
    let drainedAfter = 0;
    while (reads(seen.at(-1)!) > 0 && drainedAfter < 2000) {
      period(1);
      drainedAfter += TICK_MS;
    }
    expect(reads(seen.at(-1)!)).toBe(0);
    expect(drainedAfter).toBeGreaterThan(0);
    expect(seen).toHaveLength(11 + drainedAfter / TICK_MS);
    period(50);
    expect(seen).toHaveLength(11 + drainedAfter / TICK_MS);
    monitor.stop();
    period(
      1,
      gets(router, 1, () => 'k'),
    );
    expect(seen).toHaveLength(11 + drainedAfter / TICK_MS);
  });

  it('monitor - ticks every quietTickMs while the detector watches nothing, every tickMs while it does', () => {
    const { router, telemetry, clock, interval, period } = rig();
    const detector = new Steered();
    const seen = snapshotsOf(detector);
    const monitor = new Monitor({
      ...settings,
      router,
      telemetry,
      detector,
      clock,
      interval,
      quietTickMs: 100,
    });
    let k = 0;
    const cold = gets(router, 4, () => `k${k++}`);
    monitor.start();
    cleanups.push(() => monitor.stop());
    // 800 ms: a tick every 5th period.
    period(40, cold);
    expect(seen).toHaveLength(8);
    detector.on = true;
    period(40, cold);
    expect(seen).toHaveLength(48);
  });

  it('monitor - in its quiet pace, a key rising past the wire gets its tick at tickMs', () => {
    const { router, telemetry, clock, interval, period } = rig();
    // Not watching (nothing proven yet), whatever the rules make of the key:
    // the pace is the timer's answer to the wire alone.
    const detector = new Steered();
    const seen = snapshotsOf(detector);
    const monitor = new Monitor({
      ...settings,
      router,
      telemetry,
      detector,
      clock,
      interval,
      quietTickMs: 200,
    });
    let k = 0;
    monitor.start();
    cleanups.push(() => monitor.stop());
    // 2,000 requests/s: a second of cold keys, then one key (above keyRateFloor.clear / 2 = 375/s).
    period(
      50,
      gets(router, 40, () => `k${k++}`),
    );
    expect(seen).toHaveLength(5);
    period(
      40,
      gets(router, 40, () => 'celebrity'),
    );
    // Every period from the third of the new second: the wire reads a rate
    // over at least 250 ms, so 80 sightings in 40 ms read 320/s and 120 read 480/s.
    expect(seen).toHaveLength(5 + 38);
  });
});

describe('monitor - tick decision', () => {
  /** Which of 12 firings (half ticks) run the detector, starting right after a tick. */
  const ticksAt = (state: Omit<TimerState, 'halves'>): number[] => {
    const ran: number[] = [];
    let halves = 0;
    for (let firing = 1; firing <= 12; firing++) {
      halves++;
      if (tickDue({ ...state, halves })) {
        ran.push(firing);
        halves = 0;
      }
    }
    return ran;
  };
  const quiet = { quietHalves: 4, watching: false, provingHotKey: false, tripped: () => false };

  it('monitor - tick decision: every quietTickMs while nothing is in sight, every tickMs while something is', () => {
    expect(ticksAt(quiet)).toEqual([4, 8, 12]);
    expect(ticksAt({ ...quiet, watching: true })).toEqual([2, 4, 6, 8, 10, 12]);
  });

  it('monitor - tick decision: a hot key waiting for its second tick gets it at the next half tick', () => {
    expect(ticksAt({ ...quiet, watching: true, provingHotKey: true })).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
  });

  it('monitor - tick decision: the tripwire is asked at every half tick from a full tick on, and only then', () => {
    let asked = 0;
    const tripped = (): boolean => (asked++, asked === 2);
    // Asked at firings 2 and 3 (not at 1: at most one tick per tickMs); trips at 3.
    expect(ticksAt({ ...quiet, tripped }).slice(0, 1)).toEqual([3]);
    expect(tickDue({ ...quiet, halves: 1, tripped: () => true })).toBe(false);
  });
});
