/**
 * The planner for range and node hotspots (DESIGN.md, "Mitigate": hot range →
 * load-based split, then move; hot node → move ranges off), with merges of
 * cold neighbours. Each tick it reads the detector's hotspots, the routing
 * table, per-shard load and the split sampler's points, and returns proposals
 * (`split`, `move`, `merge`) with their predicted effect, plus what it would
 * do but does not and why (budget, hysteresis, a key-level action first):
 * what `GET /proposals` shows, and what the integrator executes.
 *
 *   hot range  split at the load-based point (split-finder.ts), then move the
 *              hotter half to the least-loaded node with headroom; one key
 *              dominating → no split: a key-level action (deferred, naming the key)
 *   hot node   move its shards off, one at a time, the one whose move leaves
 *              the lowest maximum of source and target first
 *   cold pair  adjacent shards on one node carrying little → merge
 *   imbalance  served load max/mean over nodes above balanceMaxOverMean, steady
 *              for balanceSustainMs → move the shard that lowers it most from
 *              the busiest node to the least-loaded one
 *
 * Budgets: concurrent moves, moves per hour; a move never takes its target
 * above `maxUtilization` (seed 000's headroom) nor above what the source had.
 * A saturated shard is not moved while a key-level action exists for it.
 * Hysteresis: no merge of a range split within `splitHysteresisMs`, no move
 * onto a node the range (or the range it was split from) left within
 * `moveHysteresisMs`.
 *
 * Pure apart from its memory of what happened: the clock is injected, inputs
 * are functions, and what happened (splits, moves, merges) is read off the
 * routing table's changes between ticks, so the same inputs give the same
 * plan. After a split the planner proposes, the move of the hotter half
 * follows on the next ticks even when the detector has not yet re-measured
 * the halves (their load is estimated from the split point's shares).
 *
 * Files: settings, inputs and the plan's shape in range-planner-io.ts; what
 * happened (hysteresis, budget, follow-ups) in rebalance-memory.ts; this file
 * is the decisions. Longer than most because the three decisions share one
 * tick's simulated loads and move budget (`View`), so a move chosen for a hot
 * range is seen by the hot-node and merge decisions after it.
 */
import { SEVERITY_RANK, type Hotspot } from '../detect/hotspot.js';
import { nodeId as toNodeId, shardId as toShardId, type NodeId, type ShardId } from '../keyspace/ids.js';
import type { RoutingTable, ShardInfo } from '../keyspace/routing-table.js';
import {
  DEFAULT_RANGE_PLANNER_SETTINGS,
  type Deferral,
  type Proposal,
  type ProposalPrediction,
  type RangePlan,
  type RangePlannerInputs,
  type RangePlannerSettings,
  type RebalanceEvent,
} from './range-planner-io.js';

const HOUR = 3_600_000;
/** The balance goal acts on a steady load only: no node's served rate moved more than this share of the mean within its window. */
const STEADY_SHARE = 0.1;
/** A shard is judged unsplittable only once a candidate has seen this many times `split.minSamples` requests. */
const GIVE_UP_SAMPLES = 5;
import { FOLLOW_UP_MS, RebalanceMemory } from './rebalance-memory.js';

const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const fmt = (x: number): string => String(Math.round(x));
const pct = (x: number): string => `${Math.round(x * 100)} %`;

/** The nodes' served-command counters at one tick, under one table version. */
interface ServedSample {
  readonly at: number;
  readonly version: number;
  readonly counts: ReadonlyMap<string, number>;
}

/** Loads as this tick's plan would leave them (moves proposed are applied as they are chosen). */
class Sim {
  readonly shardOps = new Map<string, number>();
  readonly nodeOps = new Map<string, number>();
  readonly nodeCap = new Map<string, number | null>();
  readonly placement = new Map<string, string>();
  movesLeft = 0;

  ops(shard: string): number {
    return this.shardOps.get(shard) ?? 0;
  }
  load(node: string): number {
    return this.nodeOps.get(node) ?? 0;
  }
  /** Utilization, or ops where capacity is unknown (compared only among nodes alike). */
  level(node: string, extra = 0): number {
    const cap = this.nodeCap.get(node) ?? null;
    const ops = this.load(node) + extra;
    return cap !== null && cap > 0 ? ops / cap : ops;
  }
  move(shard: string, to: string, ops = this.ops(shard)): void {
    const from = this.placement.get(shard);
    if (from !== undefined) this.nodeOps.set(from, this.load(from) - ops);
    this.nodeOps.set(to, this.load(to) + ops);
    this.placement.set(shard, to);
  }
}

/** What one tick works with. */
interface View {
  readonly now: number;
  readonly table: RoutingTable;
  readonly hot: readonly Hotspot[];
  readonly sim: Sim;
  readonly proposals: Proposal[];
  readonly deferred: Deferral[];
  readonly watch: Set<ShardId>;
  /** Shards a proposal of this tick already concerns. */
  readonly handled: Set<string>;
  readonly hotNodes: ReadonlySet<string>;
  nextId: number;
}

