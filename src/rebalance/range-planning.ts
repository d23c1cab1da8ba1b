/**
 * Range planning in a running process: the split sampler on the router's
 * request path and the range planner over the detector's hotspots, ticked
 * together after each detector firing. It plans and points the sampler at
 * the hot ranges; `tick()` returns the plan, which `range-plan-runner.ts`
 * runs through the executor (proposals in order, each after the one its
 * `after` names, under the automation mode), and `GET /proposals` shows the
 * latest one.
 */
import type { Clock } from '../clock.js';
import type { Hotspot } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import type { Instrumentation } from '../router/instrumentation.js';
import { RangePlanner } from './range-planner.js';
import type {
  RangePlan,
  RangePlannerInputs,
  RangePlannerSettings,
  RebalanceEvent,
} from './range-planner-io.js';
import { SplitSampler } from './split-sampler.js';

/** What range planning reads: the same sources as the key planner, plus the router's table. */
export interface RangePlanningDeps {
  readonly clock: Clock;
  /** The router: its table in force, and its instrumentation (where the sampler is hooked; none: no split points). */
  readonly router: { readonly table: RoutingTable; readonly instrumentation: Instrumentation | undefined };
  readonly hotspots: () => readonly Hotspot[];
  readonly snapshot: () => TickSnapshot | undefined;
  /** Ops/s every node serves (config `capacity`, embedded nodes); null = unknown. */
  readonly capacity: number | null;
  readonly settings?: Partial<RangePlannerSettings>;
  /** What happened before a restart, for the hysteresis. */
  readonly history?: readonly RebalanceEvent[];
  /** Anything else the planner can use (movesInFlight from the move engine, cheaperAction from the executor, shardBytes, servedCommands from the backends). */
  readonly extra?: Pick<
    RangePlannerInputs,
    'movesInFlight' | 'cheaperAction' | 'shardBytes' | 'nodeUp' | 'servedCommands'
  >;
}

/**
 * Per node, the data commands its backend has executed so far (`commandsProcessed`, which
 * MemoryBackend and RedisBackend keep): the planner's `servedCommands` input. Nodes whose
 * backend keeps no counter are left out.
 */
export function servedCommandsOf(backends: ReadonlyMap<string, object>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [node, b] of backends) {
    const n = (b as { commandsProcessed?: unknown }).commandsProcessed;
    if (typeof n === 'number') out.set(node, n);
  }
  return out;
}

/** A watched shard's sampling, as GET /proposals shows it. */
export interface SamplingView {
  readonly shard: string;
  readonly recorded: number;
  readonly stride: number;
  readonly watchedMs: number;
}

/**
 * The sampler and the planner of one process.
 *
 * @example
 * const rebalance = new RangePlanning({ clock, router, hotspots: () => detector.active(),
 *   snapshot: () => monitor.snapshot, capacity: config.capacity, settings: config.rebalance });
 * // after each detector firing:
 * const plan = rebalance.tick(); // execute plan.proposals (integrator)
 */
export class RangePlanning {
  readonly sampler: SplitSampler;
  readonly planner: RangePlanner;
  #latest: RangePlan | undefined;

  constructor(deps: RangePlanningDeps) {
    this.sampler = new SplitSampler({ clock: deps.clock });
    const ins = deps.router.instrumentation;
    if (ins !== undefined) ins.splitSampler = this.sampler;
    const capacity = deps.capacity;
    this.planner = new RangePlanner(
      {
        clock: deps.clock,
        table: () => deps.router.table,
        hotspots: deps.hotspots,
        snapshot: deps.snapshot,
        ...(ins === undefined
          ? {}
          : { splitPoint: (shard, criteria) => this.sampler.decide(shard, criteria) }),
        nodeCapacity: () => capacity,
        ...deps.extra,
      },
      deps.settings,
      deps.history,
    );
  }

  /** Plans, points the sampler at the ranges the plan watches, and returns the plan. Executes nothing. */
  tick(): RangePlan {
    const plan = this.planner.tick();
    this.sampler.watchOnly(plan.watch);
    this.sampler.tick();
    this.#latest = plan;
    return plan;
  }

  /** The latest plan; plans once if there is none yet. */
  latest(): RangePlan {
    return this.#latest ?? this.tick();
  }

  /** The shards being sampled for split points. */
  sampling(): SamplingView[] {
    return this.sampler
      .watched()
      .map((shard) => ({ shard, ...this.sampler.stats(shard)! }))
      .sort((a, b) => (a.shard < b.shard ? -1 : 1));
  }
}
