import { describe, expect, it } from 'vitest';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { measureDefault, type MeasureContext } from '../../src/mitigate/verify.js';
import { flushMsFor } from '../../src/mitigate/planner.js';
import { applies, Bench, hotspot, kindsOf } from './planner-harness.js';

const IMPACT = ['p99-over-slo'] as const;
/** The onset of a second episode. */
const T1 = 1_700_000_100_000;
/** A snapshot of 4 nodes of `capacity` ops/s, node n0 at `n0Rate` with p99 `n0P99`; tenants with rates and p99s. */
function world(o: {
  n0Rate?: number;
  n0P99?: number;
  capacity?: number | null;
  tenants?: readonly [string, number, number][];
}): TickSnapshot {
  const capacity = o.capacity === undefined ? 20_000 : o.capacity;
  const entity = (id: string, ops: number, p99: number) => ({
    id,
    reads: ops * 0.8,
    writes: ops * 0.2,
    bytes: ops * 100,
    errors: 0,
    shed: 0,
    p99Ms: p99,
    queueDepth: 0,
    utilization: capacity === null ? null : ops / capacity,
  });
  const nodes = ['n0', 'n1', 'n2', 'n3'].map((n) =>
    entity(n, n === 'n0' ? (o.n0Rate ?? 18_000) : 5_000, n === 'n0' ? (o.n0P99 ?? 60) : 4),
  );
  const shards = Array.from({ length: 16 }, (_, i) => ({
    ...entity(`s${i}`, 1000, 4),
    node: `n${Math.floor(i / 4)}`,
    range: ['0', null] as const,
  }));
  return {
    now: 0,
    windowMs: 1000,
    shards,
    nodes,
    tenants: (o.tenants ?? []).map(([id, ops, p99]) => entity(id, ops, p99)),
    topKeys: [],
    distinctKeys: 1000,
    totalKeyOps: 33_000,
    sloP99Ms: 20,
  };
}

