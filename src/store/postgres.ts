/**
 * The PostgreSQL config store (`--store postgres://user@host:5432/db`): one
 * control plane shared by several routers. Queries go through a small pg
 * pool; a routing save NOTIFYs `hotshard_routing` inside its transaction, so
 * the notice goes out exactly when the version is committed, and every store
 * watching keeps one LISTEN connection of its own, reconnected with backoff
 * (after which it re-reads the latest version: a notice sent while it was
 * away is not lost, only folded).
 *
 * Opening fails fast and says why: a URL that is not postgres://, a server
 * that refuses or does not answer within `connectTimeoutMs`, a database that
 * does not exist.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { systemClock, type Clock } from '../clock.js';
import { migrate } from './migrate.js';
import type { Tables } from './schema.js';
import { createSqlStore, type ChangeFeed } from './sql-store.js';
import { StoreUnavailable, type ConfigStore } from './store.js';
import { checkPostgresUrl, redactUrl } from './url.js';

/** The NOTIFY channel of new routing versions. */
export const ROUTING_CHANNEL = 'hotshard_routing';

/** The longest any one store query may take (ms); the store's queries are small. */
const QUERY_TIMEOUT_MS = 15_000;

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** Give up connecting after this long (ms). Default 5,000. */
  readonly connectTimeoutMs?: number | undefined;
  /** Connections in the pool. Default 4. */
  readonly poolSize?: number | undefined;
  /** How long to wait for another process's migration (ms). Default 60,000. */
  readonly migrationLockWaitMs?: number | undefined;
  readonly clock?: Clock | undefined;
  /** Told of failures nobody awaits (a dropped LISTEN connection, a watch's read). */
  readonly onError?: ((err: unknown) => void) | undefined;
}

function explain(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === '3D000') return `${e.message} (create it first: createdb, or CREATE DATABASE)`;
  if (e.code === 'ECONNREFUSED') return `connection refused (${e.message}): is PostgreSQL running there?`;
  return e.message ?? String(err);
}

function listenFeed(url: string, timeoutMs: number, onError: (err: unknown) => void): ChangeFeed {
  const local = new Set<() => void>();
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let pause = 100;

  function connect(): void {
    if (closed || local.size === 0 || client !== undefined) return;
    const c = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: timeoutMs,
      application_name: 'hotshard-watch',
    });
    client = c;
    const lost = (err?: unknown): void => {
      if (client !== c) return;
      client = undefined;
      c.removeAllListeners('notification');
      void c.end().catch(() => {});
      if (closed) return;
      if (err !== undefined) onError(err);
      retry = setTimeout(() => {
        retry = undefined;
        connect();
      }, pause);
      retry.unref();
      pause = Math.min(pause * 2, 5000);
    };
    c.on('error', (err) => lost(err));
    c.on('end', () => lost());
    c.on('notification', (n) => {
      if (n.channel !== ROUTING_CHANNEL) return;
      for (const signal of [...local]) signal();
    });
    c.connect()
      .then(() => c.query(`LISTEN ${ROUTING_CHANNEL}`))
      .then(() => {
        pause = 100;
        // Whatever was saved while no connection listened.
        for (const signal of [...local]) signal();
      })
      .catch((err: unknown) => lost(err));
  }

  return {
    async inTransaction(tx, note) {
      await sql`SELECT pg_notify(${ROUTING_CHANNEL}, ${note})`.execute(tx);
    },
    afterCommit() {
      // The NOTIFY reaches this store too; telling it now saves a round trip.
      for (const signal of [...local]) signal();
    },
    listen(signal) {
      local.add(signal);
      connect();
      return () => {
        local.delete(signal);
      };
    },
    async close() {
      closed = true;
      if (retry !== undefined) clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/**
 * Opens (and migrates) the PostgreSQL store at `url`.
 *
 * @example
 * const store = await openPostgresStore('postgres://postgres@127.0.0.1:5432/hotshard');
 * store.routing.watch((v) => console.log('routing version', v.version));
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<ConfigStore> {
  checkPostgresUrl(url);
  const location = redactUrl(url);
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const onError = options.onError ?? (() => {});
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: timeoutMs,
    idleTimeoutMillis: 30_000,
    // A server that accepted a query and went silent fails the query, not the caller forever.
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: 'hotshard',
  });
  // An idle connection the server drops must not crash the process; the next query reconnects.
  pool.on('error', (err) => onError(err));
  try {
    const c = await pool.connect();
    c.release();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new StoreUnavailable(`cannot reach the PostgreSQL config store at ${location}: ${explain(err)}`, {
      cause: err,
    });
  }
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrate(db, 'postgres', { lockWaitMs: options.migrationLockWaitMs });
  } catch (err) {
    await db.destroy().catch(() => {});
    if (err instanceof StoreUnavailable) throw err;
    throw new StoreUnavailable(`cannot prepare the PostgreSQL config store at ${location}: ${explain(err)}`, {
      cause: err,
    });
  }
  return createSqlStore({
    db,
    dialect: 'postgres',
    kind: 'postgres',
    location,
    shared: true,
    feed: listenFeed(url, timeoutMs, onError),
    clock: options.clock ?? systemClock,
    onError,
    release: () => db.destroy(),
  });
}