/**
 * Proposes splits, moves and merges for range and node hotspots.
 *
 * @example
 * const sampler = new SplitSampler({ clock });            // router.instrumentation.splitSampler = sampler
 * const planner = new RangePlanner({
 *   clock, table: () => router.table, hotspots: () => detector.active(), snapshot: () => monitor.snapshot,
 *   splitPoint: (s, c) => sampler.decide(s, c), nodeCapacity: () => config.capacity,
 * }, config.rebalance);
 * // each monitor tick, after the detector's:
 * const plan = planner.tick();
 * sampler.watchOnly(plan.watch);
 * sampler.tick();
 * // plan.proposals: execute in order (split/merge: RoutingTable + store; move: the move engine), honouring `after`
 */
export class RangePlanner {
  readonly settings: RangePlannerSettings;
  readonly #in: RangePlannerInputs;
  /** What happened: splits, moves, merges, and the planner's own splits awaiting their move. */
  readonly #mem: RebalanceMemory;
  /** Balancing: max/mean went over `balanceMaxOverMean` and has not yet come down to half its excess. */
  #balancing = false;
  /** The balance goal's served-command samples since the table last changed, oldest first. */
  #served: ServedSample[] = [];

  /** `history`: what happened before this planner started (after a restart), for its hysteresis. Throws RangeError on a bad setting. */
  constructor(
    inputs: RangePlannerInputs,
    settings: Partial<RangePlannerSettings> = {},
    history: readonly RebalanceEvent[] = [],
  ) {
    const s = { ...DEFAULT_RANGE_PLANNER_SETTINGS, ...settings };
    this.settings = Object.freeze({
      ...s,
      split: Object.freeze({ ...DEFAULT_RANGE_PLANNER_SETTINGS.split, ...settings.split }),
    });
    if (
      !(this.settings.maxUtilization > 0) ||
      this.settings.targetUtilization > this.settings.maxUtilization
    ) {
      throw new RangeError(
        `targetUtilization (${this.settings.targetUtilization}) must be > 0 and at most maxUtilization (${this.settings.maxUtilization})`,
      );
    }
    if (!(this.settings.balanceMaxOverMean > 1))
      throw new RangeError(
        `balanceMaxOverMean (${this.settings.balanceMaxOverMean}) must be above 1: max/mean is never below 1`,
      );
    if (!(this.settings.balanceSustainMs >= 0))
      throw new RangeError(`balanceSustainMs (${this.settings.balanceSustainMs}) must be 0 or more`);
    this.#in = inputs;
    this.#mem = new RebalanceMemory(this.settings.settleMs);
    for (const e of history) this.#mem.record(e);
  }

  /** What the planner would do now. */
  tick(): RangePlan {
    const now = this.#in.clock.now();
    const table = this.#in.table();
    this.#mem.observe(table, now);
    const view = this.#view(table, now);
    const opsBefore = new Map(view.sim.nodeOps);
    this.#followUp(view);
    for (const h of view.hot) {
      if (h.kind === 'hot-range') this.#hotRange(view, h);
    }
    for (const h of view.hot) {
      if (h.kind === 'hot-node') this.#hotNode(view, h);
    }
    this.#balance(view);
    this.#merge(view);
    this.#mem.prune(now - HOUR);
    return {
      at: now,
      tableVersion: table.version,
      proposals: view.proposals,
      deferred: view.deferred,
      watch: [...view.watch],
      nodes: table.nodes().map((n) => {
        const capacity = view.sim.nodeCap.get(n) ?? null;
        const before = opsBefore.get(n) ?? 0;
        const after = view.sim.load(n);
        const u = (x: number): number | null => (capacity !== null && capacity > 0 ? r3(x / capacity) : null);
        return {
          node: n,
          capacity,
          opsBefore: r3(before),
          opsAfter: r3(after),
          utilizationBefore: u(before),
          utilizationAfter: u(after),
        };
      }),
      budget: {
        movesLeftThisHour: Math.max(0, this.settings.maxMovesPerHour - this.#mem.movesSince(now - HOUR)),
        movesInFlight: this.#inFlight(table),
      },
    };
  }

  #inFlight(table: RoutingTable): number {
    return this.#in.movesInFlight?.() ?? table.shards.filter((s) => s.status === 'moving').length;
  }

  // ---- this tick's view -----------------------------------------------------

