/**
 * The incident manager on a manual clock and a real event bus, fed the
 * hotspots, health, tenants and failures a test scripts: when an incident
 * opens, what joins it, what customers read, and when it resolves.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { EventBus, type ControlEvent } from '../../src/control/events.js';
import type { Incident, TenantImpact } from '../../src/control/incident.js';
import { IncidentManager, type ScopeHealth } from '../../src/control/incidents.js';
import type { Hotspot, ImpactSignal } from '../../src/detect/hotspot.js';
import type { ActionRecord } from '../../src/mitigate/action.js';

const SLO = 20;
const START = 1_700_000_000_000;

function hotspot(over: Partial<Hotspot> & { kind: Hotspot['kind']; subject: string }): Hotspot {
  const onset = over.onset ?? START;
  return {
    id: `${over.kind}:${over.subject}@${onset}`,
    shard: null,
    node: null,
    heat: 'read-hot',
    severity: 'warning',
    impact: [],
    evidence: {},
    summary: `${over.kind} ${over.subject} is hot`,
    onset,
    detectedAt: onset + 700,
    clearedAt: null,
    ...over,
  };
}

function action(
  over: Partial<ActionRecord> & { id: string; hotspot: ActionRecord['hotspot'] },
): ActionRecord {
  return {
    kind: 'cache',
    subject: { type: 'key', name: 'celebrity' },
    settings: {},
    by: 'planner',
    reason: 'read-hot key',
    prediction: { metric: 'shardP99Ms', before: 45, expected: SLO, direction: 'below' },
    state: 'pending',
    outcome: 'pending',
    measurement: null,
    detail: null,
    createdAt: START,
    updatedAt: START,
    revertedAt: null,
    progress: null,
    ...over,
  };
}

/** A manager over scripted inputs; `world` is what the inputs answer now. */
function setup(options: { resolveAfterMs?: number } = {}) {
  const clock = new ManualClock(START);
  const bus = new EventBus();
  const world = {
    hotspots: [] as Hotspot[],
    health: { p99Ms: 45, shedPerSec: 0 } as ScopeHealth,
    tenants: [] as TenantImpact[],
    /** Two requests fail in each whole second before this one (epoch seconds), as telemetry's history would say. */
    failingUntil: 0,
    /** What a running long action reports (Executor.progress), by action id. */
    progress: new Map<string, Record<string, unknown>>(),
  };
  const events: ControlEvent[] = [];
  bus.subscribe((e) => {
    if (e.type.startsWith('incident.')) events.push(e);
  });
  const persisted: Incident[] = [];
  const manager = new IncidentManager({
    bus,
    clock,
    sloP99Ms: SLO,
    resolveAfterMs: options.resolveAfterMs ?? 10_000,
    expectedRecoveryMs: 5_000,
    persist: (i) => {
      persisted.push(i);
    },
    inputs: {
      hotspots: () => world.hotspots,
      health: () => world.health,
      tenants: () => world.tenants,
      failures: (_scope, from, to) => 2 * Math.max(0, Math.min(to + 1, world.failingUntil) - from),
      progress: (id) => world.progress.get(id) ?? null,
    },
  });
  return { clock, bus, world, events, manager, persisted };
}

const slow: ImpactSignal[] = ['p99-over-slo'];

/** Lets the manager evaluate what a publish asked for (it waits for the publisher to finish). */
const settle = (): Promise<void> => new Promise((resolve) => queueMicrotask(resolve));

