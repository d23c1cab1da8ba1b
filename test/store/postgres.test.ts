/**
 * The PostgreSQL config store runs the conformance suite on a throwaway
 * database (two stores on it are two routers sharing a control plane), plus
 * what only a server has: bad URLs, an unreachable server, a missing
 * database, and several processes migrating one database at once.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  MIGRATION_LOCK_KEY,
  MIGRATIONS,
  openConfigStore,
  openPostgresStore,
  StoreUnavailable,
} from '../../src/store/index.js';
import { ConfigError } from '../../src/errors.js';
import { createTestDatabase, postgresForTests } from './pg-database.js';
import { runStoreCases } from './store.case.js';

const run = await postgresForTests('PostgreSQL config store tests');

if (run) {
  runStoreCases('postgres', async () => {
    const db = await createTestDatabase('hs_store');
    return {
      open: (clock) => openPostgresStore(db.url, { clock }),
      persistent: true,
      shared: true,
      cleanup: () => db.drop(),
    };
  });
}

describe.runIf(run)('postgres store - opening', () => {
  it('postgres store - URLs it cannot use are config errors naming the field', async () => {
    for (const [url, re] of [
      ['mysql://u@h/db', /is not a PostgreSQL URL/],
      ['postgres://', /not a valid URL|names no host/],
      ['postgres://127.0.0.1:5432', /names no database/],
      ['postgres://127.0.0.1:5432/', /names no database/],
    ] as const) {
      const err = await openPostgresStore(url).catch((e: unknown) => e);
      expect(err, url).toBeInstanceOf(ConfigError);
      expect((err as Error).message, url).toMatch(/^store: /);
      expect((err as Error).message, url).toMatch(re);
    }
  });

  it('postgres store - an unreachable server is a StoreUnavailable naming it, not a hang', async () => {
    // Port 1 on loopback: nothing listens, so the connection is refused at once.
    const err = await openConfigStore({
      store: 'postgres://postgres:secret@127.0.0.1:1/hotshard',
      connectTimeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailable);
    expect((err as Error).message).toMatch(
      /cannot reach the PostgreSQL config store at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/hotshard/,
    );
    expect((err as Error).message).not.toContain('secret');
  });

  it('postgres store - a database that does not exist says so', async () => {
    const err = await openPostgresStore('postgres://postgres@127.0.0.1:5432/hs_no_such_db_here').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailable);
    expect((err as Error).message).toMatch(/does not exist/);
  });

  it('postgres store - several processes starting at once migrate the database exactly once', async () => {
    const db = await createTestDatabase('hs_migrate');
    try {
      const stores = await Promise.all(
        Array.from({ length: 6 }, () => openPostgresStore(db.url, { poolSize: 2 })),
      );
      try {
        const rows = await db.query<{ version: number }>(
          'SELECT version FROM schema_migrations ORDER BY version',
        );
        expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
        // Every one of them works on the one schema.
        const ids = await Promise.all(stores.map((s) => s.instance()));
        expect(new Set(ids).size).toBe(stores.length);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
      // Opening again applies nothing more.
      await (await openPostgresStore(db.url)).close();
      expect(await db.query('SELECT version FROM schema_migrations')).toHaveLength(MIGRATIONS.length);
    } finally {
      await db.drop();
    }
  });

  it('postgres store - a process stuck holding the migration lock turns into a clear error, not a wait forever', async () => {
    const db = await createTestDatabase('hs_lock');
    const holder = new pg.Client({ connectionString: db.url });
    try {
      await holder.connect();
      await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      const err = await openPostgresStore(db.url, { migrationLockWaitMs: 300 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailable);
      expect((err as Error).message).toMatch(/migration lock/);
      await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      await (await openPostgresStore(db.url)).close();
    } finally {
      await holder.end().catch(() => {});
      await db.drop();
    }
  });

  it('postgres store - a watch survives its LISTEN connection being cut, and catches up on what it missed', async () => {
    const db = await createTestDatabase('hs_watch');
    const { RoutingTable } = await import('../../src/keyspace/routing-table.js');
    const { hashPartitioner } = await import('../../src/keyspace/partitioner.js');
    const { nodeId, shardId } = await import('../../src/keyspace/ids.js');
    const a = await openPostgresStore(db.url);
    const b = await openPostgresStore(db.url);
    try {
      let t = RoutingTable.create({ partitioner: hashPartitioner(), nodes: [nodeId('n0')], shards: 2 });
      await a.routing.save(t, { expectedVersion: null, reason: 'initial' });
      const heard: number[] = [];
      b.routing.watch((v) => heard.push(v.version), { after: 1 });
      const waitFor = async (version: number): Promise<void> => {
        for (let i = 0; i < 500 && heard.at(-1) !== version; i++) await new Promise((r) => setTimeout(r, 10));
        expect(heard.at(-1)).toBe(version);
      };
      const next = t.split(shardId('s0'));
      await a.routing.save(next, { expectedVersion: 1, reason: 'one' });
      await waitFor(2);
      t = next;
      // Cut every watch connection, then save while they are down.
      const cut = await db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'hotshard-watch'",
      );
      expect(cut.length).toBeGreaterThan(0);
      const missed = t.split(shardId('s1'));
      await a.routing.save(missed, { expectedVersion: 2, reason: 'while cut' });
      await waitFor(3);
      expect(heard).toEqual([2, 3]);
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
});
