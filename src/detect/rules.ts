/**
 * The detector's rules and their defaults, in one place. Each default names
 * where it comes from: one of the four seed documents (/work/shared/seeds/)
 * or, where no seed gives a number, hotshard's own reasoning.
 *
 * Seeds, by the name used below:
 * - seed 000: "Handling Hot-Shard Problems" (detection < 60 s, 20–30 % headroom);
 * - seed 001: "Hot Key Mitigation" (metric thresholds table, alert rules, decision tree);
 * - seed 002: "Hotspots and Skew: When One Shard Takes All the Heat" (2× average, 1,000 QPS);
 * - seed 003: "Hot Partition Detection and Mitigation" (max/median > 10, skew + impact, decision tree).
 *
 * Timing: the targets are detection ≤ 1 s for a hot key (aiming at 0.5 s) and
 * ≤ 5 s for the rest (DESIGN.md), against the seeds' < 60 s. The defaults assume 1-second
 * windows sampled every 250 ms; with other tick rates scale the `*Ticks`
 * rules (e.g. with 1 s ticks: hotKeyRaiseTicks 1 would page on a single
 * window, so keep 2 and accept ≤ 2 s, and set raiseTicks 2–3).
 */
import { ConfigError } from '../errors.js';
import { ImpactSignal } from './hotspot.js';

/**
 * A threshold with hysteresis: a condition starts counting when it passes
 * `raise`, and an active hotspot holds while it stays past `clear` (the lower,
 * less hot, value), so load hovering at the threshold does not flap.
 */
export interface Threshold {
  readonly raise: number;
  readonly clear: number;
}

/** Everything the detector decides with. Rates are per second. */
export interface DetectorRules {
  /**
   * Ticks a hot-key condition must hold before it is raised. 2: a one-tick blip
   * never raises. The monitor gives the second tick 125 ms after the first
   * (Monitor, tickDue), so a key hot from its first window is raised ≤ 500 ms after
   * onset (a 4,000 ops/s key in 10 k req/s: 250–475 ms on a manual clock,
   * test/detect/latency.test.ts). (hotshard; the seeds ask for persistence, seed 003
   * "only split when skew persists", but at their 60 s scale.)
   */
  readonly hotKeyRaiseTicks: number;
  /**
   * Ticks any other condition must hold before it is raised. 8 × 250 ms = 2 s of
   * persistence; with the 1 s window's ramp that detects within ~3 s, inside the
   * 5 s target, while ignoring a couple of seconds of ordinary variance. (hotshard)
   */
  readonly raiseTicks: number;
  /**
   * Ticks an active hotspot must stay below its clear thresholds before it clears
   * (8 × 250 ms = 2 s). Also how long a lower severity or a flipped heat must last
   * before an active hotspot is downgraded or flipped; a heat flipped by a clear
   * margin (80 % of reads, or of writes) takes `hotKeyRaiseTicks` instead.
   * (hotshard; seed 003: "only merge when cold persists")
   */
  readonly clearTicks: number;

  /** Hot key: rate over the median key rate. 10 from seed 001 ("> 10x median key QPS"). */
  readonly keyRateOverMedian: Threshold;
  /**
   * Hot key: absolute floor on the rate (ops/s), so an idle keyspace, where any key
   * beats 10× a near-zero median, raises nothing. 1,000 from seed 002 ("exceeding
   * some threshold like 1,000 queries per second").
   */
  readonly keyRateFloor: Threshold;
  /**
   * Hot key: share of its shard's ops the key must carry. 0.5, "most of its shard's
   * load" (issue 4; seed 003 decision tree: "If one key dominates -> hot key").
   */
  readonly keyShareOfShard: Threshold;
  /**
   * Hot key inside a hot shard: a key carrying this share of a shard that passes
   * the hot-shard rule is a hot key even under the absolute floor, and even when a
   * second hot key shares the shard (two keys at 40 % each explain their shard
   * together). 0.25. (hotshard: seed 003's decision tree read for several keys)
   */
  readonly keyShareOfHotShard: Threshold;