describe('planner - the ladder', () => {
  it('planner - a read-hot key gets cache + coalescing on the hot-key signal alone, with its evidence and a prediction', () => {
    const b = new Bench();
    b.hot = [hotspot({ subject: 'celeb' })];
    const [req, ...rest] = b.tick();
    expect(rest).toEqual([]);
    expect(req).toMatchObject({
      type: 'apply',
      kind: 'cache',
      subject: { type: 'key', name: 'celeb' },
      settings: { maxStaleMs: 1000, staleWhileRevalidate: false, coalesce: true },
      hotspot: { id: 'hot-key:celeb@1700000000000', evidence: { rate: 8000, shareOfShard: 0.9 } },
      prediction: { metric: 'keyBackendReadShare', before: 1, expected: 0.2, direction: 'below' },
      rung: 0,
      follows: null,
    });
    expect(req?.type === 'apply' && req.reason).toMatch(
      /"celeb" is read-hot at 8000 ops\/s, 90% of shard s3 .*cache \+ coalescing/,
    );
  });

  it('planner - with p99 over the SLO, the cache is judged by the shard p99 it should bring under the SLO', () => {
    const b = new Bench();
    b.hot = [hotspot({ impact: IMPACT })];
    expect(applies(b.tick())[0]?.prediction).toEqual({
      metric: 'shardP99Ms',
      before: 60,
      expected: 20,
      direction: 'below',
    });
  });

  it('planner - a key matching a strong pattern, or whose policy is strong, gets replicas instead of the cache', () => {
    const b = new Bench(
      { strong: ['balance:*'] },
      { consistencyOf: (k) => (k === 'acct' ? 'strong' : undefined) },
    );
    b.hot = [hotspot({ subject: 'balance:42' }), hotspot({ subject: 'acct' }), hotspot({ subject: 'plain' })];
    const out = applies(b.tick());
    expect(out.map((o) => `${o.kind} ${o.subject.name}`).sort()).toEqual([
      'cache plain',
      'replicate acct',
      'replicate balance:42',
    ]);
    expect(out.find((o) => o.subject.name === 'balance:42')).toMatchObject({ settings: { count: 2 } });
    expect(out.find((o) => o.subject.name === 'balance:42')?.reason).toMatch(/strong pattern "balance:\*"/);
    expect(out.find((o) => o.subject.name === 'acct')?.reason).toMatch(/its policy is strong/);
  });

  it('planner - nothing is asked twice while it is in place, or while the ask is on its way', () => {
    const b = new Bench();
    b.hot = [hotspot({})];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
    // Verification at 5 s comes out effective (default: no status → judged by heat, which stays, so wait).
    const later = b.run(4_000);
    expect(later).toEqual([]);
    expect(b.log.records).toHaveLength(1);
  });

  it('planner - a counter (counters pattern) is aggregated; aggregation ineffective → salted, only because the pattern allows it', () => {
    let writesPerIncrement = 0.5;
    const b = new Bench(
      { counters: ['likes:*'] },
      { measure: (m) => (m === 'backendWritesPerIncrement' ? writesPerIncrement : undefined) },
    );
    b.hot = [hotspot({ subject: 'likes:post-9', heat: 'write-hot' })];
    const [agg] = applies(b.tick());
    // 8,000 increments/s would need 13 ms for 0.01 writes per increment; the flush is capped at 5 ms.
    expect(agg).toMatchObject({ kind: 'aggregate', settings: { flushMs: 5, mode: 'sync' } });
    expect(agg?.reason).toMatch(/matches counters pattern "likes:\*"/);
    // 8,000 increments/s, one INCRBY per 5 ms: 0.025 per increment, twice that allowed.
    expect(agg?.prediction).toEqual({
      metric: 'backendWritesPerIncrement',
      before: 1,
      expected: 0.05,
      direction: 'below',
    });
    expect(b.run(4_750)).toEqual([]);
    const out = b.run(250);
    expect(kindsOf(out)).toEqual(['ineffective aggregate likes:post-9', 'salt likes:post-9']);
    expect(out[0]).toMatchObject({
      measurement: { value: 0.5 },
      detail: 'backendWritesPerIncrement 0.5 > 0.05 predicted',
    });
    expect(applies(out)[0]).toMatchObject({
      follows: agg && b.log.records[0]?.id,
      rung: 1,
      settings: { buckets: 2 },
    });
    writesPerIncrement = 0.01;
  });

  it('planner - a hot counter outside the patterns is never salted: after aggregation it goes to throttling, and only with impact', () => {
    const b = new Bench(
      { counters: ['likes:*'] },
      {
        measure: (m) => (m === 'backendWritesPerIncrement' ? 0.5 : undefined),
        status: () => ({ increments: 40_000 }),
      },
    );
    b.hot = [hotspot({ subject: 'order:id', heat: 'write-hot' })];
    expect(kindsOf(b.tick())).toEqual(['aggregate order:id']);
    expect(applies(b.tick())).toEqual([]);
    expect(b.history[0]?.[0]).toMatchObject({ reason: expect.stringMatching(/probe/) as unknown });
    const out = b.run(5_000);
    expect(kindsOf(out)).toEqual(['ineffective aggregate order:id']);
    expect(b.run(10_000)).toEqual([]);
    // Impact arrives: throttling is the next rung, never salting.
    b.hot = [hotspot({ subject: 'order:id', heat: 'write-hot', impact: IMPACT })];
    const next = b.run(250);
    expect(kindsOf(next)).toEqual(['throttle-key order:id']);
    expect(b.log.records.some((r) => r.kind === 'salt')).toBe(false);
  });

  it('planner - a write-hot key whose aggregation probe sees no increments is no counter: the probe is reverted and the ladder goes on', () => {
    const b = new Bench(
      {},
      { status: (a) => (a.kind === 'aggregate' ? { increments: 0, backendWrites: 0 } : null) },
    );
    b.hot = [hotspot({ subject: 'session:x', heat: 'write-hot' })];
    expect(kindsOf(b.tick())).toEqual(['aggregate session:x']);
    const out = b.run(5_000);
    expect(kindsOf(out)).toEqual(['ineffective aggregate session:x', 'revert aggregate session:x']);
    expect(out[0]).toMatchObject({ detail: expect.stringMatching(/no counter/) as unknown });
    // No impact: nothing more; with impact: straight to the throttle, no new probe.
    expect(b.run(5_000)).toEqual([]);
    b.hot = [hotspot({ subject: 'session:x', heat: 'write-hot', impact: ['near-capacity'] })];
    expect(kindsOf(b.run(250))).toEqual(['throttle-key session:x']);
  });

  it('planner - a write-hot key that is no counter (by its command mix) is throttled only with impact (severity warning or worse)', () => {
    const snap = world({ n0Rate: 18_000, capacity: 20_000 });
    const b = new Bench({}, { commandMix: () => ({ increments: 0, writes: 8000 }), snapshot: () => snap });
    b.hot = [hotspot({ subject: 'doc:1', heat: 'write-hot' })];
    expect(b.run(2_000)).toEqual([]);
    b.hot = [hotspot({ subject: 'doc:1', heat: 'write-hot', impact: IMPACT, severity: 'warning' })];
    const [req] = applies(b.tick());
    // n0 at 18,000 of 20,000 ops/s; target 70 % = 14,000; the others use 10,000 → 4,000 left for the key.
    expect(req).toMatchObject({ kind: 'throttle-key', settings: { opsPerSec: 4000, burst: 400 } });
    expect(req?.reason).toMatch(
      /throttle to 4000 ops\/s, what node n0 has left below 70% of capacity 20000 ops\/s after its other 10000 ops\/s/,
    );
    expect(req?.prediction).toEqual({ metric: 'nodeP99Ms', before: 60, expected: 20, direction: 'below' });
  });

  it('planner - a refusing rung waits until the impact has lasted impactHoldMs at every tick: one stall’s second over the SLO throttles nothing', () => {
    const snap = world({ n0Rate: 10_000, capacity: null });
    const b = new Bench(
      { impactHoldMs: 1_500 },
      { commandMix: () => ({ increments: 0, writes: 1 }), snapshot: () => snap },
    );
    const calm = hotspot({ subject: 'myzset', heat: 'write-hot' });
    const hurt = hotspot({ subject: 'myzset', heat: 'write-hot', impact: IMPACT, severity: 'critical' });
    b.hot = [calm];
    expect(b.run(1_000)).toEqual([]);
    // A stall: p99 over the SLO for 1.25 s (the 1-s window and then some), then gone.
    b.hot = [hurt];
    expect(b.run(1_250)).toEqual([]);
    b.hot = [calm];
    expect(b.run(1_000)).toEqual([]);
    // Back, and it lasts: the clock starts again at the first tick that sees it, and 1.5 s on the throttle is asked for.
    b.hot = [hurt];
    expect(b.run(1_500)).toEqual([]);
    expect(kindsOf(b.run(250))).toEqual(['throttle-key myzset']);
  });

  it('planner - a key that is all its node’s load is not throttled, however long the impact: there is no one to protect', () => {
    // n0 serves 8,000 ops/s, all of them the key's (its clients' own queue).
    const snap = world({ n0Rate: 8_000, capacity: null });
    const b = new Bench({}, { commandMix: () => ({ increments: 0, writes: 1 }), snapshot: () => snap });
    b.hot = [hotspot({ subject: 'mylist', heat: 'write-hot', impact: IMPACT, severity: 'critical' })];
    expect(b.run(10_000)).toEqual([]);
    // The same key with 2,000 ops/s of others on its node: throttled.
    const shared = world({ n0Rate: 10_000, capacity: null });
    const c = new Bench({}, { commandMix: () => ({ increments: 0, writes: 1 }), snapshot: () => shared });
    c.hot = b.hot;
    expect(kindsOf(c.tick())).toEqual(['throttle-key mylist']);
  });

  it('planner - a throttle with capacity unknown takes the node’s present rate as its capacity, and never less than a shard’s share', () => {
    const snap = world({ n0Rate: 10_000, capacity: null });
    const b = new Bench({}, { commandMix: () => ({ increments: 0, writes: 1 }), snapshot: () => snap });
    b.hot = [hotspot({ subject: 'doc:1', heat: 'write-hot', impact: IMPACT, evidence: { rate: 9_500 } })];
    const [req] = applies(b.tick());
    // 70 % of 10,000 = 7,000 with 500 others → 6,500 left.
    expect(req).toMatchObject({ kind: 'throttle-key', settings: { opsPerSec: 6500 } });
    expect(req?.reason).toMatch(/present 10000 ops\/s standing in for an unknown capacity/);
  });

  it('planner - with capacity unknown, a node slowed by a stall lends the throttle its peak second of the last minute, not its depressed present rate', () => {
    const base = world({ n0Rate: 4_000, capacity: null });
    // n0 served 10,000 ops/s a few seconds ago; a stall has it at 4,000 now.
    const snap: TickSnapshot = {
      ...base,
      nodes: base.nodes.map((n) => (n.id === 'n0' ? { ...n, peakOps: 10_000 } : n)),
    };
    const b = new Bench({}, { commandMix: () => ({ increments: 0, writes: 1 }), snapshot: () => snap });
    b.hot = [hotspot({ subject: 'doc:1', heat: 'write-hot', impact: IMPACT, evidence: { rate: 3_500 } })];
    const [req] = applies(b.tick());
    // 70 % of the peak 10,000 = 7,000 with 500 others → 6,500 left (the present 4,000 would give 2,300).
    expect(req).toMatchObject({ kind: 'throttle-key', settings: { opsPerSec: 6500 } });
    expect(req?.reason).toMatch(/peak 10000 ops\/s of the last minute standing in for an unknown capacity/);
  });

  it('planner - a noisy tenant gets a quota at its max-min fair share, only with impact; judged by the other tenants’ p99', () => {
    const snap = world({
      capacity: null,
      tenants: [
        ['flood', 14_000, 70],
        ['a', 2_000, 45],
        ['b', 2_000, 30],
        ['c', 2_000, 25],
      ],
    });
    const b = new Bench({}, { snapshot: () => snap });
    const tenant = (impact: readonly ('p99-over-slo' | 'near-capacity')[]) =>
      hotspot({
        kind: 'noisy-tenant',
        subject: 'flood',
        impact,
        evidence: { rate: 14_000, totalRate: 20_000, tenants: 4 },
      });
    b.hot = [tenant([])];
    expect(b.run(1_000)).toEqual([]);
    b.hot = [tenant(IMPACT)];
    const [req] = applies(b.tick());
    // Capacity unknown: 70 % of the tenants' present 20,000 ops/s = 14,000; the others ask 6,000 → 8,000 for flood.
    expect(req).toMatchObject({
      kind: 'quota-tenant',
      subject: { type: 'tenant', name: 'flood' },
      settings: { opsPerSec: 8000, burst: 800 },
    });
    expect(req?.prediction).toEqual({
      metric: 'otherTenantsP99Ms',
      before: 45,
      expected: 20,
      direction: 'below',
    });
    expect(req?.reason).toMatch(
      /max-min fair share of 70% of the present 20000 ops\/s standing in for an unknown capacity among 4 tenants/,
    );
  });

  it('planner - SLO breach with nothing cheaper left: cache → throttle-key → shed on the node, lowest-priority tier first, then the next', () => {
    let p99 = 60;
    const snap = (): TickSnapshot =>
      world({
        n0P99: p99,
        tenants: [
          ['gold', 5000, 60],
          ['free', 5000, 60],
          ['basic', 8000, 60],
        ],
      });
    const priorities: Record<string, number> = { gold: 10, basic: 1, free: 0 };
    const b = new Bench(
      {},
      {
        snapshot: snap,
        tenantPriority: (t) => priorities[t] ?? 0,
        measure: (m, c: MeasureContext) =>
          m === 'shardP99Ms' || m === 'nodeP99Ms' ? (c.snapshot?.nodes[0]?.p99Ms ?? null) : undefined,
      },
    );
    b.hot = [hotspot({ subject: 'celeb', impact: IMPACT, severity: 'critical' })];
    const steps: string[] = [];
    for (let i = 0; i < 100; i++) steps.push(...kindsOf(b.run(250)));
    expect(steps).toEqual([
      'cache celeb',
      'ineffective cache celeb',
      'throttle-key celeb',
      'ineffective throttle-key celeb',
      'shed n0',
      'ineffective shed n0',
      'shed n0',
      'ineffective shed n0',
    ]);
    // Shedding refuses the lowest priority tier first, then the next; never the top one.
    const sheds = b.log.records.filter((r) => r.kind === 'shed');
    expect(sheds.map((r) => r.settings)).toEqual([{ belowPriority: 1 }, { belowPriority: 2 }]);
    expect(sheds[0]?.subject).toEqual({ type: 'node', name: 'n0' });
    expect(sheds[0]?.reason).toMatch(
      /refuse tenants below priority 1 \(free\).*throttle-key \(a-2\) was ineffective/,
    );
    expect(
      applies(b.history.flat()).find((o) => o.kind === 'shed' && o.settings.belowPriority === 2)?.follows,
    ).toBe(sheds[0]?.id);
    p99 = 5;
  });

  it('planner - an action that meets its prediction while the impact is gone ends the climb', () => {
    const b = new Bench({}, { measure: () => 10 });
    b.hot = [hotspot({ impact: IMPACT })];
    b.tick();
    b.hot = [hotspot({})];
    const out = b.run(30_000);
    expect(kindsOf(out)).toEqual(['effective cache celeb']);
    expect(b.log.records[0]).toMatchObject({ outcome: 'effective', measurement: { value: 10 } });
  });

  it('planner - an effective action whose subject keeps its impact is followed by the next rung', () => {
    const b = new Bench({}, { measure: () => 0.05 });
    b.hot = [hotspot({ impact: ['p99-over-slo'] })];
    b.tick();
    expect(kindsOf(b.run(5_000))).toEqual(['effective cache celeb', 'throttle-key celeb']);
  });

  it('planner - an effective cache is not followed by a throttle for near-capacity or a rising queue alone (both count the demand the cache serves)', () => {
    const b = new Bench({}, { measure: () => 0.05 });
    b.hot = [hotspot({ impact: ['near-capacity', 'queue-rising'] })];
    b.tick();
    expect(kindsOf(b.run(5_000))).toEqual(['effective cache celeb']);
    expect(kindsOf(b.run(30_000))).toEqual([]);
  });
});

