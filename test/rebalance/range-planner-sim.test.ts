/**
 * The range planner in a long simulated run, with the real parts around it:
 * the detector raises hot ranges and hot nodes from per-shard loads, the
 * split sampler is fed requests drawn from the load, and every proposal is
 * applied (a move takes one tick). A hot region wanders over the keyspace
 * every 20 minutes for 3 hours, then 3 calm hours. Checked independently of the planner's own
 * memory: no range moves back onto a node it (or the range it was split
 * from) left within the hour, no merge of a range split within the hour,
 * never more than one move at a time nor 12 in an hour — and the plan works:
 * splits and moves happen, and the hottest node ends each hot phase within
 * the headroom.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { Detector } from '../../src/detect/detector.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { RangePlanner } from '../../src/rebalance/range-planner.js';
import { SplitSampler } from '../../src/rebalance/split-sampler.js';
import { mulberry32 } from '../seeded-random.js';
import { snapshotOf, TableDriver } from './world.js';

const hash = hashPartitioner();
const KEYS = 20_000;
const TICK_MS = 5_000;
const PHASE_MS = 20 * 60_000;
const HOUR = 3_600_000;

/** Keys sorted by hash position, with their positions. */
function keyspace(): { keys: Buffer[]; pos: Float64Array } {
  const all = Array.from({ length: KEYS }, (_, i) => {
    const key = Buffer.from(`k:${i}`);
    return { key, pos: hash.position(key) as number };
  }).sort((a, b) => a.pos - b.pos);
  return { keys: all.map((k) => k.key), pos: Float64Array.from(all, (k) => k.pos) };
}

