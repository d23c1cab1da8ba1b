/**
 * The range/node planner's settings (config `rebalance`), inputs and output:
 * kept apart from the decisions so config.ts, the proposals API and the
 * integrator's wiring can name them without the logic.
 */
import type { Clock } from '../clock.js';
import type { Hotspot } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import type { ShardId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { DEFAULT_SPLIT_CRITERIA, type SplitCriteria, type SplitDecision } from './split-finder.js';

/** Budgets and thresholds of range and node planning (docs/planner.md, "Ranges and nodes"). */
export interface RangePlannerSettings {
  /** Moves running at once (the table's `moving` shards count). */
  readonly maxConcurrentMoves: number;
  /** Moves started in any hour. */
  readonly maxMovesPerHour: number;
  /** Copy bandwidth a move may use (bytes/s); handed to the move engine as its throttle. */
  readonly copyBytesPerSec: number;
  /** Utilization a hot node is planned down to, and a split half is judged against (0.7: seed 000's 30 % headroom). */
  readonly targetUtilization: number;
  /** Utilization no move may take its target node above (0.8: seed 000's 20 % headroom at least). */
  readonly maxUtilization: number;
  /** A shard at or above this utilization is saturated: not moved while a key-level action is in place or possible. */
  readonly saturatedUtilization: number;
  /**
   * After a shard is split, moved or merged, how long (ms) before it is split or moved again:
   * telemetry has to measure the new ranges and the detector re-judge them. Their load is
   * estimated from the split point's shares meanwhile.
   */
  readonly settleMs: number;
  /** No merge of a range split (or created by a split) within this long (ms). */
  readonly splitHysteresisMs: number;
  /** No move of a range onto a node it left within this long (ms). */
  readonly moveHysteresisMs: number;
  /** Two neighbours are cold when together they carry at most this share of the mean shard's load. */
  readonly mergeBelowShareOfMean: number;
  /** Merges leave at least this many shards on a node. */
  readonly minShardsPerNode: number;
  /** Below this total rate (ops/s) there is too little load to call anything cold: no merges. */
  readonly minTotalOps: number;
  /** What a load-based split point must achieve. */
  readonly split: SplitCriteria;
  /**
   * The balance goal: when the nodes' served load max/mean stays above this for
   * `balanceSustainMs`, a shard moves from the busiest node to the least busy one, if
   * that lowers max/mean. Above 1; a very large value switches the goal off.
   */
  readonly balanceMaxOverMean: number;
  /** How long (ms) max/mean must stay above `balanceMaxOverMean`, measured since the table last changed, before a balance move. */
  readonly balanceSustainMs: number;
}

/** The defaults (config.ts fills `rebalance` with these). */
export const DEFAULT_RANGE_PLANNER_SETTINGS: RangePlannerSettings = Object.freeze({
  maxConcurrentMoves: 1,
  maxMovesPerHour: 12,
  copyBytesPerSec: 50_000_000,
  targetUtilization: 0.7,
  maxUtilization: 0.8,
  saturatedUtilization: 0.95,
  settleMs: 10_000,
  splitHysteresisMs: 3_600_000,
  moveHysteresisMs: 3_600_000,
  mergeBelowShareOfMean: 0.5,
  minShardsPerNode: 2,
  minTotalOps: 100,
  split: DEFAULT_SPLIT_CRITERIA,
  balanceMaxOverMean: 1.2,
  balanceSustainMs: 3_000,
});

/** A split, move or merge that happened, for the planner's hysteresis (e.g. replayed from the action log after a restart). */
export interface RebalanceEvent {
  readonly kind: 'split' | 'move' | 'merge';
  /** split: the shard split (it keeps the left half); move: the shard moved; merge: the shard that remains. */
  readonly shard: string;
  /** split: the new right-hand shard; merge: the neighbour that was absorbed. */
  readonly other?: string;
  /** move: the node it left and the node it went to. */
  readonly from?: string;
  readonly to?: string;
  /** When (ms since the epoch). */
  readonly at: number;
}

/** What the range planner reads each tick: the same sources as the key planner, plus the table and split points. */
export interface RangePlannerInputs {
  readonly clock: Clock;
  /** The routing table in force (Router.table). */
  readonly table: () => RoutingTable;
  /** The detector's active hotspots (Detector.active). */
  readonly hotspots: () => readonly Hotspot[];
  /** The detector's latest snapshot (Monitor.snapshot): per-shard and per-node load. */
  readonly snapshot: () => TickSnapshot | undefined;
  /** The load-based split point of a watched shard (SplitSampler.decide); absent: ranges are moved whole, never split. */
  readonly splitPoint?: (shard: ShardId, criteria: SplitCriteria) => SplitDecision;
  /** Ops/s a node can serve (config `capacity` for embedded nodes); absent or null: from the snapshot's utilization, else unknown. */
  readonly nodeCapacity?: (node: string) => number | null;
  /** Moves running now, when the move engine knows better than the table's `moving` statuses. */
  readonly movesInFlight?: () => number;
  /** False for a node that does not answer now (a move onto it would only roll back); default all up. */
  readonly nodeUp?: (node: string) => boolean;
  /**
   * A key-level action in place or pending on a shard (the key planner's cache, throttle, ...), as
   * a sentence, else null. Default: an active hot-key hotspot on the shard.
   */
  readonly cheaperAction?: (shard: string) => string | null;
  /** Bytes a shard holds, when known: the proposal then predicts how long its copy takes. */
  readonly shardBytes?: (shard: string) => number | null;
  /**
   * Per node, the data commands it has executed so far (a counter that only grows:
   * MemoryBackend / RedisBackend `commandsProcessed`). What a node serves, cache hits not
   * included: the balance goal's measure. Absent: no balance goal.
   */
  readonly servedCommands?: () => ReadonlyMap<string, number>;
}

/** What a proposal is predicted to change. */
export interface ProposalPrediction {
  /** `nodeOps` / `nodeUtilization` of a node, or `shardOps` of a shard. */
  readonly metric: string;
  /** The node or shard measured. */
  readonly subject: string;
  readonly before: number | null;
  readonly expected: number;
}

/** One step the planner would take. */
export interface Proposal {
  readonly kind: 'split' | 'move' | 'merge';
  readonly shard: string;
  /** split: the point, as the partitioner's text; the right half starts here. */
  readonly at?: string;
  /** split: the id the right half gets (pass it to RoutingTable.split). */
  readonly newShard?: string;
  /** merge: the right-hand neighbour absorbed. */
  readonly with?: string;
  /** move: the node it goes to. */
  readonly target?: string;
  /** move: the node it leaves. */
  readonly source?: string;
  /** Index in the same plan of a proposal that must be done first (the split before its half moves). */
  readonly after?: number;
  /** move: the copy throttle to run it with. */
  readonly throttle?: { readonly maxBytesPerSec: number };
  readonly reason: string;
  readonly predicted: ProposalPrediction;
  /** Further predictions (the target node after a move, the other half after a split). */
  readonly alsoPredicted: readonly ProposalPrediction[];
  readonly evidence: Readonly<Record<string, number | string | null>>;
  /** The hotspot that led to it, if any. */
  readonly hotspot: string | null;
}

/** Something the planner would act on but does not, and why (budget, hysteresis, a key-level action first). */
export interface Deferral {
  /** `shard:<id>` or `node:<id>`. */
  readonly subject: string;
  readonly code:
    | 'sampling'
    | 'dominant-key'
    | 'cannot-split'
    | 'key-level-first'
    | 'budget'
    | 'no-target'
    | 'busy'
    | 'headroom';
  readonly reason: string;
  /** dominant-key: the key the key-level planner should act on. */
  readonly key?: string;
  readonly hotspot: string | null;
}

/** A node's load now and once the plan's moves are done (Cruise Control's load before / after). */
export interface NodeLoadForecast {
  readonly node: string;
  /** Ops/s the node serves at most; null when unknown. */
  readonly capacity: number | null;
  readonly opsBefore: number;
  readonly opsAfter: number;
  /** ops / capacity; null when capacity is unknown. */
  readonly utilizationBefore: number | null;
  readonly utilizationAfter: number | null;
}

/** One tick's plan. */
export interface RangePlan {
  readonly at: number;
  readonly tableVersion: number;
  readonly proposals: readonly Proposal[];
  readonly deferred: readonly Deferral[];
  /** Shards whose request keys should be sampled for split points (SplitSampler.watchOnly). */
  readonly watch: readonly ShardId[];
  /** Per node, load now and predicted once the proposals are done. */
  readonly nodes: readonly NodeLoadForecast[];
  /** Moves left in this hour's budget, and running now. */
  readonly budget: { readonly movesLeftThisHour: number; readonly movesInFlight: number };
}
