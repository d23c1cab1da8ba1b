/**
 * A hotspot: what the detector raised, why, and how bad it is. The planner
 * picks a mitigation by `kind` and `heat` (DESIGN.md, "Mitigate"); operators
 * read `summary` and `evidence`.
 */

/** What is hot. */
export const HotspotKind = {
  /** One key carries most of its shard's load. */
  HotKey: 'hot-key',
  /** A shard (a key range) is hot, with the load spread over many keys. */
  HotRange: 'hot-range',
  /** Several warm shards on one node; the node is hot though no single shard is. */
  HotNode: 'hot-node',
  /** One tenant dominates the total load. */
  NoisyTenant: 'noisy-tenant',
  /** Structural skew (Gini) across shards: worth a look, never a page. */
  SkewWarning: 'skew-warning',
} as const;
/** One of {@link HotspotKind}. */
export type HotspotKind = (typeof HotspotKind)[keyof typeof HotspotKind];

/** How bad: `info` never pages; `warning` and `critical` do. */
export const Severity = {
  /** Skew without impact (or a structural warning): shown, never paged. */
  Info: 'info',
  /** Skew with impact: p99 over the SLO, queue depth rising, or utilization near capacity. */
  Warning: 'warning',
  /** Skew with severe impact: p99 far over the SLO, or requests being shed. */
  Critical: 'critical',
} as const;
/** One of {@link Severity}. */
export type Severity = (typeof Severity)[keyof typeof Severity];

/** Orders severities, so `SEVERITY_RANK[a] > SEVERITY_RANK[b]` means a is worse. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { info: 0, warning: 1, critical: 2 };

/** Which of reads or writes dominates the subject's load; decides the mitigation (seed 001, decision tree). */
export type Heat = 'read-hot' | 'write-hot';

/** An impact signal, as the impact rules evaluate it on the subject's shard, node or tenant. */
export const ImpactSignal = {
  /** p99 above the SLO (times `p99OverSlo`). */
  P99OverSlo: 'p99-over-slo',
  /** Queue depth growing for 3 s without falling, by `queueDepthMin` each second (classify.ts queueRising). */
  QueueRising: 'queue-rising',
  /** Utilization at or above `nearCapacity`. */
  NearCapacity: 'near-capacity',
  /** Shed requests at or above `criticalShedRatio` of the subject's requests. */
  Shedding: 'shedding',
} as const;
/** One of {@link ImpactSignal}. */
export type ImpactSignal = (typeof ImpactSignal)[keyof typeof ImpactSignal];

/**
 * The numbers that tripped a rule, by name (e.g. `rate`, `medianKeyRate`,
 * `shareOfShard`, `shardP99Ms`, `sloP99Ms`, `utilization`). Rates are per
 * second; null where a number is unknown (e.g. utilization without capacity).
 */
export type Evidence = Readonly<Record<string, number | null>>;

/**
 * One hotspot. Immutable: the detector hands out a new object whenever it
 * changes, so a reference kept from an event keeps its values.
 */
export interface Hotspot {
  /** `<kind>:<subject>@<onset>`: stable while the hotspot lasts, new for the next episode of the same subject. */
  readonly id: string;
  readonly kind: HotspotKind;
  /** The key, shard id, node id or tenant; `shards` for a skew warning. */
  readonly subject: string;
  /** The shard concerned (hot key, hot range), else null. */
  readonly shard: string | null;
  /** The node concerned (hot key, hot range, hot node), else null. */
  readonly node: string | null;
  readonly heat: Heat;
  readonly severity: Severity;
  /** The impact signals present at the latest evaluation. */
  readonly impact: readonly ImpactSignal[];
  /** The latest evaluation's numbers. */
  readonly evidence: Evidence;
  /** One sentence for operators: what the latest tick saw, or, once cleared, that it cleared. */
  readonly summary: string;
  /** Estimated onset: the first tick the raw condition held (ms since the epoch). The load began within one window before it. */
  readonly onset: number;
  /** The tick the hotspot was raised (ms since the epoch). */
  readonly detectedAt: number;
  /** The tick it cleared, or null while active. */
  readonly clearedAt: number | null;
}

/** What a tick changed. */
export interface DetectorEvent {
  /** `updated` = severity or heat changed (evidence alone refreshes silently; read it from `active()`). */
  readonly type: 'raised' | 'updated' | 'cleared';
  readonly hotspot: Hotspot;
  /** The tick's `now`. */
  readonly at: number;
}
