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
  /**
   * A cutover hold (its id) that must still be `holding`: it becomes
   * `switched` in the same transaction, or the save rejects with
   * {@link HoldLost} and nothing is saved. A router that gave up waiting
   * (expired the hold) can then no longer be overtaken by the switch.
   */
  readonly hold?: string | undefined;
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
  /**
   * Replaces an open operation's state with `state` only if it is still
   * exactly `move.state` (compare-and-set): of several routers taking over
   * a dead router's move, one wins. False when it changed or was closed.
   */
  claim(move: StoredMove, state: unknown): Promise<boolean>;
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

/** A router sharing the store, as the registry keeps it. */
export interface StoredRouter {
  /** `r-<instance>`. */
  readonly id: string;
  /** Where it serves, for operators (`resp 10.0.0.1:6380 http 10.0.0.1:8080`). */
  readonly address: string;
  readonly startedAt: number;
  /** When it last renewed its lease (the store's clock of the renewing process). */
  readonly heartbeatAt: number;
  readonly leaseMs: number;
  /** Whether its lease runs now (heartbeatAt + leaseMs is still ahead). */
  readonly live: boolean;
}

/** The routers sharing the store, each with a lease it renews. */
export interface RouterStore {
  /** Registers `id`, or renews its lease from now. */
  heartbeat(router: {
    readonly id: string;
    readonly address: string;
    readonly leaseMs: number;
  }): Promise<void>;
  /** Every registered router, live or not, by id. */
  list(): Promise<StoredRouter[]>;
  /** The routers whose lease runs now, by id. */
  live(): Promise<StoredRouter[]>;
  /** Leaves the registry (a clean shutdown); false when it was not there. */
  delete(id: string): Promise<boolean>;
}

/** Where a cutover hold is. */
export const HoldState = {
  Holding: 'holding',
  /** The routing version that moves the range was saved with it: the range's requests go to the target. */
  Switched: 'switched',
  /** The mover gave up this attempt: the range's requests go to the source. */
  Aborted: 'aborted',
  /** A router waited out the hold's timeout: no switch can follow; requests go where the store says. */
  Expired: 'expired',
} as const;
/** One of the hold states. */
export type HoldState = (typeof HoldState)[keyof typeof HoldState];

/** A live move's cutover attempt that every live router must hold (docs/rebalance.md). */
export interface CutoverHold {
  /** `<move id>#<attempt>`. */
  readonly id: string;
  readonly moveId: string;
  readonly shard: string;
  readonly source: string;
  readonly target: string;
  /** The routing version in force when the hold began; the switch is the version after it. */
  readonly fromVersion: number;
  /** How long a router holds before it ends the hold itself (expired) and asks the store where the range is. */
  readonly timeoutMs: number;
  /** The mover's router (which holds in its own gate, and does not ack). */
  readonly router: string;
  readonly state: HoldState;
  readonly createdAt: number;
}

/** Cutover holds: published by a mover, acknowledged by every other live router. */
export interface HoldStore {
  /** Publishes a hold (state `holding`) and notifies every router watching. */
  publish(hold: Omit<CutoverHold, 'state' | 'createdAt'>): Promise<CutoverHold>;
  get(id: string): Promise<CutoverHold | undefined>;
  /** Ends a hold still `holding` as `state`; the state it is in after (an ended hold keeps its first end). */
  end(id: string, state: 'aborted' | 'expired'): Promise<HoldState | undefined>;
  /** `router` holds the range and every request it sent the source before has been answered. */
  ack(id: string, router: string): Promise<void>;
  /** The routers that acknowledged hold `id`, by id. */
  acks(id: string): Promise<string[]>;
  /** The holds still `holding`, oldest first. */
  active(): Promise<CutoverHold[]>;
  /**
   * Calls `listener` with the holds still `holding` now, then again each time
   * they may have changed (a burst may be folded; a call may repeat the list).
   */
  watch(listener: (holds: CutoverHold[]) => void): Unwatch;
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
  readonly routers: RouterStore;
  readonly holds: HoldStore;
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

/** A routing save tied to a cutover hold that is no longer `holding` (a router expired it, or the mover ended it). */
export class HoldLost extends HotshardError {
  override readonly name = 'HoldLost';
  constructor(
    readonly hold: string,
    readonly state: string | null,
  ) {
    super(
      ErrorCode.VersionConflict,
      `the switch was not saved: cutover hold ${hold} is ${state ?? 'gone'}, not holding (a router waited past its timeout, or the attempt was ended)`,
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