  /** Hot shard: load over the mean shard load. 2 from seed 002 ("exceeds 2× the average load"). */
  readonly shardLoadOverMean: Threshold;
  /** Hot shard: load over the median shard load. 10 from seed 003 ("max / median > 10"). */
  readonly shardLoadOverMedian: Threshold;
  /**
   * Least ops/s a shard, node, tenant or the cluster (skew warning) must carry for its
   * ratios to count. A 1 s count of 50 has ±14 % Poisson noise; below that, ratios
   * mostly measure chance. (hotshard; no seed gives one)
   */
  readonly minRate: Threshold;

  /**
   * Hot node: a "warm" shard carries this much over the mean shard (after removing
   * load already explained by hot keys and hot ranges). 1.5 = three quarters of
   * the way to seed 002's 2×. (hotshard)
   */
  readonly warmShardOverMean: Threshold;
  /** Hot node: warm shards needed on one node ("several"; issue 4). */
  readonly minWarmShards: number;
  /**
   * Hot node: node load over the mean node load (after explained load). 1.25: a node
   * sums its shards, so its ratio moves far less than a shard's. (hotshard)
   */
  readonly nodeLoadOverMean: Threshold;

  /** Noisy tenant: share of all tenants' ops. 0.5 ("dominates"; seed 003's example tenant takes 60 %). */
  readonly tenantShare: Threshold;
  /**
   * Noisy tenant: ops over the next-largest tenant's. 2 from seed 002's 2× rule, applied
   * to the runner-up because a mean over few tenants is mostly the noisy one itself.
   */
  readonly tenantOverRunnerUp: Threshold;

  /** Structural skew warning: Gini of shard ops. 0.8 from seed 001 ("Gini > 0.8: structural skew warning"). */
  readonly giniWarning: Threshold;

  /**
   * Which impact signals count. Impact turns a raised hotspot from `info` into
   * `warning` / `critical` (seed 003: "Page on skew + impact"; "Alerts should detect
   * imbalance + impact"). Default: all of them.
   */
  readonly impactSignals: readonly ImpactSignal[];
  /** Impact: p99 over `p99OverSlo × sloP99Ms`. 1 = the SLO itself (seed 003: "p99>threshold"). */
  readonly p99OverSlo: number;
  /**
   * Critical: p99 at or over this multiple of the SLO. 2 (hotshard; seed 001's 3× is
   * against the cluster's p99, not the objective).
   */
  readonly criticalP99OverSlo: number;
  /**
   * Impact: queue depth counts as rising only from this depth (pipelined clients keep
   * a few requests in flight all the time). 16. (hotshard)
   */
  readonly queueDepthMin: number;
  /**
   * Impact: "rising" = no shallower at any tick of the last `QUEUE_RISE_SPANS` spans
   * of this many ticks (3 × 4 × 250 ms = 3 s), deeper by `queueDepthMin` at the end
   * of each span than at its start, and deeper than at any tick remembered before
   * (classify.ts queueRising). Seed 003: "queue depth rising".
   */
  readonly queueRiseTicks: number;
  /** Impact: utilization at or above this. 0.8 from seed 001 ("> 80%") and seed 000 (20–30 % headroom). */
  readonly nearCapacity: number;
  /** Critical: shed / (ops + shed) at or above this. 0.01 from seed 001 (throttle_rate_spike, critical). */
  readonly criticalShedRatio: number;

  /** Most hotspots `history()` keeps; the oldest cleared ones go first. (hotshard) */
  readonly maxHistory: number;
}

/** A queue must grow over this many spans of `queueRiseTicks` to count as rising (see queueRising). */
export const QUEUE_RISE_SPANS = 3;
/** The detector remembers queue depths for this many times `queueRiseTicks`: the spans, and one before them. */
export const QUEUE_MEMORY = QUEUE_RISE_SPANS + 1;

const t = (raise: number, clear: number): Threshold => Object.freeze({ raise, clear });

