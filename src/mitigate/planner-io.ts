/**
 * The planner's inputs and outputs: its settings (config `mitigation`), what
 * it reads each tick, and what it asks the executor for. Kept apart from the
 * planner so the config, the executor's wiring and tests can name them
 * without the decision logic.
 */
import type { Clock } from '../clock.js';
import type { Evidence, Hotspot } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import type { ActionKind, ActionRecord, ActionSubject, Measurement, Prediction } from './action.js';
import type { Consistency } from './policy.js';
import type { MeasureContext } from './verify.js';

/** What the planner decides with; `config.mitigation` gives them (src/config.ts). */
export interface PlannerSettings {
  /** Key patterns (Redis glob) of counters: aggregated without a probe, and the only keys ever salted. */
  readonly counters: readonly string[];
  /** Key patterns whose reads must never be stale: replicas instead of the cache. */
  readonly strong: readonly string[];
  /** Subjects (key patterns, tenant names, node ids) the planner never acts on. */
  readonly doNotTouch: readonly string[];
  /** An action is reverted once its subject has had no hotspot for this long (ms). */
  readonly hysteresisMs: number;
  /** How long after an action is applied its effect is measured (ms). */
  readonly verifyDelayMs: number;
  /**
   * How long a hotspot's impact must have lasted, seen at every tick, before
   * a rung that refuses requests (throttle, quota, shedding) is taken (ms). The detector reads p99 over a 1-s window, so one stall (a GC, a
   * neighbour taking the CPU for a second) keeps it over the SLO for a second
   * after: without this, such a second throttled a healthy key to the rate
   * its node managed during the stall.
   */
  readonly impactHoldMs: number;
  /** After a refused or failed request, how long before the same action is asked again (ms); the executor's per-subject cooldown. */
  readonly cooldownMs: number;
  /** Most actions asked for in any minute (the executor caps the same). */
  readonly maxActionsPerMinute: number;
  /** Utilization throttles and shedding aim at: 0.7 leaves the 20–30 % headroom of seed 000. */
  readonly targetUtilization: number;
}

/** The defaults (config.ts fills `mitigation` with these). */
export const DEFAULT_PLANNER_SETTINGS: PlannerSettings = Object.freeze({
  counters: [],
  strong: [],
  doNotTouch: [],
  hysteresisMs: 30_000,
  verifyDelayMs: 5_000,
  impactHoldMs: 1_500,
  cooldownMs: 10_000,
  maxActionsPerMinute: 60,
  targetUtilization: 0.7,
});

/**
 * Settings of the remedies the planner asks for. Issue 13's defaults:
 * maxStaleMs 1,000 and flushMs 2 ms; two copies spread a read-hot key over
 * three nodes.
 *
 * Aggregation's flush interval is picked per counter: long enough for one
 * INCRBY per `writesPerIncrement` increments (issue 13's target, 0.01) at the
 * counter's rate, within [flushMs, maxFlushMs]. bench/counters measured 0.015
 * writes per increment at 20k INCR/s with 2 ms and 0.008 with 5 ms; 5 ms at
 * most keeps what a batch adds to an INCR's latency to a quarter of the
 * default 20 ms SLO.
 */
export const PLANNED_REMEDIES = Object.freeze({
  cache: Object.freeze({
    maxStaleMs: 1_000,
    staleWhileRevalidate: false,
    writeThrough: true,
    coalesce: true,
  }),
  replicate: Object.freeze({ count: 2 }),
  aggregate: Object.freeze({ flushMs: 2, maxFlushMs: 5, writesPerIncrement: 0.01, mode: 'sync' as const }),
});

/**
 * Which keys of a read-hot hot range (or hot node) the planner caches: its
 * warm keys. A key qualifies with reads of at least `shareOfMeanShard` of the
 * mean shard's rate (reads + writes): caching it takes a twentieth of a
 * shard's fair load off its backend, where the keys below that are the Zipf
 * tail that hashing already spreads evenly. A hotspot's own heaviest
 * `perHotspot` come first, then such keys anywhere (docs/planner.md, "Warm
 * keys"); `max` warm caches in place at once bound what a read skew can ask
 * for (each cache holds one value per key).
 */
export const WARM_KEYS = Object.freeze({ shareOfMeanShard: 0.05, perHotspot: 16, max: 64 });

/** A key and its reads per second, as heavyKeys reports it. */
export interface HeavyKey {
  readonly key: string;
  readonly reads: number;
}