describe('incidents', () => {
  it('incidents - a hotspot that hurts clients opens one incident; skew alone does not', () => {
    const { world, manager, events } = setup();
    world.hotspots = [
      hotspot({ kind: 'hot-key', subject: 'quiet', shard: 's1', node: 'n1', severity: 'info' }),
    ];
    manager.tick();
    expect(manager.open()).toHaveLength(0);
    world.hotspots.push(
      hotspot({ kind: 'hot-key', subject: 'celebrity', shard: 's3', node: 'n0', impact: slow }),
    );
    manager.tick();
    manager.tick();
    expect(manager.open()).toHaveLength(1);
    const inc = manager.open()[0]!;
    expect(inc.state).toBe('investigating');
    expect(inc.scope).toEqual({ keys: ['celebrity'], shards: ['s3'], nodes: ['n0'], tenants: [] });
    expect(inc.slos.find((s) => s.slo === 'latency')).toMatchObject({ status: 'breached', observed: 45 });
    expect(events.map((e) => e.type)).toEqual(['incident.opened']);
  });

  it('incidents - a mitigation underway opens one without impact, and the action is in it with its expected recovery', async () => {
    const { world, manager, bus, clock } = setup();
    const h = hotspot({ kind: 'hot-key', subject: 'celebrity', shard: 's3', node: 'n0', severity: 'info' });
    world.hotspots = [h];
    world.health = { p99Ms: 3, shedPerSec: 0 };
    manager.tick();
    expect(manager.open()).toHaveLength(0);
    clock.advance(100);
    bus.publish(
      'action.pending',
      action({ id: 'a-1', hotspot: { id: h.id, evidence: {} }, createdAt: clock.now() }),
    );
    await settle();
    const inc = manager.open()[0]!;
    expect(inc.actions.map((a) => [a.id, a.state])).toEqual([['a-1', 'pending']]);
    expect(inc.state).toBe('mitigating');
    expect(inc.expectedRecoveryAt).toBe(clock.now() + 5_000);
    expect(inc.customerText).toBe(
      'Increased load on requests to a subset of keys; no customer impact measured; mitigation in progress; expected recovery within 10 s.',
    );
    bus.publish(
      'action.running',
      action({ id: 'a-1', hotspot: { id: h.id, evidence: {} }, state: 'running', updatedAt: clock.now() }),
    );
    bus.publish(
      'action.done',
      action({ id: 'a-1', hotspot: { id: h.id, evidence: {} }, state: 'done', updatedAt: clock.now() }),
    );
    await settle();
    expect(manager.get(inc.id)!.actions[0]!.state).toBe('done');
    expect(
      manager
        .get(inc.id)!
        .timeline.map((e) => e.text)
        .join('\n'),
    ).toMatch(/action a-1 cache on key celebrity: done/);
    // Once it resolves, the same applied action (still unjudged, hotspot still active) opens nothing new.
    clock.advance(10_000);
    manager.tick();
    expect(manager.get(inc.id)!.state).toBe('resolved');
    manager.tick();
    expect(manager.open()).toHaveLength(0);
  });

  it('incidents - a hot key and its hot node join one incident; an unrelated hot node opens another', () => {
    const { world, manager, events } = setup();
    world.hotspots = [
      hotspot({ kind: 'hot-key', subject: 'celebrity', shard: 's3', node: 'n0', impact: slow }),
    ];
    manager.tick();
    world.hotspots.push(hotspot({ kind: 'hot-node', subject: 'n0', node: 'n0', impact: ['queue-rising'] }));
    manager.tick();
    expect(manager.open()).toHaveLength(1);
    expect(manager.open()[0]!.hotspots.map((h) => h.kind)).toEqual(['hot-key', 'hot-node']);
    expect(events.map((e) => e.type)).toEqual(['incident.opened', 'incident.updated']);
    world.hotspots.push(hotspot({ kind: 'hot-node', subject: 'n2', node: 'n2', impact: slow }));
    manager.tick();
    expect(manager.open().map((i) => i.scope.nodes)).toEqual([['n0'], ['n2']]);
  });

  it('incidents - resolves only after the metrics stayed clean for resolveAfterMs, with a summary', async () => {
    const { world, manager, bus, clock, events, persisted } = setup();
    const h = hotspot({ kind: 'hot-key', subject: 'celebrity', shard: 's3', node: 'n0', impact: slow });
    world.hotspots = [h];
    world.failingUntil = START / 1000 + 2;
    clock.advance(800);
    manager.tick();
    const id = manager.open()[0]!.id;
    bus.publish(
      'action.pending',
      action({ id: 'a-7', hotspot: { id: h.id, evidence: {} }, createdAt: clock.now() }),
    );
    bus.publish(
      'action.done',
      action({ id: 'a-7', hotspot: { id: h.id, evidence: {} }, state: 'done', createdAt: clock.now() }),
    );
    await settle();
    // Cached: the hotspot stays (its skew does) but no longer hurts; p99 is back.
    clock.advance(2_000);
    world.hotspots = [{ ...h, impact: [], severity: 'info' }];
    world.health = { p99Ms: 2, shedPerSec: 0 };
    manager.tick();
    expect(manager.get(id)!.state).toBe('monitoring');
    const restoredAt = clock.now();
    // A relapse within the 10 s starts the clean run again.
    clock.advance(6_000);
    world.health = { p99Ms: 30, shedPerSec: 0 };
    manager.tick();
    expect(manager.get(id)!.state).toBe('mitigating');
    expect(manager.get(id)!.restoredAt).toBeNull();
    world.health = { p99Ms: 2, shedPerSec: 0 };
    clock.advance(1_000);
    manager.tick();
    const cleanFrom = clock.now();
    clock.advance(9_999);
    manager.tick();
    expect(manager.get(id)!.state).toBe('monitoring');
    clock.advance(1);
    manager.tick();
    const done = manager.get(id)!;
    expect(done.state).toBe('resolved');
    expect(done.resolvedAt).toBe(clock.now());
    expect(cleanFrom).toBeGreaterThan(restoredAt);
    expect(done.summary).toEqual({
      detectionLatencyMs: 700,
      timeToMitigateMs: 100,
      timeToRestoreMs: cleanFrom - START,
      durationMs: clock.now() - (START + 800),
      actions: [{ id: 'a-7', kind: 'cache', state: 'done', outcome: 'pending' }],
      // Two in each of the two whole seconds from onset until the cache worked.
      failedRequests: 2 * 2,
      peakP99Ms: 45,
    });
    expect(done.customerText).toBe('Resolved: service is operating normally.');

    expect(events.at(-1)!.type).toBe('incident.resolved');
    expect(persisted.at(-1)!.state).toBe('resolved');
    // Final: later ticks change nothing, and a late verdict lands in the record without an event.
    const count = events.length;
    clock.advance(60_000);
    manager.tick();
    bus.publish(
      'action.measured',
      action({ id: 'a-7', hotspot: { id: h.id, evidence: {} }, state: 'done', outcome: 'effective' }),
    );
    await settle();
    expect(events).toHaveLength(count);
    expect(manager.get(id)!.summary!.actions).toEqual([
      { id: 'a-7', kind: 'cache', state: 'done', outcome: 'effective' },
    ]);
    expect(persisted.at(-1)!.actions[0]!.outcome).toBe('effective');
  });

  it('incidents - the customer text names no key, node, shard or tenant, and /status shows only affected tenants', () => {
    const { world, manager, clock } = setup();
    world.hotspots = [
      hotspot({
        kind: 'hot-key',
        subject: 'acme:secret-key',
        shard: 's3',
        node: '10.0.0.7:6379',
        impact: ['shedding', 'p99-over-slo'],
      }),
    ];
    world.health = { p99Ms: 80, shedPerSec: 12 };
    world.tenants = [
      { tenant: 'acme', share: 0.8, requestsPerSec: 900, hotShare: 0.75 },
      { tenant: 'globex', share: 0.05, requestsPerSec: 20, hotShare: 0.01 },
    ];
    manager.tick();
    clock.advance(1000);
    manager.tick();
    const inc = manager.open()[0]!;
    for (const secret of ['acme', 'secret-key', 's3', '10.0.0.7', 'globex', 'hot-key'])
      expect(inc.customerText).not.toContain(secret);
    expect(inc.customerText).toBe(
      'Some requests to a subset of keys are being refused with a retry-after or are failing, and latency is elevated; we are investigating.',
    );
    expect(inc.tenants.map((t) => t.tenant)).toEqual(['acme', 'globex']);
    expect(manager.notices('acme')).toEqual([
      {
        id: inc.id,
        state: 'investigating',
        startedAt: inc.openedAt,
        updatedAt: inc.updatedAt,
        text: inc.customerText,
      },
    ]);
    expect(manager.notices('initech')).toEqual([]);
    expect(manager.notices()).toHaveLength(1);
    expect(Object.keys(manager.notices()[0]!).sort()).toEqual([
      'id',
      'startedAt',
      'state',
      'text',
      'updatedAt',
    ]);
  });

  it('incidents - a tenant keeps each share’s own peak across readings', () => {
    const { world, manager, clock } = setup();
    world.hotspots = [
      hotspot({ kind: 'hot-key', subject: 'k', shard: 's3', node: 'n0', impact: ['p99-over-slo'] }),
    ];
    world.health = { p99Ms: 80, shedPerSec: 0 };
    world.tenants = [{ tenant: 'acme', share: 0.7, requestsPerSec: 900, hotShare: 0.68 }];
    manager.tick();
    // A later reading: more of its requests on the node, fewer on the hot shard.
    world.tenants = [{ tenant: 'acme', share: 0.75, requestsPerSec: 700, hotShare: 0.33 }];
    clock.advance(1000);
    manager.tick();
    expect(manager.open()[0]!.tenants).toEqual([
      { tenant: 'acme', share: 0.75, requestsPerSec: 700, hotShare: 0.68 },
    ]);
    // And the other way round.
    world.tenants = [{ tenant: 'acme', share: 0.5, requestsPerSec: 100, hotShare: 0.9 }];
    clock.advance(1000);
    manager.tick();
    expect(manager.open()[0]!.tenants).toEqual([
      { tenant: 'acme', share: 0.75, requestsPerSec: 700, hotShare: 0.9 },
    ]);
  });

  it('incidents - restore takes kept incidents back, and new ids go on after theirs', () => {
    const a = setup();
    a.world.hotspots = [hotspot({ kind: 'hot-node', subject: 'n1', node: 'n1', impact: slow })];
    a.manager.tick();
    const kept = a.persisted.at(-1)!;
    const b = setup();
    b.manager.restore([{ ...kept, id: 'inc-41' }]);
    expect(b.manager.get('inc-41')?.state).toBe('investigating');
    b.world.hotspots = [hotspot({ kind: 'hot-node', subject: 'n2', node: 'n2', impact: slow })];
    b.manager.tick();
    expect(b.manager.open().map((i) => i.id)).toEqual(['inc-41', 'inc-42']);
    // The restored one has no live hotspot: once its node is clean for 10 s it resolves.
    b.world.health = { p99Ms: 2, shedPerSec: 0 };
    b.world.hotspots = [];
    b.manager.tick();
    b.clock.advance(10_000);
    b.manager.tick();
    expect(b.manager.open()).toHaveLength(0);
  });

  it('incidents - a long action on the hot shard joins by its subject; its phases are updates and its ETA the expected recovery', async () => {
    const { world, manager, bus, clock } = setup();
    world.hotspots = [hotspot({ kind: 'hot-range', subject: 's5', shard: 's5', node: 'n1', impact: slow })];
    manager.tick();
    const id = manager.open()[0]!.id;
    // An operator's move of the shard, as a long operation's record has it (operations.ts:
    // no outcome, hotspot or prediction): the subject says where it belongs.
    const move = {
      id: 'a-9',
      kind: 'move',
      subject: { type: 'shard', name: 's5' },
      state: 'running',
      progress: null,
      settings: { node: 'n2' },
      limits: {},
      by: 'operator',
      reason: null,
      detail: null,
      createdAt: clock.now(),
      updatedAt: clock.now(),
    };
    bus.publish('action.running', move);
    await settle();
    world.progress.set('a-9', { phase: 'copy', keysCopied: 1000, etaSeconds: 40 });
    clock.advance(1000);
    manager.tick();
    expect(manager.get(id)!.expectedRecoveryAt).toBe(clock.now() + 40_000);
    expect(manager.get(id)!.customerText).toMatch(/expected recovery within 1 min\.$/);
    world.progress.set('a-9', { phase: 'copy', keysCopied: 90_000, etaSeconds: 4 });
    clock.advance(1000);
    manager.tick();
    world.progress.set('a-9', { phase: 'cutover', keysCopied: 100_000, etaSeconds: 0 });
    clock.advance(1000);
    manager.tick();
    const texts = manager.get(id)!.timeline.map((e) => e.text);
    expect(texts.filter((t) => t.startsWith('action a-9 move on shard s5: '))).toEqual([
      'action a-9 move on shard s5: running',
      'action a-9 move on shard s5: copy',
      'action a-9 move on shard s5: cutover',
    ]);
    expect(manager.get(id)!.actions[0]!.progress).toMatchObject({ phase: 'cutover', keysCopied: 100_000 });
  });

  it('incidents - an event carries the latest 20 timeline entries; the record keeps them all', () => {
    const { world, manager, clock, events } = setup();
    world.hotspots = [hotspot({ kind: 'hot-node', subject: 'n1', node: 'n1', impact: ['queue-rising'] })];
    for (let i = 0; i < 30; i++) {
      world.health = { p99Ms: i % 2 === 0 ? 45 : 5, shedPerSec: 0 };
      manager.tick();
      clock.advance(250);
    }
    const record = manager.open()[0]!;
    const last = events.at(-1)!.data as Incident;
    expect(record.timeline.length).toBeGreaterThan(20);
    expect(last.timeline).toEqual(record.timeline.slice(-20));
  });

  it('incidents - a p99 flapping around the SLO sends an update at most every 5 s; a new hotspot at once, with what waited', () => {
    const { world, manager, clock, events } = setup();
    world.hotspots = [hotspot({ kind: 'hot-node', subject: 'n1', node: 'n1', impact: ['queue-rising'] })];
    manager.tick();
    const opened = events.length;
    for (let i = 0; i < 40; i++) {
      clock.advance(250);
      world.health = { p99Ms: i % 2 === 0 ? 5 : 45, shedPerSec: 0 };
      manager.tick();
    }
    // 10 s of flapping: two updates, each with every flip since the one before.
    const updates = events.slice(opened);
    expect(updates.map((e) => e.type)).toEqual(['incident.updated', 'incident.updated']);
    expect(updates.map((e) => e.at - START)).toEqual([5000, 10_000]);
    // p99 back under the SLO: that waits ...
    clock.advance(250);
    world.health = { p99Ms: 5, shedPerSec: 0 };
    manager.tick();
    expect(events.length).toBe(opened + 2);
    // ... until a hotspot joins, which goes out at once, with it.
    clock.advance(250);
    world.hotspots.push(
      hotspot({ kind: 'hot-key', subject: 'k', node: 'n1', shard: 's1', impact: ['queue-rising'] }),
    );
    manager.tick();
    const last = events.at(-1)!;
    expect(last.at - START).toBe(10_500);
    const timeline = (last.data as Incident).timeline;
    expect(timeline.at(-1)!.text).toMatch(/^joined by hot-key k/);
    expect(timeline.at(-2)).toEqual({ at: START + 10_250, text: 'latency SLO (p99 ≤ 20 ms): at-risk' });
  });

  it('incidents - a persist hook set after start-up gets every change', () => {
    const { world, manager, clock } = setup();
    const kept: string[] = [];
    manager.persist = (i) => {
      kept.push(`${i.id} ${i.state}`);
    };
    world.hotspots = [hotspot({ kind: 'hot-node', subject: 'n1', node: 'n1', impact: slow })];
    manager.tick();
    world.hotspots = [];
    world.health = { p99Ms: 1, shedPerSec: 0 };
    manager.tick();
    clock.advance(10_000);
    manager.tick();
    expect(kept).toEqual(['inc-1 investigating', 'inc-1 monitoring', 'inc-1 resolved']);
  });

  it('incidents - a failing persist hook is reported, never thrown into the bus', () => {
    const bus = new EventBus();
    const errors: unknown[] = [];
    const manager = new IncidentManager({
      bus,
      clock: new ManualClock(START),
      sloP99Ms: SLO,
      persist: () => Promise.reject(new Error('store down')),
      onError: (err) => errors.push(err),
      inputs: {
        hotspots: () => [hotspot({ kind: 'hot-node', subject: 'n1', node: 'n1', impact: slow })],
        health: () => ({ p99Ms: 50, shedPerSec: 0 }),
      },
    });
    manager.tick();
    expect(manager.open()).toHaveLength(1);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(errors).toHaveLength(1);
        resolve();
      }),
    );
  });
});
