/**
 * What a key policy says, and the remedies that carry it out.
 *
 * A policy is plain data (it travels over HTTP and, later, through the config
 * store): which remedies apply to one key, with their settings. The policy
 * manager (`policies.ts`) turns it into a chain of stages, one per remedy, in
 * a fixed order, and installs the chain as the key's handler in the router's
 * key-policy table:
 *
 *   throttle → aggregate → salt → replicas → cache (+ coalescing) → plain route
 *
 * Admission first (a throttled request costs nothing further); counter
 * batching before salting (a batch's one INCRBY lands on one sub-key); copies
 * before the cache (a cached read of a replicated key is spread already).
 * Each stage passes what it does not serve to the next.
 */
import type { Clock } from '../clock.js';
import type { KeyHandler } from '../router/key-policies.js';
import type { Router } from '../router/router.js';

/** `strong`: never stale (replicas, not the cache); `bounded`: reads may be stale up to the cache's `maxStaleMs`. */
export type Consistency = 'bounded' | 'strong';

/** Read-hot key: a per-router coherent cache of the key's reads. */
export interface CacheSettings {
  /** Worst-case staleness for writes that bypass this router; 0 = never cache. */
  readonly maxStaleMs: number;
  /** Serve an entry past its freshness (within maxStaleMs) while one refresh is in flight. */
  readonly staleWhileRevalidate: boolean;
  /**
   * Keep the value of a plain `SET key value` at its acknowledgement, so a key
   * that is also written often stays cached (every fill would race the next
   * write). Absent: off; the HTTP API and the planner default it on.
   */
  readonly writeThrough?: boolean | undefined;
}

/** Read-hot key that must never be stale: copies on other shards, reads spread over them. */
export interface ReplicaSettings {
  /** Copies besides the key itself. */
  readonly count: number;
}

/** Write-hot counter: INCR and friends batched into one INCRBY. */
export interface AggregateSettings {
  /** Longest a batch waits before it is sent. */
  readonly flushMs: number;
  /** `sync`: replies after the batch is acknowledged (exact); `async`: replies before (may lose ≤ flushMs on a crash). */
  readonly mode: 'sync' | 'async';
}

/** Write-hot counter still too hot for one node: spread over sub-keys on several nodes. */
export interface SaltSettings {
  readonly buckets: number;
}

/** Per-key admission: a token bucket. */
export interface ThrottleSettings {
  readonly opsPerSec: number;
  /** Bucket size: requests that may arrive at once. */
  readonly burst: number;
}

/** One key's policy. An absent remedy is off. */
export interface KeyPolicy {
  readonly consistency: Consistency;
  readonly throttle?: ThrottleSettings | undefined;
  readonly aggregate?: AggregateSettings | undefined;
  readonly salt?: SaltSettings | undefined;
  readonly replicas?: ReplicaSettings | undefined;
  readonly cache?: CacheSettings | undefined;
  /** Concurrent reads of the key share one backend read (on with the cache unless set false). */
  readonly coalesce?: boolean | undefined;
}

/** The remedies, in the order their stages run. */
export const REMEDY_ORDER = ['throttle', 'aggregate', 'salt', 'replicas', 'cache'] as const;
/** One remedy's name, which is also its field in {@link KeyPolicy}. */
export type RemedyName = (typeof REMEDY_ORDER)[number];

/** What stages may use: the router (table, backends, plain route), time, and shared per-router state. */
export interface MitigationContext {
  readonly router: Router;
  readonly clock: Clock;
}

/** One remedy's stage for one key. */
export interface RemedyStage extends KeyHandler {
  /** What it is doing now, for GET /policies and the actions log (counts, hit ratio, ...). */
  status(): Record<string, unknown>;
  /**
   * Ends the remedy for this key, leaving the key as a plain key holding the
   * right value: a pending batch is flushed, salted sub-keys are folded back,
   * copies are removed, cached entries dropped. Requests for the key are held
   * by the manager until it resolves, so nothing overtakes it.
   */
  close(): Promise<void>;
}

/** Builds one remedy's stage. */
export interface Remedy<N extends RemedyName = RemedyName> {
  readonly name: N;
  /**
   * The stage for `key` under `policy` (whose `policy[name]` is set); `next` is
   * the stage after it in REMEDY_ORDER, or the plain route.
   */
  build(policy: KeyPolicy, key: Buffer, next: KeyHandler, ctx: MitigationContext): RemedyStage;
}