/** First index whose value is >= x. */
function lowerBound(a: Float64Array, x: number, lo = 0, hi = a.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Three nodes always have one the hot range has not just left: every hot phase ends relieved.
 * Two nodes often do not (the hysteresis forbids the way back): in this run one hot phase ends
 * at 0.87, with the planner saying no node can take it. Two nodes' ranges end up side by side
 * on one node more often, so they merge.
 */
const worlds = [
  { nodes: ['n0', 'n1', 'n2'].map(nodeId), capacity: 12_000, seed: 42, relieved: 6, minMerges: 0 },
  { nodes: ['n0', 'n1'].map(nodeId), capacity: 16_000, seed: 43, relieved: 5, minMerges: 1 },
];

describe.each(worlds)(
  'range planner simulation',
  ({ nodes: NODES, capacity: CAPACITY, seed, relieved, minMerges }) => {
    it(`range planner - ${NODES.length} nodes, 6 hours of a wandering hot range, then calm: no ping-pong, budgets kept, hot phases end within headroom, cold ranges merge`, () => {
      const random = mulberry32(seed);
      const { keys, pos } = keyspace();
      const clock = new ManualClock(1_700_000_000_000);
      const start = clock.now();
      const driver = new TableDriver(RoutingTable.create({ partitioner: hash, nodes: NODES, shards: 6 }));
      const detector = new Detector();
      const sampler = new SplitSampler({ clock, random: mulberry32(7) });
      sampler.setTable(driver.table);
      let loads = new Map<string, number>();
      const planner = new RangePlanner({
        clock,
        table: () => driver.table,
        hotspots: () => detector.active(),
        snapshot: () => snapshotOf(driver.table, loads, clock.now(), CAPACITY),
        splitPoint: (shard, criteria) => sampler.decide(shard, criteria),
        nodeCapacity: () => CAPACITY,
      });

      // Independent bookkeeping of what happened.
      const leftAt = new Map<string, Map<string, number>>();
      const splitAt = new Map<string, number>();
      const moveTimes: number[] = [];
      let splits = 0;
      let merges = 0;
      /** Per hot phase, the hottest node's utilization at its end, and whether the planner said no node could take more. */
      const endOfPhase: { u: number; noTarget: boolean }[] = [];

      let rates = new Float64Array(KEYS);
      let prefix = new Float64Array(KEYS + 1);
      const hot = (n: number): boolean => n < 9 && n % 3 !== 2;
      const phase = (n: number): void => {
        rates = new Float64Array(KEYS).fill(0.5); // 10,000 ops/s spread evenly
        // For 3 hours two phases in three have a hot region: 1/24 of the keyspace takes 9,000 ops/s more.
        if (hot(n)) {
          const from = Math.floor(random() * 2 ** 32 * (23 / 24));
          const lo = lowerBound(pos, from);
          const hi = lowerBound(pos, from + 2 ** 32 / 24);
          for (let i = lo; i < hi; i++) rates[i] = rates[i]! + 9000 / (hi - lo);
        }
        prefix = new Float64Array(KEYS + 1);
        for (let i = 0; i < KEYS; i++) prefix[i + 1] = prefix[i]! + rates[i]!;
      };
      const span = (t: RoutingTable, id: string): [number, number] => {
        const s = t.shards.find((x) => x.id === id)!;
        return [lowerBound(pos, s.start as number), s.end === null ? KEYS : lowerBound(pos, s.end as number)];
      };
      const maxUtil = (): number =>
        Math.max(
          ...driver.table
            .nodes()
            .map((n) => driver.table.shardsOn(n).reduce((a, s) => a + (loads.get(s.id) ?? 0), 0) / CAPACITY),
        );

      let currentPhase = -1;
      let sampled = driver.table;
      let lastPlanNoTarget = false;
      for (let now = start; now < start + 6 * HOUR; now += TICK_MS) {
        clock.advance(now - clock.now());
        const n = Math.floor((now - start) / PHASE_MS);
        if (n !== currentPhase) {
          if (currentPhase >= 0 && hot(currentPhase))
            endOfPhase.push({ u: maxUtil(), noTarget: lastPlanNoTarget });
          currentPhase = n;
          phase(n);
        }
        // Moves started last tick finish now.
        const before = driver.table;
        driver.finishMoves();
        for (const s of driver.table.shards) {
          const was = before.shard(s.id);
          if (was !== undefined && was.node !== s.node) {
            const left = leftAt.get(s.id) ?? new Map<string, number>();
            left.set(was.node, now);
            leftAt.set(s.id, left);
          }
        }
        if (driver.table !== sampled) {
          sampler.setTable(driver.table);
          sampled = driver.table;
        }
        loads = new Map(
          driver.table.shards.map((s) => {
            const [lo, hi] = span(driver.table, s.id);
            return [s.id, prefix[hi]! - prefix[lo]!];
          }),
        );
        // What the router would have recorded for watched shards in the last tick.
        const watching = sampler.watching;
        if (watching !== null) {
          driver.table.shards.forEach((s, index) => {
            const w = watching[index];
            if (w === undefined) return;
            const [lo, hi] = span(driver.table, s.id);
            for (let r = 0; r < 300; r++) {
              const u = prefix[lo]! + random() * (prefix[hi]! - prefix[lo]!);
              const i = Math.min(hi - 1, Math.max(lo, lowerBound(prefix, u) - 1));
              sampler.recordKey(w, keys[i]!);
            }
          });
        }
        detector.tick(snapshotOf(driver.table, loads, now, CAPACITY));
        const plan = planner.tick();
        sampler.watchOnly(plan.watch);
        sampler.tick();

        for (const p of plan.proposals) {
          if (p.kind === 'move') {
            const left = leftAt.get(p.shard);
            const t = left?.get(p.target!);
            expect(
              t === undefined || t <= now - HOUR,
              `${p.shard} back to ${p.target} at ${now - start}`,
            ).toBe(true);
            moveTimes.push(now);
          } else if (p.kind === 'merge') {
            for (const id of [p.shard, p.with!])
              expect((splitAt.get(id) ?? -Infinity) <= now - HOUR, `merge of ${id} split recently`).toBe(
                true,
              );
            merges++;
          } else {
            splits++;
            splitAt.set(p.shard, now);
            splitAt.set(p.newShard!, now);
            // The new half's keys were where the parent's were: it inherits where it must not return to.
            leftAt.set(p.newShard!, new Map(leftAt.get(p.shard) ?? []));
          }
        }
        lastPlanNoTarget = plan.deferred.some((d) => d.code === 'no-target');
        driver.apply(plan.proposals);
        expect(driver.table.shards.filter((s) => s.status === 'moving').length).toBeLessThanOrEqual(1);
        expect(moveTimes.filter((t) => t > now - HOUR).length).toBeLessThanOrEqual(12);
      }
      // The plan did something, and it worked: every hot phase ends within the headroom, or (where
      // the hysteresis leaves no node to move to) the planner says so.
      expect(splits).toBeGreaterThan(0);
      expect(moveTimes.length).toBeGreaterThan(0);
      expect(endOfPhase).toHaveLength(6);
      for (const { u, noTarget } of endOfPhase)
        expect(u <= 0.8 || noTarget, `max utilization ${u}`).toBe(true);
      expect(endOfPhase.filter(({ u }) => u <= 0.8).length).toBeGreaterThanOrEqual(relieved);
      expect(merges).toBeGreaterThanOrEqual(minMerges);
    });
  },
);
