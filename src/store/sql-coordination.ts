/**
 * What several routers sharing one store need to agree on a move's cutover
 * (docs/rebalance.md, "Several routers"), over SQL for both dialects:
 *
 * - the router registry: each router renews a lease; a mover waits only for
 *   routers whose lease runs, so a dead router delays a cutover by at most
 *   its lease, never forever;
 * - cutover holds: the mover publishes one per attempt, every other live
 *   router holds the range and acks. A hold leaves `holding` exactly once
 *   (switched with the routing save in one transaction, aborted by the mover,
 *   expired by a router that waited it out), so no router can release on
 *   "no switch" while the switch is still to come.
 *
 * Publishing and ending a hold NOTIFY on the routing channel (note `hold`):
 * routers hear of it as fast as of a routing version.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../clock.js';
import { ErrorCode, HotshardError } from '../errors.js';
import type { Tables } from './schema.js';
import {
  HoldState,
  type CutoverHold,
  type HoldStore,
  type RouterStore,
  type StoredRouter,
  type Unwatch,
} from './store.js';

/** What the coordination tables need of the store around them. */
export interface CoordinationOptions {
  readonly db: Kysely<Tables>;
  readonly clock: Clock;
  /** The store's change feed (sql-store.ts `ChangeFeed`): notes a hold's change in its transaction and after. */
  readonly feed: {
    inTransaction(tx: Transaction<Tables>, note: string): Promise<void>;
    afterCommit(note: string): void;
  };
  /** Hears of every notice on the store's feed (spurious calls allowed); returns how to stop. */
  readonly subscribe: (signal: () => void) => () => void;
  /** Runs one store operation (closed store and database failures become StoreUnavailable). */
  readonly run: <T>(what: string, work: () => Promise<T>) => Promise<T>;
  readonly onError: (err: unknown) => void;
  readonly closed: () => boolean;
}

const HOLD_NOTE = 'hold';

const bad = (message: string): HotshardError => new HotshardError(ErrorCode.BadRequest, message);

function name(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 200)
    throw bad(`${what} must be a non-empty string of at most 200 characters`);
  return value;
}

function positive(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw bad(`${what} must be a positive integer (ms), got ${JSON.stringify(value)}`);
  return value;
}

