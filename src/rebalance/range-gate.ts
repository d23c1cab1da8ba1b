/**
 * The router seam of a live move's cutover: while a gate is in place, new
 * requests that touch the moving shard (a keyed command, a multi-key command
 * with any key in it, a policy's `router.forward`) wait here instead of going
 * to a node, and so does everything a session sends after one of its
 * requests was held, so a client's pipeline is not reordered. Commands sent
 * to every node (DBSIZE, FLUSHALL) wait too: they would see the range on two
 * nodes or on none.
 *
 * Releasing runs the held requests in arrival order, through the router
 * again, onto whatever the routing table says then: the new owner after the
 * switch, the old one when the cutover gave up. Nothing is refused.
 */
import type { ShardId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';

/** A held request: runs it again through the router. */
type Held = { readonly run: () => void; readonly since: number };

/** Holds requests for one shard's range while a cutover is under way. */
export class RangeGate {
  readonly shard: ShardId;
  readonly #now: () => number;
  #held: Held[] = [];
  /** Sessions with a held request: what they send next must wait behind it. */
  readonly #sessions = new Set<object>();
  #released = false;

  /** `now` in ms, for how long each request waited (performance.now by default). */
  constructor(shard: ShardId, now: () => number = () => performance.now()) {
    this.shard = shard;
    this.#now = now;
  }

  /** Requests held now. */
  get size(): number {
    return this.#held.length;
  }

  /** Whether a request of `session` to shard `at` of `table` must wait. */
  mustHold(session: object | undefined, table: RoutingTable, at: number): boolean {
    return (
      table.shards[at]!.id === this.shard ||
      (session !== undefined && this.#sessions.size !== 0 && this.#sessions.has(session))
    );
  }

  /** Whether a multi-key request of `session` whose keys are on shards `at` of `table` must wait. */
  mustHoldAny(session: object, table: RoutingTable, at: Int32Array): boolean {
    if (this.#sessions.size !== 0 && this.#sessions.has(session)) return true;
    for (let k = 0; k < at.length; k++) if (table.shards[at[k]!]!.id === this.shard) return true;
    return false;
  }

  /** Keeps `run` until {@link release}; a released gate runs it at once. */
  hold(session: object | undefined, run: () => void): void {
    if (this.#released) return run();
    if (session !== undefined) this.#sessions.add(session);
    this.#held.push({ run, since: this.#now() });
  }

  /**
   * Runs every held request, oldest first, and returns how long each waited
   * (ms). The router must have taken the gate away first, so they pass.
   */
  release(): number[] {
    this.#released = true;
    const held = this.#held;
    this.#held = [];
    this.#sessions.clear();
    const now = this.#now();
    const waited = held.map((h) => now - h.since);
    for (const h of held) h.run();
    return waited;
  }
}
