/**
 * Throwaway PostgreSQL databases for tests: 127.0.0.1:5432, user postgres,
 * trust auth (the machine's and CI's). Each test run creates databases with
 * unique names and drops them after. Where PostgreSQL is unreachable, tests
 * skip with a printed notice, except under CI, where they fail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const ADMIN = process.env.HOTSHARD_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Whether the test PostgreSQL answers. */
export async function postgresReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: ADMIN, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    await c.end().catch(() => {});
    return false;
  }
}

/**
 * Whether PostgreSQL tests run: true when reachable; false with a notice when
 * not; throws under CI, where a missing PostgreSQL is a broken machine.
 */
export async function postgresForTests(what: string): Promise<boolean> {
  if (await postgresReachable()) return true;
  if (process.env.CI)
    throw new Error(`${what}: PostgreSQL at ${ADMIN} is unreachable, and CI must run these tests`);
  console.warn(`NOTICE: ${what} skipped: PostgreSQL at ${ADMIN} is unreachable`);
  return false;
}

/** A database created for one test; `drop()` removes it (and ends what is connected to it). */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Runs SQL on it (a short connection of its own). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  drop(): Promise<void>;
}

async function admin<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/** Creates an empty database with a unique name. */
export async function createTestDatabase(prefix = 'hs_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async query<R extends pg.QueryResultRow>(text: string, params?: unknown[]): Promise<R[]> {
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      try {
        return (await c.query<R>(text, params)).rows;
      } finally {
        await c.end();
      }
    },
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}