describe('planner - aggregation settings', () => {
  it('planner - a counter is flushed often enough for 0.01 backend writes per increment, between 2 and 5 ms', () => {
    expect([1_000, 8_000, 20_000, 30_000, 50_000, 200_000, 0].map(flushMsFor)).toEqual([5, 5, 5, 4, 2, 2, 5]);
  });
});

describe('planner - what the executor can do', () => {
  it('planner - a rung whose kind the executor lacks is skipped: a counter without aggregation or salting goes to throttling', () => {
    const b = new Bench(
      { counters: ['likes:*'] },
      { kinds: () => ['cache', 'throttle-key', 'quota-tenant', 'shed'] },
    );
    b.hot = [hotspot({ subject: 'likes:1', heat: 'write-hot' })];
    expect(b.run(2_000)).toEqual([]);
    b.hot = [hotspot({ subject: 'likes:1', heat: 'write-hot', impact: IMPACT })];
    expect(kindsOf(b.tick())).toEqual(['throttle-key likes:1']);
  });
});

describe('planner - stability', () => {
  it('planner - an action is reverted once its subject has been cold for the hysteresis, not before; then a new episode starts over', () => {
    const b = new Bench({ hysteresisMs: 30_000 }, { measure: () => 0 });
    b.hot = [hotspot({})];
    b.tick();
    b.run(10_000);
    b.hot = [];
    const cold = b.run(29_750);
    expect(kindsOf(cold)).toEqual([]);
    const out = b.run(250);
    expect(out).toEqual([
      expect.objectContaining({
        type: 'revert',
        actionId: 'a-1',
        kind: 'cache',
        reason: expect.stringMatching(/no hotspot for 30 s/) as unknown,
      }),
    ]);
    expect(b.log.live()).toEqual([]);
    expect(b.run(5_000)).toEqual([]);
    b.hot = [hotspot({ onset: T1 })];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
  });

  it('planner - a cache on a key that turned write-hot is reverted once the key has not been read-hot for the hysteresis, though it stays hot', () => {
    const b = new Bench({ hysteresisMs: 30_000 }, { measure: () => 0 });
    b.hot = [hotspot({})];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
    b.run(5_000);
    // The same episode, now mostly writes (the detector updates the hotspot's heat in place).
    b.hot = [hotspot({ heat: 'write-hot' })];
    const writeHot = b.run(29_750);
    expect(kindsOf(writeHot).filter((k) => k.startsWith('revert cache'))).toEqual([]);
    // The write ladder goes on meanwhile: the aggregation probe, on the hot-key signal alone.
    expect(kindsOf(writeHot)).toContain('aggregate celeb');
    const out = b.run(250).filter((o) => o.type === 'revert');
    expect(out).toEqual([
      expect.objectContaining({
        kind: 'cache',
        subject: { type: 'key', name: 'celeb' },
        reason: expect.stringMatching(
          /hot only as write-hot, which cache does not relieve, for 30 s/,
        ) as unknown,
      }),
    ]);
    expect(b.log.live().map((r) => r.kind)).not.toContain('cache');
  });

  it('planner - an aggregation on a counter that turned read-hot is reverted the same way; a cache taken then stays', () => {
    const b = new Bench({ hysteresisMs: 30_000, counters: ['likes:*'] }, { measure: () => 0 });
    b.hot = [hotspot({ subject: 'likes:1', heat: 'write-hot' })];
    expect(kindsOf(b.tick())).toEqual(['aggregate likes:1']);
    b.hot = [hotspot({ subject: 'likes:1' })];
    const reads = b.run(30_000);
    expect(kindsOf(reads).filter((k) => k.startsWith('revert') || k.startsWith('cache'))).toEqual([
      'cache likes:1',
      'revert aggregate likes:1',
    ]);
    expect(b.log.live().map((r) => r.kind)).toEqual(['cache']);
  });

  it('planner - a subject that warms up again within the hysteresis keeps its action', () => {
    const b = new Bench({ hysteresisMs: 30_000 }, { measure: () => 0 });
    b.hot = [hotspot({})];
    b.tick();
    b.hot = [];
    b.run(20_000);
    b.hot = [hotspot({ onset: T1 })];
    b.run(1_000);
    b.hot = [];
    expect(kindsOf(b.run(29_000))).toEqual([]);
    expect(kindsOf(b.run(1_000))).toEqual(['revert cache celeb']);
  });

  it('planner - a refused request (frozen executor) is asked again only after the cooldown, and the ladder does not climb past it', () => {
    const b = new Bench({ cooldownMs: 10_000 });
    b.log.mode = 'frozen';
    b.hot = [hotspot({ impact: IMPACT, severity: 'critical' })];
    b.tick();
    expect(b.run(9_750)).toEqual([]);
    expect(kindsOf(b.run(250))).toEqual(['cache celeb']);
    expect(b.log.records.every((r) => r.kind === 'cache')).toBe(true);
  });

  it('planner - a dry-run recommendation is not repeated while its hotspot lasts, and is made again for the next episode', () => {
    const b = new Bench();
    b.log.mode = 'dry-run';
    b.hot = [hotspot({})];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
    expect(b.run(60_000)).toEqual([]);
    b.hot = [hotspot({ onset: T1 })];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
  });

  it('planner - do-not-touch subjects and subjects an operator acts on are left alone', () => {
    const b = new Bench({ doNotTouch: ['config:*', 'vip'] });
    b.log.operator({
      kind: 'throttle-key',
      subject: { type: 'key', name: 'mine' },
      settings: {},
      reason: 'by hand',
    });
    b.hot = [
      hotspot({ subject: 'config:flags' }),
      hotspot({ kind: 'noisy-tenant', subject: 'vip', impact: IMPACT }),
      hotspot({ subject: 'mine' }),
      hotspot({ subject: 'other' }),
    ];
    expect(kindsOf(b.tick())).toEqual(['cache other']);
    b.hot = [];
    expect(kindsOf(b.run(60_000))).toEqual(['effective cache other', 'revert cache other']);
  });

  it('planner - at most maxActionsPerMinute actions are asked for, the worst hotspots first', () => {
    const b = new Bench({ maxActionsPerMinute: 2 }, { measure: () => 0 });
    b.hot = [
      hotspot({ subject: 'k1', evidence: { rate: 5000 } }),
      hotspot({ subject: 'k2', evidence: { rate: 3000 } }),
      hotspot({ subject: 'k3', evidence: { rate: 2000 }, severity: 'warning' }),
    ];
    expect(kindsOf(b.tick())).toEqual(['cache k3', 'cache k1']);
    expect(b.run(59_750)).toEqual(expect.not.arrayContaining([expect.objectContaining({ type: 'apply' })]));
    expect(kindsOf(applies(b.run(250)))).toEqual(['cache k2']);
  });

  it('planner - an unmeasurable action is judged after three delays: effective if the heat is gone, else ineffective', () => {
    const b = new Bench();
    b.hot = [hotspot({})];
    b.tick();
    expect(b.run(14_750)).toEqual([]);
    expect(b.run(250)).toEqual([
      expect.objectContaining({
        type: 'verdict',
        outcome: 'ineffective',
        detail: expect.stringMatching(/could not be measured/) as unknown,
      }),
    ]);
    const c = new Bench();
    c.hot = [hotspot({})];
    c.tick();
    c.hot = [];
    expect(kindsOf(c.run(5_000))).toEqual(['effective cache celeb']);
  });

  it('planner - a throwing input reaches the caller and the next tick decides as if the failed one had not happened', () => {
    let fail = true;
    const b = new Bench(
      {},
      {
        snapshot: () => {
          if (fail) throw new Error('telemetry gone');
          return undefined;
        },
      },
    );
    b.hot = [hotspot({})];
    expect(() => b.planner.tick()).toThrow('telemetry gone');
    fail = false;
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
  });
});

