/**
 * The config store: where the control plane keeps what must outlive a process
 * and be shared by several routers — routing versions, nodes, key policies,
 * actions, moves in progress, the audit log and incidents.
 *
 * One interface, two implementations over one schema (`schema.ts`): embedded
 * SQLite (`embedded.ts`, a file under `--data-dir` or memory) and PostgreSQL
 * (`postgres.ts`, `--store postgres://...`, for several routers sharing one
 * control plane). The conformance suite `test/store/store.case.ts` runs on
 * both. Every method is async, so callers never care which one they hold.
 */
import { ErrorCode, HotshardError } from '../errors.js';
import type { ActionRecord, ActionState } from '../mitigate/action.js';
import type { KeyPolicy } from '../mitigate/policy.js';
import type { RoutingTable, RoutingTableJSON } from '../keyspace/routing-table.js';

/** One saved routing version. */
export interface RoutingVersion {
  readonly version: number;
  readonly partitioner: string;
  /** `RoutingTable.toJSON()`; `RoutingTable.fromJSON(v.table)` gives the table back. */
  readonly table: RoutingTableJSON;
  /** ms since the epoch. */
  readonly createdAt: number;
  /** Why it was saved (`split s3 at 42`, `initial table from configuration`). */
  readonly reason: string;
}

/** The seed's shard metadata row `(shard_id, key_range, node, capacity, status)`, with its bounds. */
export interface ShardRow {
  readonly shardId: string;
  /** `[start, end)` in the partitioner's text; `∞` for the end of the keyspace. */
  readonly keyRange: string;
  readonly start: string;
  /** null: the end of the keyspace. */
  readonly end: string | null;
  readonly node: string;
  readonly capacity: number | null;
  readonly status: string;
  /** The routing version the row belongs to. */
  readonly version: number;
}

/** Options of {@link RoutingStore.save}. */
export interface SaveRoutingOptions {
  /**
   * The latest version the caller knows the store holds (null: the store has
   * none yet). The save wins only if that is still the latest: two routers
   * that both split from version 5 cannot both become version 6.
   */
  readonly expectedVersion: number | null;
  readonly reason: string;
}

/** Stops a watch. */
export type Unwatch = () => void;

/** Routing versions: compare-and-set saves, the latest, and notices of new ones. */
export interface RoutingStore {
  /** The version in force, or undefined when nothing was ever saved. */
  latest(): Promise<RoutingVersion | undefined>;
  /** One version, if kept. */
  get(version: number): Promise<RoutingVersion | undefined>;
  /** The seed's shard rows of the version in force, in key order. */
  shards(): Promise<ShardRow[]>;
  /**
   * Saves `table` as the version in force if `expectedVersion` is still the
   * latest; rejects with {@link VersionConflict} otherwise, and with
   * HS_ERR_BAD_REQUEST when the table's version is not above it.
   */
  save(table: RoutingTable, options: SaveRoutingOptions): Promise<RoutingVersion>;
  /**
   * Calls `listener` with each version saved after this call, by this or any
   * process sharing the store (PostgreSQL: LISTEN/NOTIFY; embedded: the
   * stores of this process on the same file). Versions arrive in increasing
   * order; a burst may be folded into its latest. With `after`, every
   * version above it is delivered instead (a router passes the version it
   * runs, so nothing saved while it started is missed).
   */
  watch(listener: (version: RoutingVersion) => void, options?: { readonly after?: number }): Unwatch;
}

/** What kind of node: a redis-server, or an embedded in-process store. */
export type NodeKind = 'redis' | 'memory';

/** A storage node as the store keeps it. */
export interface StoredNode {
  /** Redis nodes: `host:port`. */
  readonly id: string;
  readonly kind: NodeKind;
  /** Where to reach it (`host:port`); null for embedded nodes. */
  readonly address: string | null;
  readonly addedAt: number;
  /** `active`, `draining`, `removed`, or what the caller sets. */
  readonly status: string;
}

/** The nodes the control plane knows, configured or added at run time. */
export interface NodeStore {
  /** Inserts or replaces a node. */
  put(node: StoredNode): Promise<void>;
  /** Inserts a node unless one with its id exists; true when inserted. */
  add(node: StoredNode): Promise<boolean>;
  get(id: string): Promise<StoredNode | undefined>;
  list(): Promise<StoredNode[]>;
  /** False when there was none. */
  delete(id: string): Promise<boolean>;
}

/** A key's policy as stored. */
export interface StoredPolicy {
  readonly key: Buffer;
  readonly policy: KeyPolicy;
  readonly updatedAt: number;
}

/** Key policies by key bytes. */
export interface PolicyStore {
  put(key: Buffer, policy: KeyPolicy): Promise<void>;
  get(key: Buffer): Promise<StoredPolicy | undefined>;
  /** False when there was none. */
  delete(key: Buffer): Promise<boolean>;
  /** Every stored policy, by key bytes. */
  list(): Promise<StoredPolicy[]>;
}

/** Filter of {@link ActionStore.list}. */
export interface ActionFilter {
  readonly state?: ActionState | undefined;
  readonly limit?: number | undefined;
}

/** Action records (the executor's log), replaced as they change. */
export interface ActionStore {
  put(record: ActionRecord): Promise<void>;
  get(id: string): Promise<ActionRecord | undefined>;
  /** Newest first (by creation, then id). */
  list(filter?: ActionFilter): Promise<ActionRecord[]>;
}

