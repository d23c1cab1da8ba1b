/**
 * The config store's schema: the row types (for Kysely) and the versioned
 * migrations that create them, one list for SQLite and PostgreSQL.
 *
 * A migration is SQL written once with the few types that differ between the
 * two spelled through {@link Dialect}: keys are bytes (`bytea` / `blob`), the
 * audit log's id is an auto-increment. Times are ms since the epoch in 64-bit
 * integers; JSON is text, so both stores read back exactly what was written.
 * Append a migration to change the schema; never edit one that has shipped.
 */
import type { Generated } from 'kysely';

/** Which SQL the migrations write. */
export type Dialect = 'sqlite' | 'postgres';

/** One step of the schema. */
export interface Migration {
  /** 1, 2, 3, ...: applied in order, each once. */
  readonly version: number;
  readonly name: string;
  /** Statements, run in one transaction. */
  statements(dialect: Dialect): string[];
}

const types = (d: Dialect): { bytes: string; serial: string; int64: string; real: string } =>
  d === 'postgres'
    ? { bytes: 'bytea', serial: 'bigserial PRIMARY KEY', int64: 'bigint', real: 'double precision' }
    : { bytes: 'blob', serial: 'integer PRIMARY KEY AUTOINCREMENT', int64: 'integer', real: 'real' };

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'control plane tables',
    statements(d) {
      const t = types(d);
      return [
        `CREATE TABLE nodes (
          id text PRIMARY KEY,
          kind text NOT NULL,
          address text,
          added_at ${t.int64} NOT NULL,
          status text NOT NULL)`,
        // One row: the version in force. Saving a version is a compare-and-set on it.
        `CREATE TABLE routing_head (
          id integer PRIMARY KEY CHECK (id = 1),
          version ${t.int64} NOT NULL)`,
        `CREATE TABLE routing_versions (
          version ${t.int64} PRIMARY KEY,
          partitioner text NOT NULL,
          table_json text NOT NULL,
          created_at ${t.int64} NOT NULL,
          reason text NOT NULL)`,
        // The seed's shard metadata row, for the version in force (routing_head).
        `CREATE TABLE shards (
          shard_id text PRIMARY KEY,
          key_range text NOT NULL,
          range_start text NOT NULL,
          range_end text,
          node text NOT NULL,
          capacity ${t.real},
          status text NOT NULL,
          version ${t.int64} NOT NULL)`,
        `CREATE TABLE key_policies (
          key ${t.bytes} PRIMARY KEY,
          policy_json text NOT NULL,
          updated_at ${t.int64} NOT NULL)`,
        `CREATE TABLE actions (
          id text PRIMARY KEY,
          kind text NOT NULL,
          subject text NOT NULL,
          state text NOT NULL,
          record_json text NOT NULL,
          created_at ${t.int64} NOT NULL,
          updated_at ${t.int64} NOT NULL)`,
        `CREATE TABLE moves (
          id text PRIMARY KEY,
          open integer NOT NULL,
          state_json text NOT NULL,
          updated_at ${t.int64} NOT NULL)`,
        `CREATE TABLE audit_log (
          id ${t.serial},
          at ${t.int64} NOT NULL,
          who text NOT NULL,
          verb text NOT NULL,
          target text NOT NULL,
          reason text,
          details_json text)`,
        `CREATE TABLE incidents (
          id text PRIMARY KEY,
          state text NOT NULL,
          opened_at ${t.int64} NOT NULL,
          resolved_at ${t.int64},
          incident_json text NOT NULL)`,
        // Hands each process sharing the store a number of its own (action ids).
        `CREATE TABLE instances (id ${t.serial}, started_at ${t.int64} NOT NULL)`,
      ];
    },
  },
  {
    version: 2,
    name: 'indexes for listing by time',
    statements: () => [
      'CREATE INDEX actions_created ON actions (created_at)',
      'CREATE INDEX audit_log_at ON audit_log (at)',
      'CREATE INDEX incidents_opened ON incidents (opened_at)',
      'CREATE INDEX moves_open ON moves (open)',
    ],
  },
  {
    version: 3,
    name: 'heat',
    statements(d) {
      const t = types(d);
      return [
        // One row per 10-second block, shard and router; pruned to a day (control/heat-history.ts).
        `CREATE TABLE heat (
          at ${t.int64} NOT NULL,
          shard text NOT NULL,
          source text NOT NULL,
          node text NOT NULL,
          qps ${t.real} NOT NULL,
          p99_ms ${t.real} NOT NULL,
          utilization ${t.real},
          bytes ${t.real} NOT NULL,
          PRIMARY KEY (at, shard, source))`,
      ];
    },
  },
];

/** Where the applied migrations are recorded. */
export const MIGRATIONS_TABLE = 'schema_migrations';

type Int64 = number | string; // pg returns bigint columns as strings

/** The tables as Kysely sees them. */
export interface Tables {
  schema_migrations: { version: number; name: string; applied_at: Int64 };
  nodes: { id: string; kind: string; address: string | null; added_at: Int64; status: string };
  routing_head: { id: number; version: Int64 };
  routing_versions: {
    version: Int64;
    partitioner: string;
    table_json: string;
    created_at: Int64;
    reason: string;
  };
  shards: {
    shard_id: string;
    key_range: string;
    range_start: string;
    range_end: string | null;
    node: string;
    capacity: number | null;
    status: string;
    version: Int64;
  };
  key_policies: { key: Buffer; policy_json: string; updated_at: Int64 };
  actions: {
    id: string;
    kind: string;
    subject: string;
    state: string;
    record_json: string;
    created_at: Int64;
    updated_at: Int64;
  };
  moves: { id: string; open: number; state_json: string; updated_at: Int64 };
  audit_log: {
    id: Generated<Int64>;
    at: Int64;
    who: string;
    verb: string;
    target: string;
    reason: string | null;
    details_json: string | null;
  };
  incidents: {
    id: string;
    state: string;
    opened_at: Int64;
    resolved_at: Int64 | null;
    incident_json: string;
  };
  instances: { id: Generated<Int64>; started_at: Int64 };
  heat: {
    at: Int64;
    shard: string;
    source: string;
    node: string;
    qps: number;
    p99_ms: number;
    utilization: number | null;
    bytes: number;
  };
}
