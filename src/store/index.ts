/** The config store: one interface, embedded (SQLite) and PostgreSQL implementations. */
export type {
  ActionFilter,
  ActionStore,
  AuditEntry,
  AuditFilter,
  AuditInput,
  AuditStore,
  ConfigStore,
  HeatSample,
  HeatStore,
  IncidentStore,
  MoveStore,
  NodeKind,
  NodeStore,
  PolicyStore,
  RoutingStore,
  RoutingVersion,
  SaveRoutingOptions,
  ShardRow,
  StoredIncident,
  StoredMove,
  StoredNode,
  StoredPolicy,
  Unwatch,
} from './store.js';
export { StoreUnavailable, VersionConflict } from './store.js';
export { EMBEDDED_FILE, openEmbeddedStore, type EmbeddedStoreOptions } from './embedded.js';
export { openPostgresStore, ROUTING_CHANNEL, type PostgresStoreOptions } from './postgres.js';
export { checkPostgresUrl, isPostgresUrl, redactUrl } from './url.js';
export { openConfigStore, type StoreSettings } from './open.js';
export { migrate, MIGRATION_LOCK_KEY, type MigrateOptions } from './migrate.js';
export { MIGRATIONS, type Migration } from './schema.js';
export { storeJournal, type Journal } from './journal.js';
export { StoreLink, configuredNodes, type NodeAccess, type StoreParts } from './attach.js';
