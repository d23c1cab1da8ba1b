import { describe, expect, it } from 'vitest';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { PLANNED_REMEDIES, type PlannerSettings } from '../../src/mitigate/planner.js';
import { applies, Bench, hotspot, kindsOf, T0 } from './planner-harness.js';

/** 16 shards of 1,000 ops/s on 4 nodes: the mean shard is 1,000 ops/s, so a warm key needs 50 reads/s. */
function world(): TickSnapshot {
  const entity = (id: string, ops: number) => ({
    id,
    reads: ops * 0.9,
    writes: ops * 0.1,
    bytes: ops * 100,
    errors: 0,
    shed: 0,
    p99Ms: 2,
    queueDepth: 0,
    utilization: null,
  });
  return {
    now: 0,
    windowMs: 1000,
    shards: Array.from({ length: 16 }, (_, i) => ({
      ...entity(`s${i}`, 1000),
      node: `n${Math.floor(i / 4)}`,
      range: ['0', null] as const,
    })),
    nodes: ['n0', 'n1', 'n2', 'n3'].map((n) => entity(n, 4000)),
    tenants: [],
    topKeys: [],
    distinctKeys: 100_000,
    totalKeyOps: 16_000,
    sloP99Ms: 20,
  };
}

type Heavy = { key: string; reads: number };
type Scope = { shard?: string; node?: string };

/** Heavy keys by shard (each on node n<shard / 4>), as telemetry.topKeys + shardFor would give them. */
class Keys {
  byShard = new Map<string, Heavy[]>();
  calls: Scope[] = [];
  heavy = (scope: Scope): Heavy[] => {
    this.calls.push(scope);
    const all = [...this.byShard].flatMap(([s, ks]) => ks.map((k) => ({ ...k, s })));
    return all
      .filter(
        (k) =>
          (scope.shard === undefined || k.s === scope.shard) &&
          (scope.node === undefined || `n${Math.floor(Number(k.s.slice(1)) / 4)}` === scope.node),
      )
      .sort((a, b) => b.reads - a.reads)
      .map(({ key, reads }) => ({ key, reads }));
  };
}

const range = (shard: string, o: Parameters<typeof hotspot>[0] = {}) =>
  hotspot({
    kind: 'hot-range',
    subject: shard,
    shard,
    node: `n${Math.floor(Number(shard.slice(1)) / 4)}`,
    evidence: { rate: 2500, explainedRate: 0, meanShardRate: 1000 },
    ...o,
  });

function bench(settings: Partial<PlannerSettings> = {}) {
  const keys = new Keys();
  const b = new Bench(settings, { heavyKeys: keys.heavy, snapshot: world, measure: () => 0 });
  return { b, keys };
}