describe('planner - measurements', () => {
  const ctx = (status: Record<string, unknown> | null, snapshot?: TickSnapshot): MeasureContext => ({
    action: { subject: { type: 'tenant', name: 'flood' } } as MeasureContext['action'],
    hotspot: null,
    shard: 's1',
    node: 'n0',
    snapshot,
    status,
  });

  it('verify - the defaults read what the remedies report of themselves, and the snapshot', () => {
    // Aggregation (src/mitigate/actions/aggregate.ts status): its own ratio, else writes over increments.
    expect(
      measureDefault(
        'backendWritesPerIncrement',
        ctx({ increments: 1000, backendWrites: 10, writesPerIncrement: 0.01 }),
      ),
    ).toBe(0.01);
    expect(measureDefault('backendWritesPerIncrement', ctx({ increments: 1000, backendWrites: 20 }))).toBe(
      0.02,
    );
    expect(
      measureDefault(
        'backendWritesPerIncrement',
        ctx({ increments: 0, backendWrites: 0, writesPerIncrement: null }),
      ),
    ).toBeNull();
    // The cache: misses over reads. Replicas: the key's own node's share of the reads.
    expect(measureDefault('keyBackendReadShare', ctx({ hits: 990, misses: 10 }))).toBe(0.01);
    expect(
      measureDefault(
        'keyBackendReadShare',
        ctx({ primary: { node: 'n0', reads: 100 }, copies: [{ reads: 150 }, { reads: 150 }] }),
      ),
    ).toBe(0.25);
    expect(measureDefault('keyBackendReadShare', ctx(null))).toBeNull();
    // Latency from the snapshot: the shard's, the node's, the worst of the other tenants with traffic.
    const snap = world({
      n0P99: 33,
      tenants: [
        ['flood', 9000, 90],
        ['a', 100, 12],
        ['b', 100, 17],
        ['idle', 0, 99],
      ],
    });
    expect(measureDefault('shardP99Ms', ctx(null, snap))).toBe(4);
    expect(measureDefault('nodeP99Ms', ctx(null, snap))).toBe(33);
    expect(measureDefault('otherTenantsP99Ms', ctx(null, snap))).toBe(17);
    expect(measureDefault('nodeP99Ms', ctx(null))).toBeNull();
  });
});

describe('planner - what is in force', () => {
  it('planner - an action the executor says is no longer in force (superseded) is neither reverted nor counted as in place', () => {
    const superseded = new Set<string>();
    const b = new Bench({}, { inForce: (a) => !superseded.has(a.id), measure: () => 0 });
    b.hot = [hotspot({})];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
    superseded.add('a-1');
    expect(kindsOf(b.run(500))).toEqual(['cache celeb']);
    b.hot = [];
    expect(kindsOf(b.run(60_000))).toEqual(['effective cache celeb', 'revert cache celeb']);
    expect(b.log.records.filter((r) => r.revertedAt !== null).map((r) => r.id)).toEqual(['a-2']);
  });
});