  #view(table: RoutingTable, now: number): View {
    const snapshot = this.#in.snapshot();
    const sim = new Sim();
    const seen = new Map((snapshot?.shards ?? []).map((s) => [s.id, s.reads + s.writes]));
    for (const s of table.shards) {
      const est = this.#mem.estimate(s.id, now);
      sim.shardOps.set(s.id, est?.ops ?? seen.get(s.id) ?? 0);
      sim.placement.set(s.id, s.node);
      sim.nodeOps.set(s.node, sim.load(s.node) + sim.ops(s.id));
    }
    const nodeLoad = new Map((snapshot?.nodes ?? []).map((n) => [n.id, n]));
    for (const n of table.nodes()) {
      if (!sim.nodeOps.has(n)) sim.nodeOps.set(n, 0);
      let cap = this.#in.nodeCapacity?.(n) ?? null;
      const e = nodeLoad.get(n);
      if (cap === null && e !== undefined && e.utilization !== null && e.utilization > 0)
        cap = (e.reads + e.writes) / e.utilization;
      sim.nodeCap.set(n, cap);
    }
    const inFlight = this.#inFlight(table);
    const movedThisHour = this.#mem.movesSince(now - HOUR);
    sim.movesLeft = Math.max(
      0,
      Math.min(this.settings.maxConcurrentMoves - inFlight, this.settings.maxMovesPerHour - movedThisHour),
    );
    const hot = this.#in
      .hotspots()
      .filter((h) => h.clearedAt === null)
      .sort(
        (a, b) =>
          SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
          (b.evidence.rate ?? 0) - (a.evidence.rate ?? 0) ||
          (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0),
      );
    const hotNodes = new Set(hot.filter((h) => h.kind === 'hot-node').map((h) => h.subject));
    for (const h of hot) if (h.kind === 'hot-range' && h.node !== null) hotNodes.add(h.node);
    return {
      now,
      table,
      hot,
      sim,
      proposals: [],
      deferred: [],
      watch: new Set(),
      handled: new Set(),
      hotNodes,
      nextId: this.#mem.maxId + 1,
    };
  }

  // ---- decisions ------------------------------------------------------------

  /** Moves due after a split that happened: the hotter half goes, as soon as the budget allows. */
  #followUp(v: View): void {
    for (const [id, f] of [...this.#mem.followUps].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const s = v.table.shard(toShardId(id));
      if (s === undefined || f.until < v.now) {
        this.#mem.followUps.delete(id);
        continue;
      }
      v.handled.add(id);
      v.handled.add(f.sibling);
      if (s.status !== 'active') {
        this.#defer(v, `shard:${id}`, 'busy', `shard ${id} is ${s.status}`, f.hotspot);
        continue;
      }
      this.#proposeMove(v, s, f.ops, f.reason, f.hotspot, undefined);
    }
  }

  #hotRange(v: View, h: Hotspot): void {
    const id = toShardId(h.shard ?? h.subject);
    const s = v.table.shard(id);
    if (s === undefined) return;
    v.watch.add(id);
    if (v.handled.has(id)) return;
    v.handled.add(id);
    if (this.#settling(v, id))
      return this.#defer(
        v,
        `shard:${id}`,
        'busy',
        `shard ${id} changed within the last ${fmt(this.settings.settleMs / 1000)} s: waiting for its load to be measured`,
        h.id,
      );
    if (s.status !== 'active')
      return this.#defer(v, `shard:${id}`, 'busy', `shard ${id} is ${s.status}`, h.id);
    const ops = v.sim.ops(id);
    const cheaper = this.#cheaper(v, id);
    if (cheaper !== null && this.#saturated(v, s, h)) {
      return this.#defer(
        v,
        `shard:${id}`,
        'key-level-first',
        `shard ${id} is saturated and a key-level action is cheaper: ${cheaper}`,
        h.id,
      );
    }
    const relief = this.#relief(v, s);
    if (relief !== null) return this.#defer(v, `shard:${id}`, 'headroom', relief, h.id);
    const decide = this.#in.splitPoint;
    if (decide === undefined) return this.#moveWhole(v, s, h, 'no split sampler is wired');
    const d = decide(id, this.settings.split);
    if (!d.ok) {
      if (d.code === 'too-few-samples' || d.code === 'not-watched')
        return this.#defer(v, `shard:${id}`, 'sampling', `finding a split point: ${d.reason}`, h.id);
      if (d.code === 'dominant-key') {
        v.deferred.push({
          subject: `shard:${id}`,
          code: 'dominant-key',
          reason: d.reason,
          ...(d.key === undefined ? {} : { key: d.key }),
          hotspot: h.id,
        });
        return;
      }
      // Giving up on a split moves ranges: only on more evidence than a split point needs.
      const enough = GIVE_UP_SAMPLES * this.settings.split.minSamples;
      if (d.samples < enough)
        return this.#defer(
          v,
          `shard:${id}`,
          'sampling',
          `no split point yet (${d.reason}); sampling on to ${enough} requests before giving up on splitting`,
          h.id,
        );
      return this.#moveWhole(v, s, h, d.reason);
    }
    const newShard = `s${v.nextId}`;
    // Requests spanning the point reach both halves.
    const leftOps = ops * (d.leftShare + d.spanningShare);
    const rightOps = ops * (d.rightShare + d.spanningShare);
    const hotterRight = rightOps >= leftOps;
    const [hotter, cooler] = hotterRight ? [newShard, id] : [id, newShard];
    const [hotOps, coolOps] = hotterRight ? [rightOps, leftOps] : [leftOps, rightOps];
    const cap = s.capacity;
    const half = (name: string): ShardInfo => ({ ...s, id: toShardId(name) });
    // A split is for the move that follows it, unless the shard is over its own capacity's target.
    const overOwn = cap !== null && cap > 0 && ops > this.settings.targetUtilization * cap;
    if (
      !overOwn &&
      this.#target(v, half(hotter), hotOps, id) === null &&
      this.#target(v, half(cooler), coolOps, id) === null
    ) {
      return this.#relieveAround(
        v,
        s,
        h,
        `splitting ${id} at ${JSON.stringify(d.atText)} would not help: no node can take either half (${fmt(hotOps)} or ${fmt(coolOps)} ops/s) within ${pct(this.settings.maxUtilization)} utilization and below ${s.node}'s load (nodes it left within the hysteresis excluded)`,
      );
    }
    v.nextId++;
    const index = v.proposals.length;
    v.proposals.push({
      kind: 'split',
      shard: id,
      at: d.atText,
      newShard,
      reason: `${h.summary}; ${d.reason}`,
      predicted:
        cap !== null && cap > 0
          ? { metric: 'shardUtilization', subject: hotter, before: r3(ops / cap), expected: r3(hotOps / cap) }
          : { metric: 'shardOps', subject: hotter, before: r3(ops), expected: r3(hotOps) },
      alsoPredicted: [{ metric: 'shardOps', subject: cooler, before: null, expected: r3(coolOps) }],
      evidence: {
        shardOps: r3(ops),
        leftShare: r3(d.leftShare),
        rightShare: r3(d.rightShare),
        spanningShare: r3(d.spanningShare),
        samples: d.samples,
        nodeOps: r3(v.sim.load(s.node)),
      },
      hotspot: h.id,
    });
    this.#mem.proposedSplits.set(id, {
      at: d.atText,
      leftOps,
      rightOps,
      hotspot: h.id,
      until: v.now + FOLLOW_UP_MS,
    });
    v.sim.shardOps.set(hotter, hotOps);
    v.sim.shardOps.set(cooler, coolOps);
    v.sim.placement.set(newShard, s.node);
    const why = `the hotter half of splitting ${id} at ${JSON.stringify(d.atText)} (${pct(hotOps / Math.max(ops, 1e-9))} of its load)`;
    if (!this.#proposeMove(v, half(hotter), hotOps, why, h.id, index, true, id)) {
      // The hotter half fits nowhere: the cooler one still relieves the node.
      const whyCool = `the cooler half of splitting ${id} at ${JSON.stringify(d.atText)}: the hotter half fits on no node`;
      this.#proposeMove(v, half(cooler), coolOps, whyCool, h.id, index, false, id);
    }
  }

  /** A hot range that cannot be split moves whole when its node is over target and a node can take it. */
  #moveWhole(v: View, s: ShardInfo, h: Hotspot, why: string): void {
    const level = v.sim.level(s.node);
    const cap = v.sim.nodeCap.get(s.node) ?? null;
    const over = cap !== null ? level > this.settings.targetUtilization : v.hotNodes.has(s.node);
    if (!over) return this.#defer(v, `shard:${s.id}`, 'cannot-split', `cannot split ${s.id}: ${why}`, h.id);
    const whole = `${h.summary}; cannot split it (${why}), so it moves whole`;
    if (this.#proposeMove(v, s, v.sim.ops(s.id), whole, h.id, undefined, true)) return;
    this.#relieveAround(v, s, h, `cannot split ${s.id} (${why}) and no node can take it whole`);
  }

  /**
   * A hot range that can neither be divided nor moved (an append-only tail, a range as big as
   * any node's headroom) still leaves its node's other shards: moving them off makes room for it.
   */
  #relieveAround(v: View, s: ShardInfo, h: Hotspot, why: string): void {
    const before = v.proposals.length;
    const made = (other: string): string =>
      `${h.summary}; ${why}: moving ${other} off ${s.node} to make room for it`;
    this.#drain(v, toNodeId(s.node), h, made, true);
    if (v.proposals.length === before && !v.deferred.some((d) => d.subject === `node:${s.node}`))
      this.#defer(
        v,
        `shard:${s.id}`,
        'no-target',
        `${why}; nor does any other shard of ${s.node} fit elsewhere`,
        h.id,
      );
  }

  #hotNode(v: View, h: Hotspot): void {
    const node = toNodeId(h.subject);
    if (!v.table.nodes().includes(node)) return;
    const cap = v.sim.nodeCap.get(node) ?? null;
    if (cap !== null && cap > 0 && v.sim.level(node) <= this.settings.targetUtilization) {
      return this.#defer(
        v,
        `node:${node}`,
        'headroom',
        `node ${node} carries more than the others, but is at ${pct(v.sim.level(node))} of capacity, within the ${pct(this.settings.targetUtilization)} target: nothing to relieve`,
        h.id,
      );
    }
    this.#drain(v, node, h, (shard) => `${h.summary}: moving its shard ${shard} off`);
  }

  /**
   * Moves shards off `node`, each time the one whose move leaves the lowest maximum of source and
   * target, until it is back at the target utilization (at least one move: it is hot by the
   * detector's word) or the budget is spent. Shards already handled this tick stay.
   */
  #drain(v: View, node: NodeId, h: Hotspot, why: (shard: string) => string, quiet = false): void {
    const cap = v.sim.nodeCap.get(node) ?? null;
    const mean = (): number => {
      const loads = v.table.nodes().map((n) => v.sim.load(n));
      return loads.reduce((a, b) => a + b, 0) / loads.length;
    };
    const done = (): boolean =>
      cap !== null ? v.sim.level(node) <= this.settings.targetUtilization : v.sim.load(node) <= 1.1 * mean();
    let first = true;
    for (;;) {
      if (!first && done()) return;
      first = false;
      const shards = v.table
        .shardsOn(node)
        .filter((s) => v.sim.placement.get(s.id) === node && !v.handled.has(s.id) && s.status === 'active')
        .filter((s) => !this.#settling(v, s.id))
        .filter((s) => !(this.#saturated(v, s, h) && this.#cheaper(v, s.id) !== null));
      let best: { s: ShardInfo; target: string; worst: number; ops: number } | null = null;
      for (const s of shards) {
        const ops = v.sim.ops(s.id);
        if (!(ops > 0)) continue;
        const target = this.#target(v, s, ops);
        if (target === null) continue;
        const worst = Math.max(v.sim.level(node, -ops), v.sim.level(target, ops));
        if (best === null || worst < best.worst || (worst === best.worst && s.id < best.s.id))
          best = { s, target, worst, ops };
      }
      if (best === null) {
        if (quiet || v.proposals.some((p) => p.kind === 'move' && p.source === node)) return;
        return this.#defer(
          v,
          `node:${node}`,
          'no-target',
          `node ${node} is hot, but no shard of it fits on another node within ${pct(this.settings.maxUtilization)} utilization without moving back within the hysteresis`,
          h.id,
        );
      }
      v.handled.add(best.s.id);
      this.#proposeMove(v, best.s, best.ops, why(best.s.id), h.id, undefined);
      if (v.sim.movesLeft <= 0) {
        if (!done() && v.proposals.at(-1)?.shard === best.s.id)
          this.#defer(
            v,
            `node:${node}`,
            'budget',
            `node ${node} needs more moves than the budget allows now; the next ones wait`,
            h.id,
          );
        return;
      }
    }
  }

  /**
   * The balance goal (Cruise Control's distribution goals beside its capacity goals): with no
   * node over its capacity target, load can still pile up on one node. When the nodes' served
   * load max/mean has stayed above `balanceMaxOverMean` for `balanceSustainMs` (measured since
   * the table last changed: a window straddling a move mixes two placements), moves go from the
   * busiest node to the least-loaded one a shard may go to, each time the shard whose move
   * lowers the predicted maximum most. A move that would not lower it (a shard whose dominant
   * key would just make its target the new busiest node) is never proposed.
   */
  #balance(v: View): void {
    const loads = this.#servedLoads(v);
    const nodes = v.table.nodes().filter((n) => this.#in.nodeUp?.(n) !== false);
    if (loads === null || nodes.length < 2) return;
    const total = nodes.reduce((a, n) => a + (loads.get(n) ?? 0), 0);
    if (total < this.settings.minTotalOps) return;
    const mean = total / nodes.length;
    const maxOf = (m: ReadonlyMap<string, number>): number => Math.max(...nodes.map((n) => m.get(n) ?? 0));
    // Over the limit starts balancing; it then goes on down to half the limit's excess (1.1 for
    // 1.2), so a cluster balanced just under the limit does not drift back over it.
    const over = this.settings.balanceMaxOverMean;
    const under = 1 + (over - 1) / 2;
    const ratio = maxOf(loads) / mean;
    if (ratio <= under) this.#balancing = false;
    else if (ratio > over) this.#balancing = true;
    if (!this.#balancing) return;
    const limit = under;
    // Another goal moved something this tick: its effect is measured before balancing on top of it.
    if (v.proposals.some((p) => p.kind !== 'merge')) return;
    const shardServed = this.#shardServed(v, nodes, loads);
    const served = new Map(loads);
    const since = v.now - this.settings.moveHysteresisMs;
    for (;;) {
      const before = maxOf(served);
      if (before / mean <= limit) return;
      const source = [...nodes].sort(
        (a, b) => (served.get(b) ?? 0) - (served.get(a) ?? 0) || (a < b ? -1 : 1),
      )[0]!;
      const byLoad = nodes
        .filter((n) => n !== source)
        .sort((a, b) => (served.get(a) ?? 0) - (served.get(b) ?? 0) || (a < b ? -1 : 1));
      let best: { s: ShardInfo; target: string; ops: number; after: number; pair: number } | null = null;
      for (const s of v.table.shardsOn(toNodeId(source))) {
        if (v.sim.placement.get(s.id) !== source || v.handled.has(s.id) || s.status !== 'active') continue;
        if (this.#settling(v, s.id)) continue;
        const ops = shardServed.get(s.id) ?? 0;
        if (!(ops > 0)) continue;
        const left = this.#mem.left.get(s.id);
        const target = byLoad.find((n) => {
          if ((left?.get(n) ?? -Infinity) > since) return false;
          const cap = v.sim.nodeCap.get(n) ?? null;
          return cap === null || ((served.get(n) ?? 0) + ops) / cap <= this.settings.maxUtilization;
        });
        if (target === undefined) continue;
        const after = Math.max(
          ...nodes.map((n) =>
            n === source ? before - ops : n === target ? (served.get(n) ?? 0) + ops : (served.get(n) ?? 0),
          ),
        );
        // The busier of source and target ends at least 1 % of the mean below where the source was
        // (a move for a rounding error is churn; one that makes the target as busy just moves the
        // hot spot); with another node as busy as the source, max/mean falls once both are relieved.
        const pair = Math.max(before - ops, (served.get(target) ?? 0) + ops);
        if (!(pair < before - 0.01 * mean)) continue;
        if (
          best === null ||
          after < best.after ||
          (after === best.after && (pair < best.pair || (pair === best.pair && s.id < best.s.id)))
        )
          best = { s, target, ops, after, pair };
      }
      if (best === null) {
        this.#balancing = false;
        if (!v.proposals.some((p) => p.kind === 'move'))
          this.#defer(
            v,
            `node:${source}`,
            'no-target',
            `node load max/mean is ${r3(before / mean)} (balancing, from above ${over}, down to ${limit}), but no shard of ${source} can move to another node and lower it (within ${pct(this.settings.maxUtilization)} utilization, nodes each shard left within the hysteresis excluded)`,
            null,
          );
        return;
      }
      const { s, target, ops, after } = best;
      const why = `node load max/mean ${r3(before / mean)} (balancing, from above ${over}, down to ${limit}): moving ${s.id} (${fmt(ops)} ops/s served) from the busiest node ${source} to ${target} lowers it to ${r3(after / mean)}`;
      if (v.sim.movesLeft <= 0) {
        this.#defer(
          v,
          `node:${source}`,
          'budget',
          `${why}, but the move budget is spent (${this.settings.maxConcurrentMoves} at once, ${this.settings.maxMovesPerHour} per hour)`,
          null,
        );
        return;
      }
      v.sim.movesLeft--;
      const bytes = this.#in.shardBytes?.(s.id) ?? null;
      v.proposals.push({
        kind: 'move',
        shard: s.id,
        source,
        target,
        throttle: { maxBytesPerSec: this.settings.copyBytesPerSec },
        reason: why,
        // In the snapshot's terms (routed ops), which the plan runner judges the move by.
        predicted: {
          metric: 'nodeOps',
          subject: source,
          before: r3(v.sim.load(source)),
          expected: r3(v.sim.load(source) - v.sim.ops(s.id)),
        },
        alsoPredicted: [
          {
            metric: 'nodeMaxOverMean',
            subject: 'nodes',
            before: r3(before / mean),
            expected: r3(after / mean),
          },
          {
            metric: 'nodeServedOps',
            subject: source,
            before: r3(served.get(source) ?? 0),
            expected: r3((served.get(source) ?? 0) - ops),
          },
          {
            metric: 'nodeServedOps',
            subject: target,
            before: r3(served.get(target) ?? 0),
            expected: r3((served.get(target) ?? 0) + ops),
          },
        ],
        evidence: {
          shardServedOps: r3(ops),
          sourceServedOps: r3(served.get(source) ?? 0),
          targetServedOps: r3(served.get(target) ?? 0),
          meanServedOps: r3(mean),
          ...(bytes === null
            ? {}
            : { shardBytes: bytes, copySeconds: r3(bytes / this.settings.copyBytesPerSec) }),
        },
        hotspot: null,
      });
      served.set(source, (served.get(source) ?? 0) - ops);
      served.set(target, (served.get(target) ?? 0) + ops);
      v.sim.move(s.id, target);
      v.handled.add(s.id);
    }
  }

  /**
   * What each shard serves, from its node's served load: cache hits are routed but never reach a
   * node, and only shards with a key-level action in place have them. So a shard without one
   * serves what is routed to it, and those with one share the rest of their node's served load
   * in proportion to their routed load. Where that does not add up (served below the plain
   * shards' routed load), every shard of the node is scaled by its served / routed.
   */
  #shardServed(v: View, nodes: readonly string[], loads: ReadonlyMap<string, number>): Map<string, number> {
    const out = new Map<string, number>();
    for (const n of nodes) {
      const shards = v.table.shards.filter((s) => v.sim.placement.get(s.id) === n);
      const served = loads.get(n) ?? 0;
      const cached = shards.filter((s) => this.#cheaper(v, s.id) !== null);
      const plain = shards.filter((s) => this.#cheaper(v, s.id) === null);
      const routedOf = (xs: readonly ShardInfo[]): number => xs.reduce((a, s) => a + v.sim.ops(s.id), 0);
      const plainOps = routedOf(plain);
      const cachedOps = routedOf(cached);
      if (plainOps <= served && cachedOps > 0) {
        for (const s of plain) out.set(s.id, v.sim.ops(s.id));
        for (const s of cached) out.set(s.id, ((served - plainOps) * v.sim.ops(s.id)) / cachedOps);
      } else {
        const routed = plainOps + cachedOps;
        for (const s of shards) out.set(s.id, routed > 0 ? (served * v.sim.ops(s.id)) / routed : 0);
      }
    }
    return out;
  }

  /**
   * Per node, the ops/s it served over the last `balanceSustainMs`, once this table version has
   * stood that long (a window straddling a move mixes two placements); else null. Averaged over
   * the window, one noisy second neither triggers nor cancels a move; and only a steady load
   * counts. Without `servedCommands` there is no measure: null.
   */
  #servedLoads(v: View): ReadonlyMap<string, number> | null {
    const nodes = v.table.nodes().filter((n) => this.#in.nodeUp?.(n) !== false);
    const sustain = this.settings.balanceSustainMs;
    const read = this.#in.servedCommands;
    // Routed load is no measure of balance (cache hits never reach a node): no counters, no goal.
    if (read === undefined) return null;
    const sample: ServedSample = { at: v.now, version: v.table.version, counts: new Map(read()) };
    const prev = this.#served.at(-1);
    const restarted =
      prev !== undefined && nodes.some((n) => (sample.counts.get(n) ?? 0) < (prev.counts.get(n) ?? 0));
    if (prev === undefined || prev.version !== sample.version || restarted) {
      this.#served = [sample];
      return null;
    }
    // A second tick at the same time (GET /proposals planning once more) judges the same window.
    if (sample.at === prev.at) this.#served[this.#served.length - 1] = sample;
    else if (sample.at > prev.at) this.#served.push(sample);
    else {
      this.#served = [sample];
      return null;
    }
    // The window: from the latest sample at least `sustain` old; older ones are no longer needed.
    let from = -1;
    for (let i = 0; i < this.#served.length - 1; i++) if (this.#served[i]!.at <= v.now - sustain) from = i;
    if (from < 0) return null;
    this.#served = this.#served.slice(from);
    const rate = (a: ServedSample, b: ServedSample): Map<string, number> =>
      new Map(
        nodes.map((n) => [n, ((b.counts.get(n) ?? 0) - (a.counts.get(n) ?? 0)) / ((b.at - a.at) / 1000)]),
      );
    const first = this.#served[0]!;
    const whole = rate(first, sample);
    // Steady: each node served about the same in both halves of the window. Load still shifting
    // (key-level actions caching keys, a ramp-up) is left to settle: balancing it now would
    // balance what is about to change.
    const mid = this.#served.find((x) => x.at >= first.at + (sample.at - first.at) / 2)!;
    // Too few samples to tell whether the load is steady: wait for more.
    if (mid === first || mid === sample) return null;
    const early = rate(first, mid);
    const late = rate(mid, sample);
    const mean = [...whole.values()].reduce((a, b) => a + b, 0) / Math.max(1, whole.size);
    const steady = nodes.every(
      (n) => Math.abs((early.get(n) ?? 0) - (late.get(n) ?? 0)) <= STEADY_SHARE * mean,
    );
    return steady ? whole : null;
  }

  /** Merges the coldest pair of neighbours on one node that nothing hot or planned concerns (one per tick). */
  #merge(v: View): void {
    const { table, sim, now } = v;
    const total = table.shards.reduce((a, s) => a + sim.ops(s.id), 0);
    if (total < this.settings.minTotalOps || table.shards.length < 2) return;
    const mean = total / table.shards.length;
    const hotShards = new Set(v.hot.filter((h) => h.kind === 'hot-range').map((h) => h.shard ?? h.subject));
    // A merge leaves its node's load as it is, so a hot node may merge too; not one a move of this tick concerns.
    const busyNodes = new Set<string>();
    for (const p of v.proposals) {
      busyNodes.add(table.shard(toShardId(p.shard))?.node ?? '');
      if (p.target !== undefined) busyNodes.add(p.target);
    }
    const recent = (id: string): boolean =>
      (this.#mem.splitAt.get(id) ?? -Infinity) > now - this.settings.splitHysteresisMs;
    let best: { a: ShardInfo; b: ShardInfo; ops: number } | null = null;
    for (let i = 0; i + 1 < table.shards.length; i++) {
      const a = table.shards[i]!;
      const b = table.shards[i + 1]!;
      if (a.node !== b.node || a.status !== 'active' || b.status !== 'active') continue;
      // Not a hot range, and nothing this tick's plan already changes.
      if (busyNodes.has(a.node) || hotShards.has(a.id) || hotShards.has(b.id)) continue;
      if (recent(a.id) || recent(b.id)) continue;
      if (table.shardsOn(a.node).length <= this.settings.minShardsPerNode) continue;
      const ops = sim.ops(a.id) + sim.ops(b.id);
      if (ops > this.settings.mergeBelowShareOfMean * mean) continue;
      if (a.capacity !== null && ops > this.settings.targetUtilization * a.capacity) continue;
      if (best === null || ops < best.ops) best = { a, b, ops };
    }
    if (best === null) return;
    const { a, b, ops } = best;
    v.proposals.push({
      kind: 'merge',
      shard: a.id,
      with: b.id,
      reason: `${a.id} and ${b.id} on ${a.node} together carry ${fmt(ops)} ops/s, ${pct(ops / mean)} of the mean shard: one range is enough`,
      predicted: { metric: 'shardOps', subject: a.id, before: r3(sim.ops(a.id)), expected: r3(ops) },
      alsoPredicted: [],
      evidence: {
        leftOps: r3(sim.ops(a.id)),
        rightOps: r3(sim.ops(b.id)),
        meanShardOps: r3(mean),
        shards: table.shards.length,
      },
      hotspot: null,
    });
  }

  // ---- helpers ----------------------------------------------------------------

  /**
   * Proposes moving `s` (with `ops` of load) off its node to the best target, within budget.
   * Returns false when it could not (deferred with the reason), unless `quiet`, which leaves
   * the deferral to the caller's fallback.
   */
  #proposeMove(
    v: View,
    s: ShardInfo,
    ops: number,
    why: string,
    hotspot: string | null,
    after: number | undefined,
    quiet = false,
    parent?: string,
  ): boolean {
    const source = v.sim.placement.get(s.id) ?? s.node;
    const target = this.#target(v, s, ops, parent);
    if (target === null) {
      if (!quiet)
        this.#defer(
          v,
          `shard:${s.id}`,
          'no-target',
          `${why}: no node can take ${fmt(ops)} ops/s and stay within ${pct(this.settings.maxUtilization)} utilization and below ${source}'s load (nodes it left within the hysteresis excluded)`,
          hotspot,
        );
      return false;
    }
    if (v.sim.movesLeft <= 0) {
      this.#defer(
        v,
        `shard:${s.id}`,
        'budget',
        `${why}: would move it to ${target}, but the move budget is spent (${this.settings.maxConcurrentMoves} at once, ${this.settings.maxMovesPerHour} per hour)`,
        hotspot,
      );
      return true;
    }
    v.sim.movesLeft--;
    const capS = v.sim.nodeCap.get(source) ?? null;
    const capT = v.sim.nodeCap.get(target) ?? null;
    const predict = (node: string, cap: number | null, delta: number): ProposalPrediction =>
      cap !== null && cap > 0
        ? {
            metric: 'nodeUtilization',
            subject: node,
            before: r3(v.sim.load(node) / cap),
            expected: r3((v.sim.load(node) + delta) / cap),
          }
        : {
            metric: 'nodeOps',
            subject: node,
            before: r3(v.sim.load(node)),
            expected: r3(v.sim.load(node) + delta),
          };
    const bytes = this.#in.shardBytes?.(s.id) ?? null;
    const proposal: Proposal = {
      kind: 'move',
      shard: s.id,
      source,
      target,
      ...(after === undefined ? {} : { after }),
      throttle: { maxBytesPerSec: this.settings.copyBytesPerSec },
      reason: `${why}: to ${target}, the least-loaded node with headroom`,
      predicted: predict(source, capS, -ops),
      alsoPredicted: [predict(target, capT, ops)],
      evidence: {
        shardOps: r3(ops),
        sourceOps: r3(v.sim.load(source)),
        targetOps: r3(v.sim.load(target)),
        ...(bytes === null
          ? {}
          : { shardBytes: bytes, copySeconds: r3(bytes / this.settings.copyBytesPerSec) }),
      },
      hotspot,
    };
    v.proposals.push(proposal);
    v.sim.move(s.id, target, ops);
    v.handled.add(s.id);
    return true;
  }

  /**
   * The least-loaded node that can take `ops` more within maxUtilization and below the source's
   * load, never one `s` (or `parent`, for a half of a split not yet made) left recently.
   */
  #target(v: View, s: ShardInfo, ops: number, parent?: string): string | null {
    const source = v.sim.placement.get(s.id) ?? s.node;
    const left = [this.#mem.left.get(s.id), parent === undefined ? undefined : this.#mem.left.get(parent)];
    const since = v.now - this.settings.moveHysteresisMs;
    const leftRecently = (n: string): boolean => left.some((m) => (m?.get(n) ?? -Infinity) > since);
    let best: string | null = null;
    for (const n of v.table.nodes()) {
      if (n === source || leftRecently(n) || this.#in.nodeUp?.(n) === false) continue;
      const cap = v.sim.nodeCap.get(n) ?? null;
      if (cap !== null && (v.sim.load(n) + ops) / cap > this.settings.maxUtilization) continue;
      // Never make the target hotter than the source is now: that is the next hot node.
      if (v.sim.load(n) + ops >= v.sim.load(source)) continue;
      if (
        best === null ||
        v.sim.level(n) < v.sim.level(best) ||
        (v.sim.level(n) === v.sim.level(best) && n < best)
      )
        best = n;
    }
    return best;
  }

  /**
   * Null when a hot range needs relief: over its own capacity's target, or its node over the
   * target utilization, or capacities unknown (the detector's relative judgement stands);
   * else why not.
   */
  #relief(v: View, s: ShardInfo): string | null {
    const target = this.settings.targetUtilization;
    const ops = v.sim.ops(s.id);
    if (s.capacity !== null && s.capacity > 0 && ops > target * s.capacity) return null;
    const cap = v.sim.nodeCap.get(s.node) ?? null;
    if (cap === null || !(cap > 0)) return null;
    const u = v.sim.load(s.node) / cap;
    if (u > target) return null;
    return `shard ${s.id} is hot against the other shards, but its node ${s.node} is at ${pct(u)} of capacity, within the ${pct(target)} target${s.capacity === null ? '' : ` and the shard at ${pct(ops / s.capacity)} of its own`}: nothing to relieve`;
  }

  #settling(v: View, shard: string): boolean {
    return (this.#mem.touchedAt.get(shard) ?? -Infinity) > v.now - this.settings.settleMs;
  }

  /** A key-level action for the shard, if any: the integrator's, or an active hot key on it. */
  #cheaper(v: View, shard: string): string | null {
    if (this.#in.cheaperAction !== undefined) return this.#in.cheaperAction(shard);
    const key = v.hot.find((h) => h.kind === 'hot-key' && h.shard === shard);
    return key === undefined ? null : `hot key ${JSON.stringify(key.subject)} (${key.id})`;
  }

  /** At or over saturatedUtilization (the shard's capacity, else its node's), or shedding. */
  #saturated(v: View, s: ShardInfo, h: Hotspot): boolean {
    if (h.impact.includes('shedding')) return true;
    const u = s.capacity !== null && s.capacity > 0 ? v.sim.ops(s.id) / s.capacity : null;
    const cap = v.sim.nodeCap.get(s.node) ?? null;
    const nodeU = cap !== null && cap > 0 ? v.sim.load(s.node) / cap : null;
    return (u ?? nodeU ?? 0) >= this.settings.saturatedUtilization;
  }

  #defer(v: View, subject: string, code: Deferral['code'], reason: string, hotspot: string | null): void {
    v.deferred.push({ subject, code, reason, hotspot });
  }
}
