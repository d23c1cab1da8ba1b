/**
 * The control loop can never take the data plane down: a throw in a detector
 * tick or an event listener is reported (logged, counted in
 * hotshard_control_errors_total) and survived.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { ControlErrors } from '../../src/control/control-errors.js';
import { EventBus, type ControlEvent } from '../../src/control/events.js';
import { Monitor, type Interval } from '../../src/control/monitor.js';
import { Detector } from '../../src/detect/detector.js';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { parseExposition, type Exposition } from './harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A detector whose first `failures` ticks throw. */
class Failing extends Detector {
  calls = 0;
  constructor(readonly failures: number) {
    super();
  }
  override tick(s: TickSnapshot): ReturnType<Detector['tick']> {
    this.calls++;
    if (this.calls <= this.failures) throw new Error(`tick ${this.calls} broke`);
    return super.tick(s);
  }
}

function monitorWith(detector: Detector, onError?: (err: unknown) => void): { fire: () => void } {
  // A request before every firing, so the timer never rests as idle.
  const node = nodeId('n0');
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: [node], shards: 2 });
  const backend = new MemoryBackend({ node });
  cleanups.push(() => backend.close());
  const clock = new ManualClock();
  let fire: () => void = () => {};
  const interval: Interval = (fn) => {
    fire = fn;
    return () => {};
  };
  const router = new Router(table, new Map([[node, backend]]));
  const session = new Session(1, 'test', false, 0);
  const monitor = new Monitor({
    router,
    telemetry: new RouterTelemetry({ clock }),
    detector,
    bus: new EventBus(),
    sloP99Ms: 20,
    tickMs: 100,
    windowSeconds: 1,
    clock,
    interval,
    ...(onError === undefined ? {} : { onError }),
  });
  monitor.start();
  cleanups.push(() => Promise.resolve(monitor.stop()));
  return {
    fire: () => {
      clock.advance(50);
      router.dispatch(session, [Buffer.from('GET'), Buffer.from('k')], undefined, () => {});
      fire();
    },
  };
}

describe('control errors', () => {
  it('control errors - a detector tick that throws is reported and the next tick runs', () => {
    const detector = new Failing(2);
    const errors: unknown[] = [];
    const { fire } = monitorWith(detector, (err) => errors.push(err));
    // The first timed tick is due at the second firing (a full tick); then every tick.
    for (let i = 0; i < 8; i++) fire();
    expect(errors.map((e) => (e as Error).message)).toEqual(['tick 1 broke', 'tick 2 broke']);
    expect(detector.calls).toBeGreaterThan(2);
  });

  it('control errors - without a handler the throw reaches the timer, as before', () => {
    const { fire } = monitorWith(new Failing(1));
    fire();
    expect(() => fire()).toThrow('tick 1 broke');
  });

  it('control errors - a listener that throws is reported with its event; the others still get it', () => {
    const reported: Array<[string, string]> = [];
    const bus = new EventBus(10, (err, e) => reported.push([(err as Error).message, e.type]));
    const got: ControlEvent[] = [];
    bus.subscribe(() => {
      throw new Error('listener broke');
    });
    bus.subscribe((e) => got.push(e));
    bus.publish('hotspot.raised', {});
    expect(reported).toEqual([['listener broke', 'hotspot.raised']]);
    expect(got.map((e) => e.type)).toEqual(['hotspot.raised']);
  });

  it('control errors - counts by stage, and a handler that throws is contained', () => {
    const errors = new ControlErrors();
    errors.record('monitor', new Error('a'));
    errors.record('monitor', new Error('b'));
    errors.record('event-listener', new Error('c'));
    expect([...errors.counts]).toEqual([
      ['monitor', 2],
      ['event-listener', 1],
    ]);
    const bus = new EventBus(10, () => {
      throw new Error('reporter broke');
    });
    bus.subscribe(() => {
      throw new Error('listener broke');
    });
    expect(() => bus.publish('x', {})).not.toThrow();
  });
});

describe('control errors - in a server', () => {
  let t: TestHotshard | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('control errors - a broken /events subscriber shows in hotshard_control_errors_total and requests are served', async () => {
    t = await startTestHotshard({ backend: 'memory' });
    t.hs.events.subscribe(() => {
      throw new Error('subscriber broke');
    });
    t.hs.events.publish('test.event', {});
    t.hs.events.publish('test.event', {});
    const res = await t.hs.http.inject({ method: 'GET', url: '/metrics' });
    const metrics: Exposition = parseExposition(res.body);
    const series = metrics.samples.filter((s) => s.name === 'hotshard_control_errors_total');
    expect(series).toEqual([expect.objectContaining({ labels: { where: 'event-listener' }, value: 2 })]);
    const put = await t.hs.http.inject({ method: 'PUT', url: '/kv/k', payload: 'v' });
    expect(put.statusCode).toBe(200);
  });
});
