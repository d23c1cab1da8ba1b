/**
 * The monitor's timer: it ticks while traffic flows, until the windows show
 * it gone, and rests while the router is idle and nothing is hot.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { EventBus } from '../../src/control/events.js';
import { Monitor, tickDue, type TimerState } from '../../src/control/monitor.js';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { Detector } from '../../src/detect/detector.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A router over two embedded nodes, measured by telemetry; stopped after the test. */
function instrumentedRouter(): { router: Router; telemetry: RouterTelemetry } {
  const nodes = ['n0', 'n1'].map(nodeId);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const backends = new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })]));
  cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())).then(() => {}));
  const router = new Router(table, backends);
  const telemetry = new RouterTelemetry();
  router.instrument(new Instrumentation(telemetry, table));
  return { router, telemetry };
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

const settings = { bus: new EventBus(), sloP99Ms: 20, tickMs: 20, windowSeconds: 1 };

/** A detector whose `watching` the test sets: what it watches is the detector tests' business, here only the timer's answer to it. */
class Steered extends Detector {
  on = false;
  override get watching(): boolean {
    return this.on;
  }
}

/** GETs through the router every 5 ms, `perTick` at a time, each for the key `keyOf()` names; stopped after the test. */
function trafficEvery5ms(router: Router, perTick: number, keyOf: () => string): void {
  const session = new Session(1, 'test', false, 0);
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++)
      router.dispatch(session, [Buffer.from('GET'), Buffer.from(keyOf())], undefined, () => {});
  }, 5);
  cleanups.push(() => clearInterval(timer));
}

describe('monitor', () => {
  it('monitor - timed ticks run while requests flow and rest while the router is idle and nothing is hot', async () => {
    const { router, telemetry } = instrumentedRouter();
    const detector = new Detector();
    const seen = snapshotsOf(detector);
    const monitor = new Monitor({ ...settings, router, telemetry, detector });
    monitor.start();
    cleanups.push(() => monitor.stop());
    await sleep(250);
    // The first timed tick runs (nothing seen yet); after that the idle router is left alone.
    expect(seen.length).toBeLessThanOrEqual(2);
    const idle = seen.length;
    const session = new Session(1, 'test', false, 0);
    const traffic = setInterval(() => {
      router.dispatch(session, [Buffer.from('GET'), Buffer.from('k')], undefined, () => {});
    }, 5);
    await sleep(250);
    clearInterval(traffic);
    expect(seen.length - idle).toBeGreaterThanOrEqual(5);
    expect(seen.at(-1)!.shards.reduce((sum, s) => sum + s.reads, 0)).toBeGreaterThan(0);
    // Ticks go on until a snapshot shows the windows drained (≤ 2 s), then rest.
    for (let i = 0; i < 60 && seen.at(-1)!.shards.some((s) => s.reads > 0); i++) await sleep(50);
    expect(seen.at(-1)!.shards.every((s) => s.reads === 0)).toBe(true);
    const drained = seen.length;
    await sleep(250);
    expect(seen.length - drained).toBeLessThanOrEqual(1);
  });

  it('monitor - ticks every quietTickMs while the detector watches nothing, every tickMs while it does', async () => {
    const { router, telemetry } = instrumentedRouter();
    const detector = new Steered();
    const seen = snapshotsOf(detector);
    const monitor = new Monitor({ ...settings, router, telemetry, detector, quietTickMs: 100 });
    let k = 0;
    trafficEvery5ms(router, 1, () => `k${k++}`);
    monitor.start();
    cleanups.push(() => monitor.stop());
    await sleep(800);
    const quiet = seen.length;
    detector.on = true;
    await sleep(800);
    const watching = seen.length - quiet;
    // 800 ms: 8 quiet ticks, 40 watching ones; the margins absorb a loaded machine's late timers.
    expect(quiet).toBeGreaterThanOrEqual(3);
    expect(quiet).toBeLessThanOrEqual(10);
    expect(watching).toBeGreaterThanOrEqual(20);
  });

  it('monitor - in its quiet pace, a key rising past the wire gets its tick at tickMs', async () => {
    const { router, telemetry } = instrumentedRouter();
    // Not watching (nothing proven yet), whatever the rules make of the key:
    // the pace is the timer's answer to the wire alone.
    const detector = new Steered();
    const seen = snapshotsOf(detector);
    const monitor = new Monitor({ ...settings, router, telemetry, detector, quietTickMs: 200 });
    let k = 0;
    let hot = false;
    // 2,000 requests/s: cold keys, or one key (above keyRateFloor.clear / 2 = 375/s).
    trafficEvery5ms(router, 10, () => (hot ? 'celebrity' : `k${k++}`));
    monitor.start();
    cleanups.push(() => monitor.stop());
    await sleep(800);
    const cold = seen.length;
    hot = true;
    await sleep(800);
    const tripped = seen.length - cold;
    // 800 ms: 4 quiet ticks, or up to 40 at tickMs; a second's first 250 ms
    // need more samples, and a loaded machine fires timers late.
    expect(cold).toBeLessThanOrEqual(8);
    expect(tripped).toBeGreaterThanOrEqual(15);
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
