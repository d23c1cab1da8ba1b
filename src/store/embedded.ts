/**
 * The embedded config store: SQLite through better-sqlite3, in a file under
 * `--data-dir` (`<dataDir>/hotshard.db`) or in memory when none is given, so
 * `npm start` needs nothing installed.
 *
 * Embedded means one process: watches hear of routing versions saved by the
 * stores of this process on the same file (a router and its tools), not of
 * other processes. Several routers share a control plane through PostgreSQL.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { systemClock, type Clock } from '../clock.js';
import { migrate } from './migrate.js';
import type { Tables } from './schema.js';
import { createSqlStore, type ChangeFeed } from './sql-store.js';
import { StoreUnavailable, type ConfigStore } from './store.js';

/** The file the embedded store keeps under the data directory. */
export const EMBEDDED_FILE = 'hotshard.db';

/** Options of {@link openEmbeddedStore}. */
export interface EmbeddedStoreOptions {
  /** Directory of the store's file (created if missing); unset: in memory, gone at close. */
  readonly dataDir?: string | undefined;
  readonly clock?: Clock | undefined;
  /** Told of failures nobody awaits (a watch's read). Default: dropped. */
  readonly onError?: ((err: unknown) => void) | undefined;
}

/**
 * mkdir -p, one level at a time. Node 20's `mkdirSync(dir, { recursive: true })`
 * never returns where mkdir answers ENOENT under a directory that exists
 * (`/proc/x`: it loops at 100 % CPU, measured); here the error surfaces.
 */
function makeDir(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDir(parent);
    mkdirSync(dir);
  }
}

/**
 * One open file per process, shared by every store opened on it. better-sqlite3
 * is synchronous: two connections of one thread interleaving transactions on
 * one file would wait on each other's lock inside the same thread, so the
 * stores of a file share one connection, whose Kysely mutex serialises them.
 */
interface OpenFile {
  readonly db: Kysely<Tables>;
  readonly signals: Set<() => void>;
  refs: number;
}
const openFiles = new Map<string, Promise<OpenFile>>();

async function openFile(file: string | undefined, dataDir: string | undefined): Promise<OpenFile> {
  let raw: Database.Database;
  try {
    if (dataDir !== undefined) makeDir(resolve(dataDir));
    raw = new Database(file ?? ':memory:', { timeout: 5000 });
    if (file !== undefined) {
      // WAL: readers never wait for the writer; FULL: a saved routing version survives a power cut too.
      raw.pragma('journal_mode = WAL');
      raw.pragma('synchronous = FULL');
    }
  } catch (err) {
    throw new StoreUnavailable(
      `cannot open the embedded config store ${file ?? ':memory:'}${dataDir === undefined ? '' : ` (from --data-dir ${dataDir})`}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const db = new Kysely<Tables>({ dialect: new SqliteDialect({ database: raw }) });
  try {
    await migrate(db, 'sqlite');
  } catch (err) {
    await db.destroy().catch(() => {});
    if (err instanceof StoreUnavailable) throw err;
    throw new StoreUnavailable(
      `cannot prepare the embedded config store ${file ?? ':memory:'}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { db, signals: new Set(), refs: 0 };
}

function feedOf(shared: OpenFile): ChangeFeed {
  const own = new Set<() => void>();
  return {
    inTransaction: () => Promise.resolve(),
    afterCommit: () => {
      for (const signal of [...shared.signals]) signal();
    },
    listen(signal) {
      shared.signals.add(signal);
      own.add(signal);
      return () => {
        shared.signals.delete(signal);
        own.delete(signal);
      };
    },
    close() {
      for (const signal of own) shared.signals.delete(signal);
      return Promise.resolve();
    },
  };
}

/**
 * Opens (creating and migrating) the embedded store.
 *
 * @example
 * const store = await openEmbeddedStore({ dataDir: '/var/lib/hotshard' });
 * const v = await store.routing.latest();
 */
export async function openEmbeddedStore(options: EmbeddedStoreOptions = {}): Promise<ConfigStore> {
  const file = options.dataDir === undefined ? undefined : resolve(join(options.dataDir, EMBEDDED_FILE));
  let opening = file === undefined ? undefined : openFiles.get(file);
  if (opening === undefined) {
    opening = openFile(file, options.dataDir);
    if (file !== undefined) {
      openFiles.set(file, opening);
      opening.catch(() => openFiles.delete(file));
    }
  }
  const shared = await opening;
  shared.refs++;
  let released = false;
  return createSqlStore({
    db: shared.db,
    dialect: 'sqlite',
    kind: 'embedded',
    location: file ?? ':memory:',
    shared: false,
    feed: feedOf(shared),
    clock: options.clock ?? systemClock,
    onError: options.onError ?? (() => {}),
    async release() {
      if (released) return;
      released = true;
      if (--shared.refs > 0) return;
      if (file !== undefined) openFiles.delete(file);
      await shared.db.destroy();
    },
  });
}