/** The flush interval for a counter at `incrementsPerSec` (see PLANNED_REMEDIES). */
export function flushMsFor(incrementsPerSec: number): number {
  const { flushMs, maxFlushMs, writesPerIncrement } = PLANNED_REMEDIES.aggregate;
  if (!(incrementsPerSec > 0)) return maxFlushMs;
  const wanted = Math.ceil(1000 / (writesPerIncrement * incrementsPerSec));
  return Math.min(maxFlushMs, Math.max(flushMs, wanted));
}

/** A key's INCR share (RouterTelemetry.commandMix). */
export interface CommandMix {
  /** INCR / INCRBY / DECR / DECRBY per second. */
  readonly increments: number;
  /** All writes per second. */
  readonly writes: number;
}

/** What the planner reads each tick. Only `clock`, `hotspots` and `actions` are required. */
export interface PlannerInputs {
  readonly clock: Clock;
  /** The detector's active hotspots (Detector.active). */
  readonly hotspots: () => readonly Hotspot[];
  /** The executor's action log (in place and past). */
  readonly actions: () => readonly ActionRecord[];
  /**
   * Whether an action is in force. Default: not reverted, and pending,
   * running or done. The executor knows better: an action superseded by a
   * newer one on its subject stays `done` in the log but is no longer in
   * force (`(a) => executor.get(a.id) !== undefined && executor.status(a.id) !== null`,
   * or a check of Executor.activeOn).
   */
  readonly inForce?: (action: ActionRecord) => boolean;
  /**
   * The action kinds the executor can run (Executor.kinds). A rung of
   * another kind is skipped, so a process without, say, salting climbs from
   * aggregation straight to throttling rather than asking for salting forever.
   * Default: every kind.
   */
  readonly kinds?: () => readonly ActionKind[];
  /** A key's policy consistency, if it has a policy (PolicyManager.get(key).policy.consistency). */
  readonly consistencyOf?: (key: string) => Consistency | undefined;
  /** What the remedy of an action in force reports of itself (Executor.status(action.id)). */
  readonly status?: (action: ActionRecord) => Readonly<Record<string, unknown>> | null;
  /** The detector's latest snapshot (Monitor.snapshot): node capacities, tenants' and nodes' p99. */
  readonly snapshot?: () => TickSnapshot | undefined;
  /** A tenant's priority, 0 (shed first) to 100; default 1 (docs/throttling.md). */
  readonly tenantPriority?: (tenant: string) => number;
  /** A key's INCR share (RouterTelemetry.commandMix); null or absent when unknown: aggregation is then a probe. */
  readonly commandMix?: (key: string) => CommandMix | null;
  /**
   * The heaviest keys by reads per second over the detector's window, within
   * a shard or a node (no scope: anywhere), as text (keyText); truncated keys
   * left out. Without it, only hot keys are cached (no warm keys).
   */
  readonly heavyKeys?: (scope: { readonly shard?: string; readonly node?: string }) => readonly HeavyKey[];
  /** A measurement in place of the default (verify.ts); undefined falls back to it. */
  readonly measure?: (metric: string, context: MeasureContext) => number | null | undefined;
}

/**
 * Ask the executor to take an action: an executor ActionRequest
 * (src/mitigate/executor.ts) with `by: 'planner'`, plus where it stands in
 * the ladder.
 */
export interface PlannedAction {
  readonly type: 'apply';
  readonly kind: ActionKind;
  readonly subject: ActionSubject;
  /** The settings to apply: the key policy part (KeyPolicy field) or the quota / shedding numbers. */
  readonly settings: Readonly<Record<string, unknown>>;
  readonly reason: string;
  readonly hotspot: { readonly id: string; readonly evidence: Evidence };
  /** What it should change; absent when nothing can be predicted (no SLO to judge latency by). */
  readonly prediction?: Prediction | undefined;
  /** Its place in the subject's ladder, 0 = first. */
  readonly rung: number;
  /** The action whose verdict led here (the rung before), or null. */
  readonly follows: string | null;
}

/** Ask the executor to revert an action of the planner's. */
export interface PlannedRevert {
  readonly type: 'revert';
  readonly actionId: string;
  readonly kind: ActionKind;
  readonly subject: ActionSubject;
  readonly reason: string;
}

/** The planner's judgement of an action, for its record (outcome, measurement, detail). */
export interface Verdict {
  readonly type: 'verdict';
  readonly actionId: string;
  readonly kind: ActionKind;
  readonly subject: ActionSubject;
  readonly outcome: 'effective' | 'ineffective';
  readonly measurement: Measurement;
  readonly detail: string;
}

/** What one tick decided. */
export type PlannerOutput = PlannedAction | PlannedRevert | Verdict;
