/**
 * Ties one hotshard process to its config store (`startHotshard` calls it;
 * the logic lives here so hotshard.ts stays a list of parts):
 *
 * - at start, the routing table in the store wins over the configured shard
 *   count; its nodes must have backends (a Redis node an operator added at
 *   run time is in the store's nodes table and gets one; any other unknown
 *   node is a start error), and a store with no table gets the configured one;
 * - every table the router installs is saved, compare-and-set against the
 *   version the store last held; {@link StoreLink.commit} saves first and
 *   installs after, which is how a change that must not race another router's
 *   (a split, a move's cutover) is made;
 * - a router on a shared store (PostgreSQL) installs the newer versions other
 *   processes save;
 * - key policies are saved as they change and re-applied at start; action
 *   records are saved as the executor publishes them (`action.*`) and taken
 *   back at start.
 *
 * Store writes run one at a time in the order they were asked for, off the
 * request path; a failed one is logged and counted, never a request's error.
 */
import type { Incident } from '../control/incident.js';
import type { IncidentManager } from '../control/incidents.js';
import type { StoredIncident } from './store.js';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { AuditActor, AuditEntry as LoggedAudit, AuditLog } from '../control/audit.js';
import type { EventBus } from '../control/events.js';
import { ConfigError, ErrorCode, HotshardError } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';
import { RoutingTable } from '../keyspace/routing-table.js';
import type { ActionRecord } from '../mitigate/action.js';
import type { Executor } from '../mitigate/executor.js';
import type { PolicyManager } from '../mitigate/policies.js';
import type { Router } from '../router/router.js';
import { StoreCutover } from './cutover.js';
import { openConfigStore } from './open.js';
import { VersionConflict, type ConfigStore, type RoutingVersion, type StoredNode } from './store.js';

/** Audit entries given back to the in-memory log at start (the newest). */
const AUDIT_RESTORED = 10_000;

/** How long close() waits for the store writes already asked for (ms). */
const CLOSE_WAIT_MS = 5000;

/** How the link reaches the process's nodes. */
/** Incidents given back to the incident manager at start (the newest). */
const INCIDENTS_RESTORED = 200;

export interface NodeAccess {
  /** Whether the process has a backend for `node`. */
  has(node: NodeId): boolean;
  /** Creates (and connects) a backend for a Redis node the store lists as added. */
  add(node: StoredNode): Promise<void>;
}

/** The parts of a running process the link keeps in step with the store. */
export interface StoreParts {
  readonly router: Router;
  readonly policies: PolicyManager;
  readonly executor: Executor;
  readonly events: EventBus;
  readonly nodes: NodeAccess;
  /** The audit log: given back the stored entries at start (its `persist` hook is {@link StoreLink.persistAudit}). */
  readonly audit?: AuditLog | undefined;
  /** The incident manager: given back the stored incidents at start; each change is saved. */
  readonly incidents?: IncidentManager | undefined;
  /** Resumes a move the journal holds as still open (a restart); runs on in the background. */
  readonly resumeMove?: ((state: unknown) => Promise<unknown>) | undefined;
}

/** The nodes a configuration declares, as the store's nodes table keeps them. */
export function configuredNodes(config: Config, nodes: readonly NodeId[], now: number): StoredNode[] {
  return nodes.map((id) => ({
    id,
    kind: config.backend === 'redis' ? 'redis' : 'memory',
    address: config.backend === 'redis' ? id : null,
    addedAt: now,
    status: 'configured',
  }));
}

/** One process's link to its config store. */
export class StoreLink {
  readonly store: ConfigStore;
  /** The executor's action id prefix: `a-` alone, or `a-<instance>-` on a shared store. */
  readonly actionIdPrefix: string;
  readonly #log: Logger;
  readonly #onError: (err: unknown) => void;
  /** The latest version the store is known to hold (null: none yet). */
  #stored: number | null = null;
  #writes: Promise<void> = Promise.resolve();
  /** Tables the store already holds (committed here, or followed): installing them saves nothing. */
  readonly #saved = new WeakSet<RoutingTable>();
  readonly #stops: (() => void)[] = [];
  #parts: StoreParts | undefined;
  #closing: Promise<void> | undefined;
  readonly #leaseMs: number;
  readonly #instance: number | null;
  #cutover: StoreCutover | undefined;