/** The registry and the holds over `o.db`. */
export function createCoordination(o: CoordinationOptions): { routers: RouterStore; holds: HoldStore } {
  const { db, clock, run } = o;

  const toRouter = (r: Tables['routers'], now: number): StoredRouter => ({
    id: r.id,
    address: r.address,
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
    leaseMs: Number(r.lease_ms),
    live: Number(r.heartbeat_at) + Number(r.lease_ms) > now,
  });

  const list = async (): Promise<StoredRouter[]> => {
    const now = clock.now();
    return (await db.selectFrom('routers').selectAll().orderBy('id').execute()).map((r) => toRouter(r, now));
  };

  const routers: RouterStore = {
    heartbeat: (r) =>
      run(`renew the lease of router ${String(r?.id)}`, async () => {
        const id = name(r.id, 'router id');
        const address = typeof r.address === 'string' ? r.address.slice(0, 300) : '';
        const leaseMs = positive(r.leaseMs, 'leaseMs');
        const now = clock.now();
        await db
          .insertInto('routers')
          .values({ id, address, started_at: now, heartbeat_at: now, lease_ms: leaseMs })
          .onConflict((oc) => oc.column('id').doUpdateSet({ address, heartbeat_at: now, lease_ms: leaseMs }))
          .execute();
      }),
    list: () => run('list the routers', list),
    live: () => run('list the live routers', async () => (await list()).filter((r) => r.live)),
    delete: (id) =>
      run(`remove router ${id}`, async () => {
        const r = await db.deleteFrom('routers').where('id', '=', id).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      }),
  };

  const toHold = (r: Tables['cutover_holds']): CutoverHold => ({
    id: r.id,
    moveId: r.move_id,
    shard: r.shard,
    source: r.source,
    target: r.target,
    fromVersion: Number(r.from_version),
    timeoutMs: Number(r.timeout_ms),
    router: r.router,
    state: r.state as HoldState,
    createdAt: Number(r.created_at),
  });

  const get = async (id: string): Promise<CutoverHold | undefined> => {
    const r = await db.selectFrom('cutover_holds').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? undefined : toHold(r);
  };

  const active = async (): Promise<CutoverHold[]> =>
    (
      await db
        .selectFrom('cutover_holds')
        .selectAll()
        .where('state', '=', HoldState.Holding)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
    ).map(toHold);

  // Hold watches: every notice re-reads the holds in force, folded while a read runs.
  const listeners = new Set<(holds: CutoverHold[]) => void>();
  let subscribed = false;
  let reading = false;
  let again = false;
  function signal(): void {
    if (listeners.size === 0) return;
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    void (async () => {
      do {
        again = false;
        try {
          if (o.closed() || listeners.size === 0) break;
          const holds = await active();
          for (const l of [...listeners]) {
            try {
              l(holds);
            } catch (err) {
              o.onError(err);
            }
          }
        } catch (err) {
          if (!o.closed()) o.onError(err);
        }
      } while (again);
      reading = false;
    })();
  }

  const holds: HoldStore = {
    publish: (h) =>
      run(`publish cutover hold ${String(h?.id)}`, async () => {
        const row: Tables['cutover_holds'] = {
          id: name(h.id, 'hold id'),
          move_id: name(h.moveId, 'hold moveId'),
          shard: name(h.shard, 'hold shard'),
          source: name(h.source, 'hold source'),
          target: name(h.target, 'hold target'),
          from_version: positive(h.fromVersion, 'hold fromVersion'),
          timeout_ms: positive(h.timeoutMs, 'hold timeoutMs'),
          router: name(h.router, 'hold router'),
          state: HoldState.Holding,
          created_at: clock.now(),
          ended_at: null,
        };
        await db.transaction().execute(async (tx) => {
          await tx.insertInto('cutover_holds').values(row).execute();
          await o.feed.inTransaction(tx, HOLD_NOTE);
        });
        o.feed.afterCommit(HOLD_NOTE);
        return toHold(row);
      }),
    get: (id) => run(`read cutover hold ${id}`, () => get(id)),
    end: (id, state) =>
      run(`end cutover hold ${id}`, async () => {
        if (state !== HoldState.Aborted && state !== HoldState.Expired)
          throw bad(`a hold is ended as aborted or expired, got ${JSON.stringify(state)}`);
        const after = await db.transaction().execute(async (tx) => {
          await tx
            .updateTable('cutover_holds')
            .set({ state, ended_at: clock.now() })
            .where('id', '=', id)
            .where('state', '=', HoldState.Holding)
            .execute();
          await o.feed.inTransaction(tx, HOLD_NOTE);
          const r = await tx
            .selectFrom('cutover_holds')
            .select('state')
            .where('id', '=', id)
            .executeTakeFirst();
          return r?.state as HoldState | undefined;
        });
        o.feed.afterCommit(HOLD_NOTE);
        return after;
      }),
    ack: (id, router) =>
      run(`ack cutover hold ${id}`, async () => {
        await db
          .insertInto('cutover_acks')
          .values({ hold_id: name(id, 'hold id'), router: name(router, 'router id'), acked_at: clock.now() })
          .onConflict((oc) => oc.columns(['hold_id', 'router']).doNothing())
          .execute();
      }),
    acks: (id) =>
      run(`read the acks of cutover hold ${id}`, async () =>
        (
          await db
            .selectFrom('cutover_acks')
            .select('router')
            .where('hold_id', '=', id)
            .orderBy('router')
            .execute()
        ).map((r) => r.router),
      ),
    active: () => run('list the cutover holds', active),
    watch(listener): Unwatch {
      listeners.add(listener);
      if (!subscribed) {
        subscribed = true;
        o.subscribe(signal);
      }
      signal();
      return () => {
        listeners.delete(listener);
      };
    },
  };
  return { routers, holds };
}