/** A long operation's resumable state (a live move's `MoveState`), as plain JSON. */
export interface StoredMove {
  readonly id: string;
  /** True until the operation ended (done, failed, rolled back): what a restart must resume. */
  readonly open: boolean;
  readonly state: unknown;
  readonly updatedAt: number;
}

/** Journals of long operations. */
export interface MoveStore {
  put(move: { readonly id: string; readonly open: boolean; readonly state: unknown }): Promise<void>;
  get(id: string): Promise<StoredMove | undefined>;
  /** The operations a restart must resume or roll back, oldest first. */
  listOpen(): Promise<StoredMove[]>;
  delete(id: string): Promise<boolean>;
}

/** One audit entry: who changed what, when and why. */
export interface AuditEntry {
  /** Increasing, assigned by the store. */
  readonly id: number;
  readonly at: number;
  /** `operator`, `planner`, or a token holder's name. */
  readonly who: string;
  /** `split`, `move`, `policy.put`, ... */
  readonly verb: string;
  /** `shard:s3`, `key:user:1`, `node:10.0.0.5:6379`, ... */
  readonly target: string;
  /** Why, as given; null when none was. */
  readonly reason: string | null;
  readonly details: Readonly<Record<string, unknown>> | null;
}

/** What an audit entry is made of; `at` defaults to the store's clock. */
export type AuditInput = Omit<AuditEntry, 'id' | 'at' | 'details' | 'reason'> & {
  readonly reason?: string | null | undefined;
  readonly at?: number | undefined;
  readonly details?: Readonly<Record<string, unknown>> | null | undefined;
};

/** Filter of {@link AuditStore.list}. */
export interface AuditFilter {
  /** Entries at or after this time (ms), oldest first; unset: the latest `limit`, oldest first. */
  readonly since?: number | undefined;
  /** At most this many (default 100). */
  readonly limit?: number | undefined;
}

/** The append-only audit log. */
export interface AuditStore {
  append(entry: AuditInput): Promise<AuditEntry>;
  list(filter?: AuditFilter): Promise<AuditEntry[]>;
}

/** An incident as stored: the fields the store indexes, plus whatever else it holds. */
export interface StoredIncident {
  readonly id: string;
  readonly state: string;
  readonly openedAt: number;
  readonly resolvedAt?: number | null | undefined;
  readonly [field: string]: unknown;
}

/** Incidents, replaced as they change. */
export interface IncidentStore {
  put(incident: StoredIncident): Promise<void>;
  get(id: string): Promise<StoredIncident | undefined>;
  /** Newest opened first. */
  list(filter?: {
    readonly state?: string | undefined;
    readonly limit?: number | undefined;
  }): Promise<StoredIncident[]>;
}

/**
 * One shard's heat over one 10-second block (the dashboard's history beyond
 * the 10 minutes each router keeps in memory at 1 s).
 */
export interface HeatSample {
  /** Start of the block, ms since the epoch (a multiple of 10,000). */
  readonly at: number;
  readonly shard: string;
  readonly node: string;
  /** Which router measured it (several share one store; readers sum them). */
  readonly source: string;
  /** Requests per second over the block. */
  readonly qps: number;
  /** p99 latency over the block, ms. */
  readonly p99Ms: number;
  /** qps over the shard's capacity; null when that is unknown. */
  readonly utilization: number | null;
  /** Request and reply bytes per second. */
  readonly bytes: number;
}

/** Per-shard heat in 10-second blocks, kept for a day (the caller prunes). */
export interface HeatStore {
  /** Inserts or replaces samples (by block, shard and source). */
  put(samples: readonly HeatSample[]): Promise<void>;
  /** Samples with `from <= at < to`, by time then shard then source. */
  list(range: { readonly from: number; readonly to: number }): Promise<HeatSample[]>;
  /** Deletes samples with `at < before`; resolves with how many. */
  prune(before: number): Promise<number>;
}

/** The config store. */
export interface ConfigStore {
  /** `embedded` (SQLite file or memory) or `postgres`. */
  readonly kind: 'embedded' | 'postgres';
  /** Where it is, for logs (`:memory:`, a file path, a URL without its password). */
  readonly location: string;
  /** Whether other processes may share it (and so save routing versions this one must follow). */
  readonly shared: boolean;
  readonly routing: RoutingStore;
  readonly nodes: NodeStore;
  readonly policies: PolicyStore;
  readonly actions: ActionStore;
  readonly moves: MoveStore;
  readonly audit: AuditStore;
  readonly incidents: IncidentStore;
  readonly heat: HeatStore;
  /** A number no other process sharing the store got from it (names this process's action ids). */
  instance(): Promise<number>;
  /** Closes connections and watches; later calls reject with HS_ERR_STORE_UNAVAILABLE. Idempotent. */
  close(): Promise<void>;
}

/** A routing version was saved against a version that is no longer the latest. */
export class VersionConflict extends HotshardError {
  override readonly name = 'VersionConflict';
  constructor(
    /** The version the caller expected in force. */
    readonly expected: number | null,
    /** The version the store holds. */
    readonly actual: number | null,
    tableVersion: number,
  ) {
    super(
      ErrorCode.VersionConflict,
      `routing version ${tableVersion} was not saved: it was based on version ${expected ?? 'none'}, but the store holds version ${actual ?? 'none'} (another router changed the table first); reload the latest and retry`,
    );
  }
}

/** The store cannot be opened or reached, or was closed. */
export class StoreUnavailable extends HotshardError {
  override readonly name = 'StoreUnavailable';
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.StoreUnavailable, message, options);
  }
}