/** The defaults; see each field of {@link DetectorRules} for meaning and source. */
export const DEFAULT_DETECTOR_RULES: DetectorRules = Object.freeze({
  hotKeyRaiseTicks: 2,
  raiseTicks: 8,
  clearTicks: 8,
  keyRateOverMedian: t(10, 7.5),
  keyRateFloor: t(1000, 750),
  keyShareOfShard: t(0.5, 0.375),
  keyShareOfHotShard: t(0.25, 0.2),
  shardLoadOverMean: t(2, 1.5),
  shardLoadOverMedian: t(10, 7.5),
  minRate: t(50, 25),
  warmShardOverMean: t(1.5, 1.25),
  minWarmShards: 2,
  nodeLoadOverMean: t(1.25, 1.1),
  tenantShare: t(0.5, 0.4),
  tenantOverRunnerUp: t(2, 1.5),
  giniWarning: t(0.8, 0.7),
  impactSignals: Object.freeze(Object.values(ImpactSignal)),
  p99OverSlo: 1,
  criticalP99OverSlo: 2,
  queueDepthMin: 16,
  queueRiseTicks: 4,
  nearCapacity: 0.8,
  criticalShedRatio: 0.01,
  maxHistory: 1000,
});

const TICK_FIELDS = [
  'hotKeyRaiseTicks',
  'raiseTicks',
  'clearTicks',
  'queueRiseTicks',
  'minWarmShards',
  'maxHistory',
] as const;
const POSITIVE_FIELDS = ['p99OverSlo', 'criticalP99OverSlo', 'nearCapacity', 'criticalShedRatio'] as const;
const THRESHOLD_FIELDS = [
  'keyRateOverMedian',
  'keyRateFloor',
  'keyShareOfShard',
  'keyShareOfHotShard',
  'shardLoadOverMean',
  'shardLoadOverMedian',
  'minRate',
  'warmShardOverMean',
  'nodeLoadOverMean',
  'tenantShare',
  'tenantOverRunnerUp',
  'giniWarning',
] as const;
/** Thresholds that are fractions, so at most 1. */
const SHARE_FIELDS = new Set<string>(['keyShareOfShard', 'keyShareOfHotShard', 'tenantShare', 'giniWarning']);

/**
 * Fills `overrides` with the defaults and validates the result; a bad value throws a
 * ConfigError naming the field and what it accepts.
 * @example const rules = resolveRules({ raiseTicks: 3 });
 */
export function resolveRules(overrides: Partial<DetectorRules> = {}): DetectorRules {
  const rules: DetectorRules = { ...DEFAULT_DETECTOR_RULES, ...overrides };
  const fail = (field: string, accepted: string, got: unknown): never => {
    throw new ConfigError(`detector rule ${field} must be ${accepted} (got ${JSON.stringify(got)})`);
  };
  for (const f of TICK_FIELDS) {
    const v = rules[f];
    if (!Number.isInteger(v) || v < 1) fail(f, 'an integer >= 1', v);
  }
  for (const f of POSITIVE_FIELDS) {
    const v = rules[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(f, 'a finite number > 0', v);
  }
  if (rules.criticalP99OverSlo < rules.p99OverSlo) {
    fail('criticalP99OverSlo', `>= p99OverSlo (${rules.p99OverSlo})`, rules.criticalP99OverSlo);
  }
  if (rules.queueDepthMin < 0 || !Number.isFinite(rules.queueDepthMin)) {
    fail('queueDepthMin', 'a finite number >= 0', rules.queueDepthMin);
  }
  for (const f of THRESHOLD_FIELDS) {
    const v = rules[f] as Threshold | undefined;
    const ok =
      typeof v === 'object' &&
      v !== null &&
      Number.isFinite(v.raise) &&
      Number.isFinite(v.clear) &&
      v.clear >= 0 &&
      v.clear <= v.raise &&
      (!SHARE_FIELDS.has(f) || v.raise <= 1);
    if (!ok) {
      const range = SHARE_FIELDS.has(f) ? 'in [0, 1]' : '>= 0';
      fail(f, `{ raise, clear } with 0 <= clear <= raise, both ${range}`, v);
    }
  }
  const known = new Set<string>(Object.values(ImpactSignal));
  const signals: unknown = rules.impactSignals;
  if (!Array.isArray(signals) || !signals.every((s: unknown) => typeof s === 'string' && known.has(s))) {
    fail('impactSignals', `a list of ${[...known].join(', ')}`, rules.impactSignals);
  }
  return Object.freeze(rules);
}