  private constructor(
    store: ConfigStore,
    instance: number | null,
    log: Logger,
    onError: (err: unknown) => void,
    leaseMs: number,
  ) {
    this.store = store;
    this.#instance = instance;
    this.actionIdPrefix = instance === null ? 'a-' : `a-${instance}-`;
    this.#log = log;
    this.#onError = onError;
    this.#leaseMs = leaseMs;
  }

  /**
   * On a shared store: this router's lease, its holds of other routers'
   * cutovers, and the coordinator its own moves' cutovers go through
   * (undefined on the embedded store, or before {@link attach}).
   */
  get cutover(): StoreCutover | undefined {
    return this.#cutover;
  }

  /**
   * Opens the store the configuration names (`store`, else `dataDir`, else memory).
   *
   * @example const link = await StoreLink.open(config, log, (err) => controlErrors.record('store', err));
   */
  static async open(config: Config, log: Logger, onError: (err: unknown) => void): Promise<StoreLink> {
    const store = await openConfigStore({ store: config.store, dataDir: config.dataDir, onError });
    try {
      const instance = store.shared ? await store.instance() : null;
      log.info(
        { store: store.location, kind: store.kind },
        `config store: ${store.kind} at ${store.location}`,
      );
      return new StoreLink(store, instance, log, onError, config.routerLeaseMs);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** The latest routing version the store holds, as far as this process knows. */
  get storedVersion(): number | null {
    return this.#stored;
  }

  /**
   * The table to start with: the store's, if it holds one, else `configured`
   * (saved as the first version). Records the configured nodes.
   */
  async tableAtStart(
    configured: RoutingTable,
    declared: readonly StoredNode[],
    nodes: NodeAccess,
  ): Promise<RoutingTable> {
    for (const n of declared) await this.store.nodes.add(n);
    let latest = await this.store.routing.latest();
    if (latest === undefined) {
      try {
        await this.store.routing.save(configured, {
          expectedVersion: null,
          reason: 'initial table from the configuration',
        });
        this.#stored = configured.version;
        return configured;
      } catch (err) {
        // Another router saved the first version while this one started: take theirs.
        if (!(err instanceof VersionConflict)) throw err;
        latest = await this.store.routing.latest();
        if (latest === undefined) throw err;
      }
    }
    const table = this.#parse(latest, configured);
    await this.#provideNodes(table, nodes, true);
    this.#stored = latest.version;
    this.#log.info(
      { version: table.version, shards: table.shards.length, store: this.store.location },
      `routing table version ${table.version} from the config store (its ${table.shards.length} shards win over the configured count)`,
    );
    return table;
  }

  /**
   * Keeps the store and the running parts in step: re-applies the stored key
   * policies, takes back the actions log, then saves what changes and (on a
   * shared store) follows the routing versions other processes save.
   */
  async attach(parts: StoreParts): Promise<void> {
    this.#parts = parts;
    for (const { key, policy } of await this.store.policies.list()) {
      await parts.policies.set(key, policy).catch((err: unknown) => {
        this.#onError(
          new HotshardError(
            ErrorCode.Internal,
            `stored policy of a key could not be re-applied: ${(err as Error).message}`,
            { cause: err },
          ),
        );
      });
    }
    if (parts.audit !== undefined) {
      const kept = await this.store.audit.list({ limit: AUDIT_RESTORED });
      parts.audit.restore(
        kept.map((e) => ({
          id: `au-${e.id}`,
          at: e.at,
          who: e.who as AuditActor,
          verb: e.verb,
          target: e.target,
          reason: e.reason,
          details: e.details ?? {},
        })),
      );
    }
    const incidents = parts.incidents;
    if (incidents !== undefined) {
      const kept = await this.store.incidents.list({ limit: INCIDENTS_RESTORED });
      incidents.restore(kept.reverse() as unknown as Incident[]);
      incidents.persist = (incident) =>
        this.#write(() => this.store.incidents.put(structuredClone(incident) as unknown as StoredIncident));
      this.#stops.push(() => {
        incidents.persist = undefined;
      });
    }
    const restored = await this.store.actions.list({ limit: 1000 });
    // On a shared store a running action may be another router's, alive: only an embedded store's are surely cut short.
    const interrupt = !this.store.shared;
    for (const changed of parts.executor.restore(restored, { interrupt }))
      this.#write(() => this.store.actions.put(changed));
    // Moves cut short by a restart. Not on a shared store: an open move there may be another router's, alive.
    const cutShort =
      parts.resumeMove !== undefined && !this.store.shared ? await this.store.moves.listOpen() : [];
    const onTable = (table: RoutingTable): void => this.#saveInstalled(table);
    parts.router.onTable.add(onTable);
    this.#stops.push(() => parts.router.onTable.delete(onTable));
    const onPolicy = (key: Buffer, policy: unknown): void => {
      const k = Buffer.from(key);
      this.#write(() =>
        policy === undefined
          ? this.store.policies.delete(k).then(() => {})
          : this.store.policies.put(k, policy as never),
      );
    };
    parts.policies.onChange.add(onPolicy);
    this.#stops.push(() => parts.policies.onChange.delete(onPolicy));
    this.#stops.push(
      parts.events.subscribe((event) => {
        if (!event.type.startsWith('action.')) return;
        const record = event.data as ActionRecord;
        this.#write(() => this.store.actions.put(record));
      }),
    );
    if (this.store.shared) {
      this.#stops.push(
        this.store.routing.watch((v) => void this.#follow(v), { after: parts.router.table.version }),
      );
      // Before the router serves: a cutover under way on another router is held here from the first request.
      this.#cutover = new StoreCutover({
        store: this.store,
        routerId: `r-${this.#instance}`,
        leaseMs: this.#leaseMs,
        router: parts.router,
        commit: (table, reason, hold) => this.commit(table, reason, hold),
        refresh: () => this.refreshRouting(),
        onError: this.#onError,
        events: parts.events,
        resume: parts.resumeMove,
        onAdopt: (move, from) =>
          this.#log.info({ move, from }, `taking over move ${move} from router ${from}, whose lease ran out`),
      });
      await this.#cutover.start();
      // A switch saved while this router started (its hold already ended) must not be served stale.
      await this.refreshRouting();
    }
    // Last, so every table a resumed move installs is saved.
    for (const open of cutShort) {
      this.#log.info({ move: open.id }, `resuming move ${open.id} from the config store`);
      parts.resumeMove?.(open.state).catch((err: unknown) => this.#onError(err));
    }
  }

  /**
   * Saves `table` as the next routing version, then installs it: the way to
   * change the table when another router may be changing it too. Rejects with
   * VersionConflict (nothing installed) when another process saved first.
   */
  async commit(table: RoutingTable, reason: string, hold?: string): Promise<void> {
    const parts = this.#parts;
    if (parts === undefined)
      throw new HotshardError(ErrorCode.Internal, 'the config store is not attached yet');
    // Before saving: a table this process could not install must not become every router's.
    await this.#provideNodes(table, parts.nodes, false);
    await this.#enqueue(async () => {
      // Built on a version older than one this process already heard of: another router won.
      if (this.#stored !== null && table.version <= this.#stored)
        throw new VersionConflict(table.version - 1, this.#stored, table.version);
      await this.store.routing.save(table, { expectedVersion: this.#stored, reason, hold });
      this.#stored = table.version;
    });
    this.#saved.add(table);
    parts.router.setTable(table);
  }

  /**
   * Reads the routing version in force from the store and installs it if it
   * is newer than the router's; rejects when the store does not answer (a
   * held range must not be let go on a guess).
   */
  async refreshRouting(): Promise<void> {
    const parts = this.#parts;
    if (parts === undefined) return;
    const v = await this.store.routing.latest();
    if (v === undefined) return;
    if (this.#stored === null || v.version > this.#stored) this.#stored = v.version;
    if (v.version <= parts.router.table.version) return;
    const table = RoutingTable.fromJSON(v.table, parts.router.table.partitioner);
    await this.#provideNodes(table, parts.nodes, false);
    this.#saved.add(table);
    parts.router.setTable(table);
  }

  /** Keeps an audit entry (the AuditLog's `persist` hook), in order with the other writes. */
  persistAudit(entry: LoggedAudit): Promise<void> {
    return this.#enqueue(async () => {
      await this.store.audit.append({
        at: entry.at,
        who: entry.who,
        verb: entry.verb,
        target: entry.target,
        reason: entry.reason,
        details: entry.details,
      });
    });
  }

  /** Stops saving and following, waits for the writes asked for, and closes the store. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#cutover?.close();
      for (const stop of this.#stops.splice(0)) stop();
      // A store that stopped answering must not hold the shutdown: what is still queued then is lost (and logged).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#writes,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
      await this.store.close();
    })();
    return this.#closing;
  }

  #parse(v: RoutingVersion, configured: RoutingTable): RoutingTable {
    if (v.partitioner !== configured.partitioner.kind)
      throw new ConfigError(
        `the config store (${this.store.location}) holds routing version ${v.version} with the ${v.partitioner} partitioner, but the configuration says ${configured.partitioner.kind}: set partitioner to ${v.partitioner}, or use another store`,
      );
    return RoutingTable.fromJSON(v.table, configured.partitioner);
  }

  /** Backends for the table's nodes: from the store's Redis nodes; a shard on any other unknown node is an error. */
  async #provideNodes(table: RoutingTable, nodes: NodeAccess, atStart: boolean): Promise<void> {
    const holding = new Set(table.shards.map((s) => s.node));
    for (const node of table.nodes()) {
      if (nodes.has(node)) continue;
      const stored = await this.store.nodes.get(node);
      // Only a Redis node added at run time: a configured one left out of the configuration stays out.
      if (stored?.kind === 'redis' && stored.status === 'added') {
        await nodes.add(stored);
        continue;
      }
      if (!holding.has(node)) continue;
      const message = `routing version ${table.version} in the config store (${this.store.location}) places shards on node ${node}, which this process has no backend for and the store's nodes table does not list as an added Redis node`;
      throw atStart
        ? new ConfigError(`${message}: add it to the configured nodes (--redis), or use another store`)
        : new HotshardError(ErrorCode.Routing, message);
    }
  }

  /** A table installed here by whatever means: saved unless it came from the store. */
  #saveInstalled(table: RoutingTable): void {
    if (this.#saved.has(table)) return;
    this.#write(async () => {
      try {
        // Installed here on a version another router already replaced: this router now differs from the store.
        if (this.#stored !== null && table.version <= this.#stored)
          throw new VersionConflict(table.version - 1, this.#stored, table.version);
        await this.store.routing.save(table, {
          expectedVersion: this.#stored,
          reason: `installed by this router (${this.actionIdPrefix}*)`,
        });
        this.#stored = table.version;
      } catch (err) {
        if (err instanceof VersionConflict) {
          this.#stored = err.actual;
          this.#parts?.events.publish('routing.conflict', {
            version: table.version,
            expected: err.expected,
            stored: err.actual,
          });
        }
        throw err;
      }
    });
  }

  /** A version another process saved: installed if newer than this router's. */
  async #follow(v: RoutingVersion): Promise<void> {
    const parts = this.#parts;
    if (parts === undefined) return;
    try {
      if (this.#stored === null || v.version > this.#stored) this.#stored = v.version;
      if (v.version <= parts.router.table.version) return;
      const table = RoutingTable.fromJSON(v.table, parts.router.table.partitioner);
      await this.#provideNodes(table, parts.nodes, false);
      this.#saved.add(table);
      if (parts.router.setTable(table))
        this.#log.info(
          { version: v.version, reason: v.reason },
          `routing version ${v.version} from the config store installed`,
        );
    } catch (err) {
      this.#onError(err);
    }
  }

  #write(work: () => Promise<void>): void {
    void this.#enqueue(work).catch((err: unknown) => this.#onError(err));
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#writes.then(work);
    this.#writes = run.catch(() => {});
    return run;
  }
}
