/**
 * One router's part in moves coordinated through a shared config store
 * (docs/rebalance.md, "Several routers"):
 *
 * - it keeps its lease in the router registry (renewed every third of it);
 * - as a follower, it holds the range of every other router's cutover hold in
 *   its own RangeGate, waits until every request it sent the source before
 *   has been answered, and acks; it lets the requests go once the hold ends,
 *   after reading from the store where the range is now (the switch's version
 *   is saved in the same transaction that ends the hold). A hold that outlives
 *   its timeout is ended here (expired), which makes a later switch fail, and
 *   the store read again: the router never guesses;
 * - as a mover, it publishes holds, waits for the acks of every live router,
 *   and saves the switch (the {@link CutoverCoordinator} a move is given);
 * - it takes over the open moves of routers whose lease ran out.
 */
import type { EventBus } from '../control/events.js';
import { ErrorCode, HotshardError } from '../errors.js';
import { nodeId, shardId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import {
  SwitchUnknown,
  type CutoverCoordinator,
  type HoldGrant,
  type HoldRequest,
} from '../rebalance/cutover-hold.js';
import { RangeGate } from '../rebalance/range-gate.js';
import type { Router } from '../router/router.js';
import { HoldLost, HoldState, VersionConflict, type ConfigStore, type CutoverHold } from './store.js';

/** How often the acks are read while a mover waits for them (ms). */
const ACK_POLL_MS = 5;
/** Pause between tries of a store call a held range waits on (ms). */
const RETRY_MS = 200;
/** How often a switch whose save went unanswered asks for its hold's state (every RETRY_MS: 30 s). */
const UNKNOWN_TRIES = 150;
/** Ended holds remembered, so a list read before one ended does not take it again. */
const REMEMBERED = 1_000;

/** What {@link StoreCutover} works with. */
export interface StoreCutoverOptions {
  readonly store: ConfigStore;
  /** This router's id in the registry. */
  readonly routerId: string;
  readonly leaseMs: number;
  readonly router: Router;
  /** Saves `table` with `hold` switched in the same transaction, then installs it (StoreLink.commit). */
  readonly commit: (table: RoutingTable, reason: string, hold: string) => Promise<void>;
  /** Reads the routing version in force from the store and installs it if newer; rejects when the store does not answer. */
  readonly refresh: () => Promise<void>;
  readonly onError: (err: unknown) => void;
  readonly events?: EventBus | undefined;
  /** Resumes a journaled move (ShardActions.resume): how a dead router's open move is taken over. */
  readonly resume?: ((state: unknown) => Promise<unknown>) | undefined;
  /** Told of each move taken over from a dead router. */
  readonly onAdopt?: ((move: string, from: string) => void) | undefined;
}

interface Taken {
  readonly hold: CutoverHold;
  readonly gate: RangeGate;
  timer: NodeJS.Timeout | undefined;
  ending: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A router's registry lease, its holds of other routers' cutovers, and the coordinator of its own. */
export class StoreCutover implements CutoverCoordinator {
  readonly #o: StoreCutoverOptions;
  readonly #taken = new Map<string, Taken>();
  readonly #ended = new Set<string>();
  #address = 'starting';
  #heartbeat: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #closed = false;
  #adopting = false;

  constructor(options: StoreCutoverOptions) {
    this.#o = options;
  }

  /** This router's id in the registry. */
  get routerId(): string {
    return this.#o.routerId;
  }

  /** Holds this router keeps for other routers' cutovers now. */
  get holding(): number {
    return this.#taken.size;
  }

  /**
   * Registers the router and starts following holds. Resolves once the holds
   * in force were read and taken, so a router that starts during another's
   * cutover holds its range before it serves.
   */
  async start(): Promise<void> {
    await this.#renew();
    this.#heartbeat = setInterval(
      () =>
        void this.#renew()
          .then(() => this.#adopt())
          .catch(this.#o.onError),
      this.#o.leaseMs / 3,
    );
    this.#heartbeat.unref();
    const first = await this.#o.store.holds.active();
    for (const h of first) this.#take(h);
    this.#unwatch = this.#o.store.holds.watch((holds) => this.#onHolds(holds));
  }

  /** Where the router serves, shown in the registry from the next renewal on. */
  setAddress(address: string): void {
    this.#address = address;
    void this.#renew().catch(this.#o.onError);
  }

  /** Stops renewing and following; lets held requests go where the store says; leaves the registry. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#unwatch?.();
    for (const id of [...this.#taken.keys()]) await this.#release(id, 1);
    await this.#o.store.routers.delete(this.#o.routerId).catch(() => false);
  }

  async hold(request: HoldRequest): Promise<HoldGrant> {
    const { store, routerId } = this.#o;
    const { ackWaitMs, ...hold } = request;
    await store.holds.publish({ ...hold, router: routerId });
    const started = performance.now();
    for (;;) {
      const [acked, live] = await Promise.all([store.holds.acks(request.id), store.routers.live()]);
      const missing = live.map((r) => r.id).filter((id) => id !== routerId && !acked.includes(id));
      if (missing.length === 0) return { acked, missing };
      if (performance.now() - started >= ackWaitMs) {
        await this.abort(request.id);
        return { acked, missing };
      }
      await sleep(ACK_POLL_MS);
    }
  }

  async switchTo(holdId: string, table: RoutingTable, reason: string): Promise<void> {
    try {
      await this.#o.commit(table, reason, holdId);
    } catch (err) {
      if (err instanceof HoldLost || err instanceof VersionConflict) throw err;
      // The save may have committed before the answer was lost: the hold's state says, once the store answers.
      for (let i = 0; i < UNKNOWN_TRIES; i++) {
        try {
          const state = (await this.#o.store.holds.get(holdId))?.state;
          if (state === HoldState.Switched) return await this.#o.refresh();
          if (state === HoldState.Holding) await this.#o.store.holds.end(holdId, HoldState.Aborted);
          throw new HoldLost(holdId, state ?? null);
        } catch (again) {
          if (again instanceof HoldLost) throw again;
          await sleep(RETRY_MS);
        }
      }
      throw new SwitchUnknown(
        `the switch of hold ${holdId} may or may not be saved: the config store did not answer (${(err as Error).message})`,
      );
    }
  }

  async abort(holdId: string): Promise<void> {
    // Unreachable store: every router ends the hold itself at its timeout, and no switch follows.
    await this.#o.store.holds.end(holdId, HoldState.Aborted).catch(this.#o.onError);
  }

  async #renew(): Promise<void> {
    if (this.#closed) return;
    await this.#o.store.routers.heartbeat({
      id: this.#o.routerId,
      address: this.#address,
      leaseMs: this.#o.leaseMs,
    });
  }

  /**
   * Takes over the open moves of routers whose lease ran out (they died
   * mid-move): one router wins each (the journal's compare-and-set), reads
   * the routing version in force, and resumes it — before its switch the copy
   * starts over, after it only the cleanup runs (ShardMove.resume).
   */
  async #adopt(): Promise<void> {
    const { store, routerId, resume } = this.#o;
    if (resume === undefined || this.#closed || this.#adopting) return;
    this.#adopting = true;
    try {
      const open = await store.moves.listOpen();
      if (open.length === 0) return;
      const live = new Set((await store.routers.live()).map((r) => r.id));
      for (const m of open) {
        const owner = (m.state as { owner?: unknown } | null)?.owner;
        if (typeof owner !== 'string' || owner === routerId || live.has(owner)) continue;
        const state = { ...(m.state as object), owner: routerId };
        if (!(await store.moves.claim(m, state))) continue;
        this.#o.onAdopt?.(m.id, owner);
        await this.#o.refresh();
        resume(state).catch(this.#o.onError);
      }
    } finally {
      this.#adopting = false;
    }
  }

  #onHolds(holds: readonly CutoverHold[]): void {
    if (this.#closed) return;
    const active = new Set(holds.map((h) => h.id));
    for (const h of holds) this.#take(h);
    for (const [id, t] of this.#taken) if (!active.has(id) && !t.ending) void this.#release(id, 0);
  }

  /** Holds `h`'s range here and acks once every request sent to the source before has been answered. */
  #take(h: CutoverHold): void {
    if (h.router === this.#o.routerId || this.#taken.has(h.id) || this.#ended.has(h.id)) return;
    const { router, store } = this.#o;
    const gate = new RangeGate(shardId(h.shard));
    try {
      router.closeGate(gate);
    } catch (err) {
      // Without an ack the mover gives this attempt up and tries again.
      this.#o.onError(
        new HotshardError(ErrorCode.Routing, `cutover hold ${h.id} not taken: ${(err as Error).message}`, {
          cause: err,
        }),
      );
      return;
    }
    const taken: Taken = { hold: h, gate, timer: undefined, ending: false };
    this.#taken.set(h.id, taken);
    taken.timer = setTimeout(() => void this.#release(h.id, 1), h.timeoutMs);
    void (async () => {
      await router.backends.get(nodeId(h.source))?.barrier();
      if (!taken.ending) await store.holds.ack(h.id, this.#o.routerId);
    })().catch(this.#o.onError);
  }

  /**
   * Lets a hold's requests go: `expire` 1 when its timeout ran out (ended
   * here first, so no switch can follow). Where they go is what the store
   * says; until it answers they stay held.
   */
  async #release(id: string, expire: 0 | 1): Promise<void> {
    const taken = this.#taken.get(id);
    if (taken === undefined || taken.ending) return;
    taken.ending = true;
    clearTimeout(taken.timer);
    for (let tries = 0; ; tries++) {
      try {
        if (expire === 1) await this.#o.store.holds.end(id, HoldState.Expired);
        await this.#o.refresh();
        break;
      } catch (err) {
        if (tries === 0) this.#o.onError(err);
        // Shutting down with the store gone: the clients of these requests are gone too.
        if (this.#closed && tries >= 10) break;
        await sleep(RETRY_MS);
      }
    }
    this.#taken.delete(id);
    this.#ended.add(id);
    if (this.#ended.size > REMEMBERED) this.#ended.delete(this.#ended.values().next().value!);
    const waited = this.#o.router.openGate(taken.gate);
    this.#o.events?.publish('cutover.released', {
      hold: id,
      move: taken.hold.moveId,
      shard: taken.hold.shard,
      expired: expire === 1,
      held: waited.length,
      holdMaxMs: waited.length === 0 ? 0 : Math.round(Math.max(...waited)),
      version: this.#o.router.table.version,
    });
  }
}
