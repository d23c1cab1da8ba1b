/**
 * The range/node planner over synthetic loads: a hot range is split at its
 * load-based point and its hotter half moved; a hot node is drained of its
 * hottest ranges within budget and headroom; a one-key hot shard is refused
 * with the reason; cold neighbours merge, but not right after a split.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { Hotspot } from '../../src/detect/hotspot.js';
import { nodeId, shardId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { RangePlanner } from '../../src/rebalance/range-planner.js';
import type { RangePlannerSettings, RebalanceEvent } from '../../src/rebalance/range-planner-io.js';
import { SplitFinder, type SplitDecision } from '../../src/rebalance/split-finder.js';
import { mulberry32 } from '../seeded-random.js';
import { hotspot, snapshotOf, TableDriver } from './world.js';

const hash = hashPartitioner();
const NODES: NodeId[] = ['n0', 'n1', 'n2'].map(nodeId);
const CAPACITY = 10_000;
const s = shardId;

interface Setup {
  clock: ManualClock;
  driver: TableDriver;
  loads: Map<string, number>;
  hot: Hotspot[];
  planner: RangePlanner;
  decisions: Map<string, SplitDecision>;
}

/** Shards s0..s{n-1} round-robin over n0..n2; every shard at `base` ops/s unless set. */
function setup(shards: number, base: number, settings: Partial<RangePlannerSettings> = {}): Setup {
  const clock = new ManualClock();
  const driver = new TableDriver(RoutingTable.create({ partitioner: hash, nodes: NODES, shards }));
  const loads = new Map(driver.table.shards.map((x) => [x.id as string, base]));
  const hot: Hotspot[] = [];
  const decisions = new Map<string, SplitDecision>();
  const planner = new RangePlanner(
    {
      clock,
      table: () => driver.table,
      hotspots: () => hot,
      snapshot: () => snapshotOf(driver.table, loads, clock.now(), CAPACITY),
      splitPoint: (shard) =>
        decisions.get(shard) ?? { ok: false, code: 'too-few-samples', reason: 'none yet', samples: 0 },
      nodeCapacity: () => CAPACITY,
    },
    settings,
  );
  return { clock, driver, loads, hot, planner, decisions };
}

const balanced = (at: number, left: number, right: number): SplitDecision => ({
  ok: true,
  at,
  atText: String(at),
  leftShare: left,
  rightShare: right,
  spanningShare: 1 - left - right,
  samples: 500,
  reason: `split at "${at}" divides the load`,
});