describe('planner - warm keys of a read-hot range or node', () => {
  it('planner - a read-hot range gets the cache on its heavy read keys (≥ 5 % of the mean shard), then on the heavy keys elsewhere; never on a strong or do-not-touch key', () => {
    const { b, keys } = bench({ strong: ['acct:*'], doNotTouch: ['session:*'] });
    keys.byShard.set('s5', [
      { key: 'k:1', reads: 900 },
      { key: 'k:2', reads: 300 },
      { key: 'acct:1', reads: 500 },
      { key: 'session:1', reads: 400 },
      { key: 'k:3', reads: 49 },
    ]);
    keys.byShard.set('s9', [
      { key: 'k:elsewhere', reads: 800 },
      { key: 'k:cool', reads: 30 },
    ]);
    b.hot = [range('s5')];
    const out = applies(b.tick());
    // The range's own keys first, then the read skew's head anywhere (so the max does not move to another node).
    expect(out.map((o) => `${o.kind} ${o.subject.name}`)).toEqual([
      'cache k:1',
      'cache k:2',
      'cache k:elsewhere',
    ]);
    expect(out[0]).toMatchObject({
      settings: { ...PLANNED_REMEDIES.cache },
      hotspot: { id: `hot-range:s5@${T0}` },
      rung: 0,
      follows: null,
    });
    expect(out[0]?.reason).toMatch(/"k:1" reads 900\/s in hot range s5.*cache \+ coalescing/);
    expect(keys.calls).toContainEqual({ shard: 's5' });
    expect(keys.calls).toContainEqual({});
  });

  it('planner - a read-hot node gets its heavy keys cached first; a write-hot range gets nothing', () => {
    const { b, keys } = bench();
    keys.byShard.set('s4', [{ key: 'k:a', reads: 200 }]);
    keys.byShard.set('s6', [{ key: 'k:b', reads: 100 }]);
    keys.byShard.set('s9', [{ key: 'k:c', reads: 800 }]);
    b.hot = [range('s9', { heat: 'write-hot' })];
    expect(kindsOf(b.tick())).toEqual([]);
    b.hot = [
      hotspot({ kind: 'hot-node', subject: 'n1', shard: null, node: 'n1', evidence: { rate: 6000 } }),
      range('s9', { heat: 'write-hot' }),
    ];
    expect(kindsOf(b.tick())).toEqual(['cache k:a', 'cache k:b', 'cache k:c']);
  });

  it('planner - a hotspot’s own keys come first, 16 at most; at most 64 warm caches in all; a hot key is left to its own ladder', () => {
    const { b, keys } = bench({ maxActionsPerMinute: 1000 });
    // s5's keys are lighter than s9's: the range's own 16 still come first.
    keys.byShard.set(
      's5',
      Array.from({ length: 20 }, (_, i) => ({ key: `k:${i}`, reads: 100 - i })),
    );
    keys.byShard.set(
      's9',
      Array.from({ length: 60 }, (_, i) => ({ key: `far:${i}`, reads: 1000 - i })),
    );
    b.hot = [hotspot({ subject: 'k:0', shard: 's5', node: 'n1' }), range('s5')];
    const out = kindsOf(b.tick());
    expect(out[0]).toBe('cache k:0');
    expect(out.filter((o) => o === 'cache k:0')).toHaveLength(1);
    // k:0 is the hot key's; the range's 16 are the next heaviest, then the head anywhere up to 64.
    expect(out.slice(1, 17)).toEqual(Array.from({ length: 16 }, (_, i) => `cache k:${i + 1}`));
    expect(out.slice(17)).toEqual(Array.from({ length: 48 }, (_, i) => `cache far:${i}`));
    expect(applies(b.run(20_000))).toEqual([]);
  });

  it('planner - warm keys come after the ladders under the per-minute cap, heaviest first', () => {
    const { b, keys } = bench({ maxActionsPerMinute: 3 });
    keys.byShard.set('s5', [
      { key: 'k:1', reads: 100 },
      { key: 'k:2', reads: 900 },
      { key: 'k:3', reads: 300 },
    ]);
    b.hot = [range('s5'), hotspot({ subject: 'celeb' })];
    expect(kindsOf(b.tick())).toEqual(['cache celeb', 'cache k:2', 'cache k:3']);
  });

  it('planner - a warm key is not asked for twice, stays while its range is hot, and is reverted after the hysteresis once neither its range is hot nor it is heavy', () => {
    const { b, keys } = bench({ hysteresisMs: 30_000 });
    keys.byShard.set('s5', [
      { key: 'k:1', reads: 900 },
      { key: 'k:2', reads: 300 },
    ]);
    b.hot = [range('s5')];
    expect(kindsOf(b.tick())).toEqual(['cache k:1', 'cache k:2']);
    // The range stays hot (our own cache does not change what telemetry counts) and k:2 cools: nothing moves.
    keys.byShard.set('s5', [{ key: 'k:1', reads: 900 }]);
    const held = b.run(60_000);
    expect(applies(held)).toEqual([]);
    expect(held.filter((o) => o.type === 'revert')).toEqual([]);
    // The range clears; k:1 is still among the heaviest keys, k:2 is not.
    b.hot = [];
    expect(kindsOf(b.run(29_750))).toEqual([]);
    const out = b.run(250);
    expect(kindsOf(out)).toEqual(['revert cache k:2']);
    expect(out[0]?.type === 'revert' && out[0].reason).toMatch(/neither hot nor among the heaviest/);
    // k:1 cools too.
    keys.byShard.set('s5', []);
    expect(kindsOf(b.run(29_750))).toEqual([]);
    expect(kindsOf(b.run(250))).toEqual(['revert cache k:1']);
    expect(b.log.live()).toEqual([]);
  });

  it('planner - a key stays while a later range or node hotspot still finds it heavy', () => {
    const { b, keys } = bench({ hysteresisMs: 30_000 });
    keys.byShard.set('s5', [{ key: 'k:1', reads: 900 }]);
    b.hot = [range('s5')];
    expect(kindsOf(b.tick())).toEqual(['cache k:1']);
    // The range's episode ends and the node's begins: k:1 is heavy there too.
    b.hot = [hotspot({ kind: 'hot-node', subject: 'n1', shard: null, node: 'n1', onset: T0 + 10_000 })];
    expect(kindsOf(b.run(60_000).filter((o) => o.type !== 'verdict'))).toEqual([]);
    expect(b.log.live()).toHaveLength(1);
  });
});

describe('planner - a cached hot key that turned write-hot', () => {
  it('planner - keeps its cache while it is still among the heaviest read keys, and loses it once it is not', () => {
    const { b, keys } = bench({ hysteresisMs: 30_000 });
    keys.byShard.set('s3', [{ key: 'celeb', reads: 900 }]);
    b.hot = [hotspot({})];
    expect(kindsOf(b.tick())).toEqual(['cache celeb']);
    b.hot = [hotspot({ heat: 'write-hot' })];
    expect(kindsOf(b.run(60_000)).filter((k) => k.startsWith('revert'))).toEqual([]);
    // Its reads fall under 5 % of the mean shard (50/s) while its writes stay hot.
    keys.byShard.set('s3', [{ key: 'celeb', reads: 40 }]);
    expect(kindsOf(b.run(29_750)).filter((k) => k.startsWith('revert'))).toEqual([]);
    expect(kindsOf(b.run(250)).filter((k) => k.startsWith('revert'))).toEqual(['revert cache celeb']);
  });
});

describe('planner - judging a warm key', () => {
  it('planner - a warm key whose cache cannot be measured while its range stays hot is ineffective, not "no longer hot"', () => {
    // LRANGE on a cached list: the cache serves none of its reads, so it counts no hit and no miss.
    const keys = new Keys();
    keys.byShard.set('s5', [{ key: 'mylist', reads: 900 }]);
    const b = new Bench({}, { heavyKeys: keys.heavy, snapshot: world, measure: () => null });
    b.hot = [range('s5')];
    expect(kindsOf(b.tick())).toEqual(['cache mylist']);
    const verdicts = b.run(60_000).filter((o) => o.type === 'verdict');
    expect(verdicts).toEqual([
      expect.objectContaining({
        outcome: 'ineffective',
        detail: expect.stringMatching(/could not be measured and the subject is still hot/) as unknown,
      }),
    ]);
    // It is not asked for again (no apply-revert loop) while the range stays hot.
    expect(applies(b.run(300_000))).toEqual([]);
  });
});
