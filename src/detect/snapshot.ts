/**
 * What the detector sees each tick: load per shard, node, tenant and heavy key
 * over a short window. Telemetry builds it; the detector is a pure function of
 * a sequence of these (plus its own hysteresis state), so tests are exact.
 */

/** Load of one shard, node or tenant over the window. Rates are per second. */
export interface EntityLoad {
  /** Shard id, node id or tenant name. */
  readonly id: string;
  readonly reads: number;
  readonly writes: number;
  /** Bytes in + out per second. */
  readonly bytes: number;
  readonly errors: number;
  /** Requests refused with a retry-after (BUSY / 503) per second. */
  readonly shed: number;
  /** p99 latency over the window (ms), as the router saw it. */
  readonly p99Ms: number;
  /** Requests waiting or in flight at the end of the window. */
  readonly queueDepth: number;
  /** ops / capacity, or null when capacity is unknown. */
  readonly utilization: number | null;
  /**
   * Nodes of unknown capacity: the most ops it was sent in one second over
   * the last minute (shed aside), a lower bound of its capacity.
   */
  readonly peakOps?: number;
}

/** A shard's load, with where it lives and what it covers. */
export interface ShardLoad extends EntityLoad {
  readonly node: string;
  /** The shard's key range as text [start, end); end null = end of keyspace. */
  readonly range: readonly [string, string | null];
}

/** A heavy key, as the sketches estimate it. Rates are per second. */
export interface KeyLoad {
  /** The key as text (binary bytes escaped). */
  readonly key: string;
  readonly shard: string;
  readonly node: string;
  readonly reads: number;
  readonly writes: number;
  readonly bytes: number;
  /** Upper bound of the estimate's overcount (ops/s). */
  readonly error: number;
  /**
   * reads + writes per second over the last few hundred ms, when known: a
   * key that began within the window reads here at its rate, where the
   * window's average dilutes it with the time before it began.
   */
  readonly recent?: number;
  /** The reads of `recent`: with it, the key's heat as it is now (classify.ts, splitNow). */
  readonly recentReads?: number;
}

/** One detector tick's input. */
export interface TickSnapshot {
  /** End of the window, ms since the epoch. */
  readonly now: number;
  readonly windowMs: number;
  readonly shards: readonly ShardLoad[];
  readonly nodes: readonly EntityLoad[];
  readonly tenants: readonly EntityLoad[];
  /** Heaviest keys by reads + writes, descending (at most the top-K size). */
  readonly topKeys: readonly KeyLoad[];
  /** Estimated distinct keys touched in the window (HyperLogLog). */
  readonly distinctKeys: number;
  /** Total key operations per second in the window. */
  readonly totalKeyOps: number;
  /** The latency objective the impact rules compare p99 against (ms). */
  readonly sloP99Ms: number;
}
