/**
 * Opens the config store the configuration names: `store` unset, the
 * embedded one (a file under `dataDir`, or memory); `store` a postgres://
 * URL, PostgreSQL.
 */
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { openEmbeddedStore } from './embedded.js';
import { openPostgresStore } from './postgres.js';
import { isPostgresUrl } from './url.js';
import type { ConfigStore } from './store.js';

/** What {@link openConfigStore} reads. */
export interface StoreSettings {
  /** A postgres:// URL, or unset for the embedded store. */
  readonly store?: string | undefined;
  /** The embedded store's directory; unset: in memory. */
  readonly dataDir?: string | undefined;
  readonly clock?: Clock | undefined;
  /** Told of failures nobody awaits (a dropped LISTEN connection, a watch's read). */
  readonly onError?: ((err: unknown) => void) | undefined;
  /** PostgreSQL: give up connecting after this long (ms). */
  readonly connectTimeoutMs?: number | undefined;
}

/**
 * Opens and migrates the configured store.
 *
 * @example const store = await openConfigStore({ store: process.env.HOTSHARD_STORE, dataDir: './data' });
 */
export async function openConfigStore(settings: StoreSettings): Promise<ConfigStore> {
  const { store, dataDir, clock, onError, connectTimeoutMs } = settings;
  if (store === undefined) return openEmbeddedStore({ dataDir, clock, onError });
  if (isPostgresUrl(store)) return openPostgresStore(store, { clock, onError, connectTimeoutMs });
  throw new ConfigError(
    `store: ${JSON.stringify(store)} is not a store this hotshard can open; accepted: a postgres://user@host:5432/database URL, or unset for the embedded store (--data-dir, or memory)`,
  );
}
