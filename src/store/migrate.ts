/**
 * Applies the schema's migrations (`schema.ts`) that a database lacks, each
 * in its own transaction, recording each in `schema_migrations`: applying
 * twice is a no-op.
 *
 * Several routers may start at once against one PostgreSQL database; only one
 * may migrate. They queue on a session advisory lock held on one connection
 * for the whole run (Kysely's own Migrator creates its bookkeeping tables
 * before it locks, and two concurrent CREATE TABLE IF NOT EXISTS can both fail
 * on PostgreSQL's catalog). The lock is tried, not waited on, so a process
 * stuck holding it turns into a clear error after `lockWaitMs`, not a hang.
 * SQLite needs no lock: `BEGIN IMMEDIATE` takes the file's write lock, and
 * each migration checks inside its transaction whether it is still due.
 */
import { sql, type Kysely } from 'kysely';
import { MIGRATIONS, MIGRATIONS_TABLE, type Dialect, type Migration, type Tables } from './schema.js';
import { StoreUnavailable } from './store.js';

/** The advisory lock key of the migration run (any constant all hotshard processes share). */
export const MIGRATION_LOCK_KEY = 0x68_73_6d_67; // "hsmg"

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** How long to wait for another process's migration run (PostgreSQL). Default 60 s. */
  readonly lockWaitMs?: number;
  /** The migrations to apply (tests pass a longer list). Default: the schema's. */
  readonly migrations?: readonly Migration[];
}

/** Brings the database up to the latest schema; resolves with the versions applied now. */
export async function migrate(
  db: Kysely<Tables>,
  dialect: Dialect,
  options: MigrateOptions = {},
): Promise<number[]> {
  const migrations = options.migrations ?? MIGRATIONS;
  const known = migrations.at(-1)?.version ?? 0;
  return db.connection().execute(async (conn) => {
    if (dialect === 'postgres') await lock(conn, options.lockWaitMs ?? 60_000);
    try {
      await sql
        .raw(
          `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
        )
        .execute(conn);
      const newest = await conn
        .selectFrom('schema_migrations')
        .select((eb) => eb.fn.max('version').as('v'))
        .executeTakeFirst();
      const at = Number(newest?.v ?? 0);
      if (at > known)
        throw new StoreUnavailable(
          `the config store's schema is at version ${at}, newer than this hotshard knows (${known}): run a hotshard at least as new as the one that migrated it`,
        );
      const applied: number[] = [];
      for (const m of migrations) {
        await sql.raw(dialect === 'sqlite' ? 'BEGIN IMMEDIATE' : 'BEGIN').execute(conn);
        try {
          const done = await conn
            .selectFrom('schema_migrations')
            .select('version')
            .where('version', '=', m.version)
            .executeTakeFirst();
          if (done === undefined) {
            for (const statement of m.statements(dialect)) await sql.raw(statement).execute(conn);
            await conn
              .insertInto('schema_migrations')
              .values({ version: m.version, name: m.name, applied_at: Date.now() })
              .execute();
            applied.push(m.version);
          }
          await sql.raw('COMMIT').execute(conn);
        } catch (err) {
          await sql
            .raw('ROLLBACK')
            .execute(conn)
            .catch(() => {});
          throw new StoreUnavailable(
            `config store migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
      return applied;
    } finally {
      if (dialect === 'postgres')
        await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn).catch(() => {});
    }
  });
}

async function lock(conn: Kysely<Tables>, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let pause = 10; ; pause = Math.min(pause * 2, 500)) {
    const r = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${MIGRATION_LOCK_KEY}) AS ok`.execute(
      conn,
    );
    if (r.rows[0]?.ok === true) return;
    if (Date.now() >= deadline)
      throw new StoreUnavailable(
        `another process has held the config store's migration lock (pg advisory lock ${MIGRATION_LOCK_KEY}) for over ${waitMs} ms; is a hotshard stuck migrating?`,
      );
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
