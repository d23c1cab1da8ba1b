/**
 * Which tenants telemetry keeps by name. Each tenant costs a full set of
 * counters (≈ 400 KB of rings, see counters.ts) and a share of every
 * second's rotation, and tenant names come from clients (AUTH usernames,
 * X-Tenant, key prefixes): unbounded, 10,000 names cost 2.6 GB and made p99
 * 20× worse. So the table is bounded:
 *
 * - pinned names (`default`, and every tenant declared in config) always
 *   have their own counters;
 * - at most `maxTracked` other names do, first come first served; the rest
 *   are counted together under `other` (OTHER_TENANT), exactly;
 * - a tracked name idle for `idleSeconds` is evicted, and once a second the
 *   heaviest name inside `other` (from the measured sample, noteOther)
 *   replaces the lightest tracked one when it carried more than twice its
 *   load (and at least MIN_PROMOTE_OPS) in the second that ended: the
 *   busiest tenants end up by name. An evicted tenant's history is added to
 *   `other`, so the tenants' totals always add up to every request.
 *
 * Callers cache indexes (a session's tenant, key-prefix names) and check
 * `epoch`, which moves whenever a slot changes hands, before using one:
 * an integer compare on the hot path instead of a lookup.
 */
import type { EntityCounters } from './counters.js';
import { Field } from './counters.js';

/** The one entity that sums every tenant not tracked by name. Not a tenant: never raised as one. */
export const OTHER_TENANT = 'other';

/** The tenant of connections that named none. */
export const DEFAULT_TENANT = 'default';

/** Default of `maxTracked`. */
export const DEFAULT_MAX_TRACKED_TENANTS = 32;
/** Default of `idleSeconds`. */
export const DEFAULT_TENANT_IDLE_SECONDS = 60;

/** Names inside `other` remembered per second as promotion candidates. */
const MAX_CANDIDATES = 1024;
/** Requests in a second a name inside `other` needs to be promoted: one-off names never churn the table. */
const MIN_PROMOTE_OPS = 10;
/** Promotions per second at most: a burst of new heavy names settles over a few seconds. */
const MAX_SWAPS = 8;

/** Bounds of the tenant table. */
export interface TenantTableOptions {
  /** Tenants tracked by name besides the pinned ones (default 32). */
  readonly maxTracked?: number;
  /** Evict a tracked tenant after this many seconds without a request (default 60). */
  readonly idleSeconds?: number;
  /** Always tracked, never evicted (the declared tenants); `default` always is. */
  readonly pinned?: readonly string[];
  /** Only pinned names are tenants: `index` answers -1 for any other name (declared tenants). */
  readonly closed?: boolean;
}

/**
 * Tenant name → counter index, bounded (see the file header).
 *
 * @example
 * const table = new TenantTable(counters, { maxTracked: 2 });
 * table.index('a'); table.index('b'); // own slots
 * table.index('c') === table.other // true: the table is full
 */
export class TenantTable {
  /** Moves whenever an index changes owner: re-resolve cached indexes when it differs. */
  epoch = 0;
  /** The index of `other`; -1 until a name first overflows the table. */
  other = -1;
  readonly maxTracked: number;
  readonly idleSeconds: number;
  readonly closed: boolean;
  readonly #counters: EntityCounters;
  readonly #pinned: Set<string>;
  #tracked = 0;
  readonly #candidates = new Map<string, number>();

  constructor(counters: EntityCounters, options: TenantTableOptions = {}) {
    this.#counters = counters;
    this.maxTracked = options.maxTracked ?? DEFAULT_MAX_TRACKED_TENANTS;
    this.idleSeconds = options.idleSeconds ?? DEFAULT_TENANT_IDLE_SECONDS;
    this.closed = options.closed ?? false;
    this.#pinned = new Set([DEFAULT_TENANT, ...(options.pinned ?? [])]);
    this.#pinned.delete(OTHER_TENANT);
  }

  /** Names tracked besides the pinned ones and `other`. */
  get tracked(): number {
    return this.#tracked;
  }

  /**
   * The counter index of a tenant: its own slot if it has or can get one,
   * else `other`; -1 for a name that is no tenant of a closed table.
   * Not for the hot path (a Map lookup): cache it with `epoch`.
   */
  index(name: string): number {
    const known = this.#counters.find(name);
    if (known !== undefined) return known;
    // Pinned names get their counters on first use, so a quiet one costs nothing.
    if (this.#pinned.has(name)) return this.#counters.index(name);
    if (this.closed) return -1;
    if (this.#tracked >= this.maxTracked || name === OTHER_TENANT) return this.#otherIndex();
    this.#tracked++;
    return this.#counters.index(name);
  }

  /** A measured request of tenant `name` was counted under `other` (a promotion candidate). */
  noteOther(name: string, weight: number): void {
    const c = this.#candidates;
    const n = c.get(name);
    if (n !== undefined) c.set(name, n + weight);
    else if (c.size < MAX_CANDIDATES) c.set(name, weight);
  }

  /**
   * After the counters moved to `second` (once per second): evicts idle
   * tenants and promotes the heaviest names inside `other`.
   */
  rebalance(second: number): void {
    const counters = this.#counters;
    const names = counters.names;
    let changed = false;
    for (let e = 0; e < names.length; e++) {
      const name = names[e]!;
      if (name === '' || e === this.other || this.#pinned.has(name)) continue;
      if (counters.lastActive(e) < second - this.idleSeconds) {
        counters.release(e, this.#otherIndex());
        this.#tracked--;
        changed = true;
      }
    }
    if (this.#candidates.size > 0) {
      const ranked = [...this.#candidates].sort((a, b) => b[1] - a[1]);
      this.#candidates.clear();
      for (let i = 0; i < ranked.length && i < MAX_SWAPS; i++) {
        const [name, ops] = ranked[i]!;
        if (counters.find(name) !== undefined) continue;
        if (this.#tracked >= this.maxTracked) {
          const victim = this.#lightest(second - 1);
          if (victim.e < 0 || ops < MIN_PROMOTE_OPS || !(ops > 2 * victim.ops)) break;
          counters.release(victim.e, this.#otherIndex());
          this.#tracked--;
        }
        this.#tracked++;
        counters.index(name);
        changed = true;
      }
    }
    if (changed) this.epoch++;
  }

  #otherIndex(): number {
    if (this.other < 0) this.other = this.#counters.index(OTHER_TENANT);
    return this.other;
  }

  // The tracked (not pinned) tenant with the fewest requests in `second`.
  #lightest(second: number): { e: number; ops: number } {
    const counters = this.#counters;
    const names = counters.names;
    let best = { e: -1, ops: Infinity };
    for (let e = 0; e < names.length; e++) {
      const name = names[e]!;
      if (name === '' || e === this.other || this.#pinned.has(name)) continue;
      const ops = counters.value(e, Field.Reads, second) + counters.value(e, Field.Writes, second);
      if (ops < best.ops) best = { e, ops };
    }
    return best;
  }
}