describe('range planner', () => {
  it('range planner - a hot range is split at its load-based point and the hotter half moved to the least-loaded node', () => {
    // n0: s0 (hot, 7,000) + s3 (1,000) = 0.8 of capacity; n1, n2: 2,000 each.
    const w = setup(6, 1000);
    w.loads.set('s0', 7000);
    w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0', rate: 7000 }));
    const at = 2 ** 27;
    w.decisions.set('s0', balanced(at, 0.4, 0.55));
    const plan = w.planner.tick();
    expect(plan.watch).toEqual(['s0']);
    expect(plan.proposals.map((p) => [p.kind, p.shard, p.at ?? p.target, p.after])).toEqual([
      ['split', 's0', String(at), undefined],
      ['move', 's6', 'n1', 0],
    ]);
    const [split, move] = plan.proposals;
    expect(split!.newShard).toBe('s6');
    // The right half takes 55 % + the 5 % spanning: 4,200 of 7,000.
    expect(split!.predicted).toEqual({ metric: 'shardOps', subject: 's6', before: 7000, expected: 4200 });
    expect(move!.predicted).toEqual({
      metric: 'nodeUtilization',
      subject: 'n0',
      before: 0.8,
      expected: 0.38,
    });
    expect(move!.alsoPredicted).toEqual([
      { metric: 'nodeUtilization', subject: 'n1', before: 0.2, expected: 0.62 },
    ]);
    expect(move!.throttle).toEqual({ maxBytesPerSec: 50_000_000 });
    expect(move!.reason).toMatch(
      /the hotter half of splitting s0 at "134217728" \(60 % of its load\): to n1/,
    );
    expect(plan.budget).toEqual({ movesLeftThisHour: 12, movesInFlight: 0 });
    expect(plan.nodes.map((n) => [n.node, n.utilizationBefore, n.utilizationAfter])).toEqual([
      ['n0', 0.8, 0.38],
      ['n1', 0.2, 0.62],
      ['n2', 0.2, 0.2],
    ]);

    // The integrator runs only the split: the move follows on the next tick, with no second split.
    w.driver.table = w.driver.table.split(s('s0'), at, s('s6'));
    w.clock.advance(1000);
    const next = w.planner.tick();
    expect(next.proposals.map((p) => [p.kind, p.shard, p.target])).toEqual([['move', 's6', 'n1']]);
    w.driver.apply(next.proposals);
    w.clock.advance(1000);
    // While it moves, the budget (one at a time) is taken.
    expect(w.planner.tick().budget.movesInFlight).toBe(1);
    w.driver.finishMoves();
    expect(w.driver.table.shard(s('s6'))!.node).toBe('n1');
  });

  it('range planner - a hot node is drained of its hottest ranges, one move at a time, never past the headroom', () => {
    // n0: s0, s3, s6 at 3,600 each = 1.08 of capacity; n1, n2 at 1,500.
    const w = setup(9, 500);
    for (const id of ['s0', 's3', 's6']) w.loads.set(id, 3600);
    w.loads.set('s3', 3700);
    w.hot.push(hotspot('hot-node', 'n0', { node: 'n0', rate: 10_900 }));
    const moves: string[] = [];
    for (let t = 0; t < 6; t++) {
      w.driver.finishMoves();
      const plan = w.planner.tick();
      for (const p of plan.proposals) {
        expect(p.kind).toBe('move');
        expect(p.alsoPredicted[0]!.expected).toBeLessThanOrEqual(0.8);
        moves.push(`${p.shard}->${p.target}`);
      }
      expect(plan.proposals.length).toBeLessThanOrEqual(1);
      if (t === 0) expect(plan.deferred.map((d) => d.code)).toEqual(['budget']);
      w.driver.apply(plan.proposals);
      w.clock.advance(5000);
    }
    // The hottest first, to the least-loaded node, then the next to the other; then n0 is at 0.36 ≤ 0.7: done.
    expect(moves).toEqual(['s3->n1', 's0->n2']);
    const n0 = w.driver.table.shardsOn(nodeId('n0')).reduce((a, x) => a + w.loads.get(x.id)!, 0);
    expect(n0 / CAPACITY).toBeLessThanOrEqual(0.7);
  });

  it('range planner - a shard one key dominates is refused with the reason, and nothing moves', () => {
    const w = setup(6, 1000);
    w.loads.set('s0', 8000);
    w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0' }));
    // A real finder fed with 80 % of requests on one key.
    const finder = new SplitFinder(hash, 0, 2 ** 32 / 6, { random: mulberry32(1) });
    const random = mulberry32(2);
    for (let i = 0; i < 5000; i++) {
      const key = Buffer.from(random() < 0.8 ? 'counter:likes' : `user:${i}`);
      const pos = hash.position(key);
      finder.record(pos, pos, key);
    }
    w.decisions.set('s0', finder.decide());
    const plan = w.planner.tick();
    expect(plan.proposals).toEqual([]);
    expect(plan.deferred).toHaveLength(1);
    expect(plan.deferred[0]).toMatchObject({
      subject: 'shard:s0',
      code: 'dominant-key',
      key: 'counter:likes',
    });
    expect(plan.deferred[0]!.reason).toMatch(
      /^key "counter:likes" \(hash position \d+\) carries \d+ % of the shard's load: split cannot divide it; take a key-level action$/,
    );
  });

  it('range planner - a saturated shard with a hot key is left to the key-level action', () => {
    const w = setup(6, 1000);
    w.loads.set('s0', 9600); // n0 at 1.06
    w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0' }));
    w.hot.push(hotspot('hot-key', 'user:7', { shard: 's0', node: 'n0' }));
    w.decisions.set('s0', balanced(2 ** 27, 0.5, 0.5));
    const plan = w.planner.tick();
    expect(plan.proposals).toEqual([]);
    expect(plan.deferred.map((d) => [d.subject, d.code])).toEqual([['shard:s0', 'key-level-first']]);
    expect(plan.deferred[0]!.reason).toMatch(/saturated and a key-level action is cheaper: hot key "user:7"/);
    // Not saturated: the split goes ahead beside the key-level action.
    w.loads.set('s0', 6500); // n0 at 0.75
    expect(w.planner.tick().proposals.map((p) => p.kind)).toEqual(['split', 'move']);
  });

  it('range planner - no split nor move when no node can take a half; the reason says so', () => {
    const w = setup(3, 7500); // every node at 0.75
    w.loads.set('s0', 9000);
    w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0' }));
    w.decisions.set('s0', balanced(2 ** 28, 0.5, 0.5));
    const plan = w.planner.tick();
    expect(plan.proposals).toEqual([]);
    expect(plan.deferred.map((d) => d.code)).toEqual(['no-target']);
    expect(plan.deferred[0]!.reason).toMatch(
      /splitting s0 at "268435456" would not help: no node can take either half \(4500 or 4500 ops\/s\) within 80 % utilization/,
    );
    // Over its own capacity, the shard is split all the same: each half then has headroom.
    w.driver.table = w.driver.table.withCapacity(s('s0'), 10_000);
    expect(w.planner.tick().proposals.map((p) => [p.kind, p.predicted])).toEqual([
      ['split', { metric: 'shardUtilization', subject: 's3', before: 0.9, expected: 0.45 }],
    ]);
  });

  it('range planner - a range no split divides and no node can take whole has its node relieved of the other shards', () => {
    const w = setup(6, 1500); // n0: s0 + s3; n1: s1 + s4; n2: s2 + s5
    w.loads.set('s0', 6000); // n0 at 0.75; s0 whole would take n1 to 0.9
    w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0' }));
    const appending = (samples: number): SplitDecision => ({
      ok: false,
      code: 'unbalanced',
      reason: 'the load keeps landing after every sampled point',
      samples,
    });
    // Not enough evidence yet to give up on a split.
    w.decisions.set('s0', appending(300));
    expect(w.planner.tick().deferred.map((d) => [d.subject, d.code])).toEqual([['shard:s0', 'sampling']]);
    w.decisions.set('s0', appending(800));
    const plan = w.planner.tick();
    expect(plan.proposals.map((p) => [p.kind, p.shard, p.target])).toEqual([['move', 's3', 'n1']]);
    expect(plan.proposals[0]!.reason).toMatch(
      /cannot split s0 \(the load keeps landing after every sampled point\) and no node can take it whole: moving s3 off n0 to make room for it/,
    );
    expect(plan.nodes.find((n) => n.node === 'n0')!.utilizationAfter).toBe(0.6);
  });

  it('range planner - cold neighbours on one node merge, but not within the hour after a split', () => {
    const w = setup(3, 3000, { minShardsPerNode: 1 });
    // s0 split into s0 + s3, both on n0: cold halves.
    w.planner.tick(); // sees the table before the split
    w.driver.table = w.driver.table.split(s('s0'), 2 ** 30, s('s3'));
    w.loads.set('s0', 100);
    w.loads.set('s3', 100);
    w.planner.tick();
    w.clock.advance(30 * 60_000);
    expect(w.planner.tick().proposals).toEqual([]);
    w.clock.advance(31 * 60_000);
    const plan = w.planner.tick();
    expect(plan.proposals.map((p) => [p.kind, p.shard, p.with])).toEqual([['merge', 's0', 's3']]);
    expect(plan.proposals[0]!.predicted).toEqual({
      metric: 'shardOps',
      subject: 's0',
      before: 100,
      expected: 200,
    });
    w.driver.apply(plan.proposals);
    expect(w.driver.table.shards.map((x) => x.id)).toEqual(['s0', 's1', 's2']);
  });

  it('range planner - after a restart, history keeps the hysteresis: no move back onto a node left within the hour', () => {
    const make = (history: RebalanceEvent[]): { w: Setup; planner: RangePlanner } => {
      const w = setup(6, 1000);
      w.loads.set('s0', 7000);
      w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0' }));
      w.decisions.set('s0', balanced(2 ** 27, 0.4, 0.55));
      const planner = new RangePlanner(
        {
          clock: w.clock,
          table: () => w.driver.table,
          hotspots: () => w.hot,
          snapshot: () => snapshotOf(w.driver.table, w.loads, w.clock.now(), CAPACITY),
          splitPoint: (shard) => w.decisions.get(shard)!,
          nodeCapacity: () => CAPACITY,
        },
        {},
        history,
      );
      return { w, planner };
    };
    // s0 came from n1 twenty minutes ago: its halves go to n2, not back to n1.
    const { w, planner } = make([]);
    const at = w.clock.now() - 20 * 60_000;
    const { planner: restarted } = make([{ kind: 'move', shard: 's0', from: 'n1', to: 'n0', at }]);
    expect(planner.tick().proposals.map((p) => p.target ?? p.kind)).toEqual(['split', 'n1']);
    expect(restarted.tick().proposals.map((p) => p.target ?? p.kind)).toEqual(['split', 'n2']);
    // The move counts against the hour's budget.
    expect(restarted.tick().budget.movesLeftThisHour).toBe(11);
  });

  it('range planner - a hot range is not merged with its cold neighbour; once it cools, they merge', () => {
    const w = setup(4, 2000, { minShardsPerNode: 1 });
    // s0 and s4 (split from s0) on n0, cold by load; s4 still raised as a hot range. Two hours on.
    w.driver.table = w.driver.table.split(s('s0'), 2 ** 29, s('s4'));
    w.loads.set('s0', 50);
    w.loads.set('s4', 50);
    w.clock.advance(2 * 3_600_000);
    w.hot.push(hotspot('hot-range', 's4', { shard: 's4', node: 'n0' }));
    w.decisions.set('s4', { ok: false, code: 'too-few-samples', reason: 'none yet', samples: 0 });
    const plan = w.planner.tick();
    expect(plan.proposals.filter((p) => p.kind === 'merge')).toEqual([]);
    w.hot.length = 0;
    expect(w.planner.tick().proposals.map((p) => [p.kind, p.shard, p.with])).toEqual([['merge', 's0', 's4']]);
  });

  it('range planner - the same inputs give the same plan', () => {
    const a = setup(6, 1000);
    const b = setup(6, 1000);
    for (const w of [a, b]) {
      w.loads.set('s0', 7000);
      w.loads.set('s1', 4000);
      w.hot.push(hotspot('hot-range', 's0', { shard: 's0', node: 'n0' }));
      w.hot.push(hotspot('hot-node', 'n1', { node: 'n1' }));
      w.decisions.set('s0', balanced(2 ** 27, 0.45, 0.55));
    }
    expect(JSON.stringify(a.planner.tick())).toBe(JSON.stringify(b.planner.tick()));
  });

  it('range planner - rejects a target above the maximum utilization', () => {
    expect(() => setup(3, 0, { targetUtilization: 0.9, maxUtilization: 0.8 })).toThrow(
      /targetUtilization \(0.9\) must be > 0 and at most maxUtilization \(0.8\)/,
    );
  });
});
