/**
 * The config store over SQL, for both SQLite and PostgreSQL: one set of
 * queries through Kysely, which compiles each for its dialect. What differs
 * between the two — how a database is opened, how other processes hear of a
 * new routing version — is handed in by `embedded.ts` and `postgres.ts`.
 *
 * The driver choice was measured (bench/store/run.ts, docs/store.md): Kysely
 * costs ~0.2 ms per routing save over raw better-sqlite3 and nothing
 * measurable over raw pg, and saves happen a few times per routing change.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Clock } from '../clock.js';
import { ErrorCode, HotshardError } from '../errors.js';
import type { RoutingTable, RoutingTableJSON } from '../keyspace/routing-table.js';
import type { ActionRecord } from '../mitigate/action.js';
import type { KeyPolicy } from '../mitigate/policy.js';
import type { Dialect, Tables } from './schema.js';
import {
  StoreUnavailable,
  VersionConflict,
  type AuditEntry,
  type ConfigStore,
  type HeatSample,
  type RoutingVersion,
  type StoredIncident,
  type StoredMove,
  type StoredNode,
  type Unwatch,
} from './store.js';

/** Tells watchers in other stores (or processes) that a routing version was saved. */
export interface ChangeFeed {
  /** Runs inside the saving transaction (PostgreSQL: NOTIFY, delivered at commit). */
  inTransaction(tx: Transaction<Tables>, version: number): Promise<void>;
  /** Runs after the commit (embedded: tells the other stores of this process on the same file). */
  afterCommit(version: number): void;
  /** Starts hearing of saves, anyone's; returns how to stop. `signal` may be called spuriously. */
  listen(signal: () => void): () => void;
  close(): Promise<void>;
}

/** How {@link createSqlStore} is set up. */
export interface SqlStoreOptions {
  readonly db: Kysely<Tables>;
  readonly dialect: Dialect;
  readonly kind: ConfigStore['kind'];
  readonly location: string;
  readonly shared: boolean;
  readonly feed: ChangeFeed;
  readonly clock: Clock;
  /** Told of failures nobody awaits (a watch's read after a notice). */
  readonly onError: (err: unknown) => void;
  /** Lets go of the database (the opener owns it: embedded stores of one file share one connection). */
  readonly release: () => Promise<void>;
}

const badRequest = (message: string): HotshardError => new HotshardError(ErrorCode.BadRequest, message);

function json(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw badRequest(`${what} cannot be stored as JSON: ${(err as Error).message}`);
  }
  if (text === undefined) throw badRequest(`${what} cannot be stored as JSON (got ${typeof value})`);
  return text;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw badRequest(`${what} must be a non-empty string`);
  return value;
}

function time(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw badRequest(`${what} must be a time in ms, got ${JSON.stringify(value)}`);
  return Math.round(value);
}

function limitOf(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw badRequest(`limit must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

function bytes(key: unknown): Buffer {
  if (!Buffer.isBuffer(key)) throw badRequest('a policy key must be a Buffer (keys are bytes)');
  return key;
}

/** Rows of at most this many shards per INSERT: SQLite allows 32,766 bound values per statement. */
const SHARD_ROWS_PER_INSERT = 500;

/** Builds the store over an open, migrated database. */
export function createSqlStore(o: SqlStoreOptions): ConfigStore {
  const { db, clock } = o;
  let closed = false;
  let closing: Promise<void> | undefined;

  /** Runs one store operation: refused once closed; database failures become StoreUnavailable. */
  async function run<T>(what: string, work: () => Promise<T>): Promise<T> {
    if (closed) throw new StoreUnavailable(`the config store (${o.location}) is closed: cannot ${what}`);
    try {
      return await work();
    } catch (err) {
      if (err instanceof HotshardError) throw err;
      throw new StoreUnavailable(
        `config store (${o.location}) could not ${what}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  const toVersion = (r: Tables['routing_versions']): RoutingVersion => ({
    version: Number(r.version),
    partitioner: r.partitioner,
    table: JSON.parse(r.table_json) as RoutingTableJSON,
    createdAt: Number(r.created_at),
    reason: r.reason,
  });

  async function latest(): Promise<RoutingVersion | undefined> {
    const row = await db
      .selectFrom('routing_head')
      .innerJoin('routing_versions', 'routing_versions.version', 'routing_head.version')
      .selectAll('routing_versions')
      .where('routing_head.id', '=', 1)
      .executeTakeFirst();
    return row === undefined ? undefined : toVersion(row);
  }

  async function headVersion(tx: Kysely<Tables>): Promise<number | null> {
    const row = await tx.selectFrom('routing_head').select('version').where('id', '=', 1).executeTakeFirst();
    return row === undefined ? null : Number(row.version);
  }

  // Watches: one listener on the feed for the whole store; each watch has its own high-water mark.
  const watchers = new Set<{ after: number; listener: (v: RoutingVersion) => void }>();
  let stopFeed: (() => void) | undefined;
  let checking = false;
  let again = false;
  function onSignal(): void {
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    void (async () => {
      do {
        again = false;
        try {
          if (closed || watchers.size === 0) break;
          const v = await latest();
          if (v === undefined) continue;
          for (const w of [...watchers]) {
            if (v.version <= w.after) continue;
            w.after = v.version;
            try {
              w.listener(v);
            } catch (err) {
              o.onError(err);
            }
          }
        } catch (err) {
          if (!closed) o.onError(err);
        }
      } while (again);
      checking = false;
    })();
  }

  const routing: ConfigStore['routing'] = {
    latest: () => run('read the latest routing version', latest),
    get: (version) =>
      run(`read routing version ${version}`, async () => {
        const row = await db
          .selectFrom('routing_versions')
          .selectAll()
          .where('version', '=', version)
          .executeTakeFirst();
        return row === undefined ? undefined : toVersion(row);
      }),
    shards: () =>
      run('read the shards of the routing version in force', async () => {
        // Key order is the routing table's: read it from the version's JSON, not from text bounds.
        const head = await latest();
        if (head === undefined) return [];
        const rows = await db.selectFrom('shards').selectAll().execute();
        const byId = new Map(rows.map((r) => [r.shard_id, r]));
        return head.table.shards.flatMap((s) => {
          const r = byId.get(s.id);
          return r === undefined
            ? []
            : [
                {
                  shardId: r.shard_id,
                  keyRange: r.key_range,
                  start: r.range_start,
                  end: r.range_end,
                  node: r.node,
                  capacity: r.capacity === null ? null : Number(r.capacity),
                  status: r.status,
                  version: Number(r.version),
                },
              ];
        });
      }),
    save: (table: RoutingTable, { expectedVersion, reason }) =>
      run(`save routing version ${String(table?.version)}`, async () => {
        if (typeof table?.toJSON !== 'function') throw badRequest('save takes a RoutingTable');
        if (expectedVersion !== null && !Number.isSafeInteger(expectedVersion))
          throw badRequest(
            `expectedVersion must be an integer or null, got ${JSON.stringify(expectedVersion)}`,
          );
        if (table.version <= (expectedVersion ?? 0))
          throw badRequest(
            `routing version ${table.version} is not above the version it replaces (${expectedVersion ?? 'none'})`,
          );
        const tableJson = table.toJSON();
        const record: RoutingVersion = {
          version: table.version,
          partitioner: tableJson.partitioner,
          table: tableJson,
          createdAt: clock.now(),
          reason: typeof reason === 'string' ? reason : '',
        };
        await db.transaction().execute(async (tx) => {
          const won =
            expectedVersion === null
              ? await tx
                  .insertInto('routing_head')
                  .values({ id: 1, version: table.version })
                  .onConflict((oc) => oc.column('id').doNothing())
                  .executeTakeFirst()
              : await tx
                  .updateTable('routing_head')
                  .set({ version: table.version })
                  .where('id', '=', 1)
                  .where('version', '=', expectedVersion)
                  .executeTakeFirst();
          const changed =
            'numInsertedOrUpdatedRows' in won ? won.numInsertedOrUpdatedRows : won.numUpdatedRows;
          if (Number(changed ?? 0) !== 1)
            throw new VersionConflict(expectedVersion, await headVersion(tx), table.version);
          await tx
            .insertInto('routing_versions')
            .values({
              version: record.version,
              partitioner: record.partitioner,
              table_json: json(tableJson, 'the routing table'),
              created_at: record.createdAt,
              reason: record.reason,
            })
            .execute();
          await tx.deleteFrom('shards').execute();
          const p = table.partitioner;
          const rows = table.shards.map((s) => {
            const start = p.format(s.start);
            const end = s.end === null ? null : p.format(s.end);
            return {
              shard_id: s.id,
              key_range: `[${start}, ${end ?? '∞'})`,
              range_start: start,
              range_end: end,
              node: s.node,
              capacity: s.capacity,
              status: s.status,
              version: table.version,
            };
          });
          for (let i = 0; i < rows.length; i += SHARD_ROWS_PER_INSERT)
            await tx
              .insertInto('shards')
              .values(rows.slice(i, i + SHARD_ROWS_PER_INSERT))
              .execute();
          await o.feed.inTransaction(tx, table.version);
        });
        o.feed.afterCommit(table.version);
        return record;
      }),
    watch(listener, options?: { after?: number }): Unwatch {
      if (closed) throw new StoreUnavailable(`the config store (${o.location}) is closed: cannot watch`);
      const w = { after: options?.after ?? Number.POSITIVE_INFINITY, listener };
      watchers.add(w);
      stopFeed ??= o.feed.listen(onSignal);
      if (options?.after === undefined) {
        // "Saved after this call": the version in force now is the mark. Until it is read, nothing is delivered.
        void latest().then(
          (v) => {
            if (w.after === Number.POSITIVE_INFINITY) w.after = v?.version ?? 0;
            onSignal();
          },
          (err: unknown) => {
            w.after = 0;
            o.onError(err);
          },
        );
      } else onSignal();
      return () => {
        watchers.delete(w);
      };
    },
  };

  const toNode = (r: Tables['nodes']): StoredNode => ({
    id: r.id,
    kind: r.kind as StoredNode['kind'],
    address: r.address,
    addedAt: Number(r.added_at),
    status: r.status,
  });
  const nodeRow = (n: StoredNode): Tables['nodes'] => {
    if (n.kind !== 'redis' && n.kind !== 'memory')
      throw badRequest(`node kind must be redis or memory, got ${JSON.stringify(n.kind)}`);
    return {
      id: text(n.id, 'node id'),
      kind: n.kind,
      address: n.address === null ? null : text(n.address, 'node address'),
      added_at: time(n.addedAt, 'node addedAt'),
      status: text(n.status, 'node status'),
    };
  };

  const nodes: ConfigStore['nodes'] = {
    put: (n) =>
      run(`save node ${String(n?.id)}`, async () => {
        const row = nodeRow(n);
        await db
          .insertInto('nodes')
          .values(row)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet({
              kind: row.kind,
              address: row.address,
              added_at: row.added_at,
              status: row.status,
            }),
          )
          .execute();
      }),
    add: (n) =>
      run(`add node ${String(n?.id)}`, async () => {
        const r = await db
          .insertInto('nodes')
          .values(nodeRow(n))
          .onConflict((oc) => oc.column('id').doNothing())
          .executeTakeFirst();
        return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
      }),
    get: (id) =>
      run(`read node ${id}`, async () => {
        const r = await db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
        return r === undefined ? undefined : toNode(r);
      }),
    list: () =>
      run('list nodes', async () =>
        (await db.selectFrom('nodes').selectAll().orderBy('added_at').orderBy('id').execute()).map(toNode),
      ),
    delete: (id) =>
      run(`delete node ${id}`, async () => {
        const r = await db.deleteFrom('nodes').where('id', '=', id).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      }),
  };

  const policies: ConfigStore['policies'] = {
    put: (key, policy) =>
      run('save a key policy', async () => {
        const row = { key: bytes(key), policy_json: json(policy, 'the key policy'), updated_at: clock.now() };
        await db
          .insertInto('key_policies')
          .values(row)
          .onConflict((oc) =>
            oc.column('key').doUpdateSet({ policy_json: row.policy_json, updated_at: row.updated_at }),
          )
          .execute();
      }),
    get: (key) =>
      run('read a key policy', async () => {
        const r = await db
          .selectFrom('key_policies')
          .selectAll()
          .where('key', '=', bytes(key))
          .executeTakeFirst();
        return r === undefined
          ? undefined
          : {
              key: Buffer.from(r.key),
              policy: JSON.parse(r.policy_json) as KeyPolicy,
              updatedAt: Number(r.updated_at),
            };
      }),
    delete: (key) =>
      run('delete a key policy', async () => {
        const r = await db.deleteFrom('key_policies').where('key', '=', bytes(key)).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      }),
    list: () =>
      run('list key policies', async () =>
        (await db.selectFrom('key_policies').selectAll().orderBy('key').execute()).map((r) => ({
          key: Buffer.from(r.key),
          policy: JSON.parse(r.policy_json) as KeyPolicy,
          updatedAt: Number(r.updated_at),
        })),
      ),
  };

  const actions: ConfigStore['actions'] = {
    put: (record) =>
      run(`save action ${String(record?.id)}`, async () => {
        const row = {
          id: text(record.id, 'action id'),
          kind: text(record.kind, 'action kind'),
          subject: `${String(record.subject?.type)}:${String(record.subject?.name)}`,
          state: text(record.state, 'action state'),
          record_json: json(record, 'the action record'),
          created_at: time(record.createdAt, 'action createdAt'),
          updated_at: time(record.updatedAt, 'action updatedAt'),
        };
        await db
          .insertInto('actions')
          .values(row)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet({
              kind: row.kind,
              subject: row.subject,
              state: row.state,
              record_json: row.record_json,
              updated_at: row.updated_at,
            }),
          )
          .execute();
      }),
    get: (id) =>
      run(`read action ${id}`, async () => {
        const r = await db
          .selectFrom('actions')
          .select('record_json')
          .where('id', '=', id)
          .executeTakeFirst();
        return r === undefined ? undefined : (JSON.parse(r.record_json) as ActionRecord);
      }),
    list: (filter = {}) =>
      run('list actions', async () => {
        let q = db.selectFrom('actions').select('record_json');
        if (filter.state !== undefined) q = q.where('state', '=', filter.state);
        // Ids are `a-<n>`: by length, then text, is by number.
        const rows = await q
          .orderBy('created_at', 'desc')
          .orderBy(sql`length(id)`, 'desc')
          .orderBy('id', 'desc')
          .limit(limitOf(filter.limit, 1000))
          .execute();
        return rows.map((r) => JSON.parse(r.record_json) as ActionRecord);
      }),
  };

  const toMove = (r: Tables['moves']): StoredMove => ({
    id: r.id,
    open: Number(r.open) === 1,
    state: JSON.parse(r.state_json) as unknown,
    updatedAt: Number(r.updated_at),
  });
  const moves: ConfigStore['moves'] = {
    put: (m) =>
      run(`save move ${String(m?.id)}`, async () => {
        if (typeof m.open !== 'boolean') throw badRequest('move.open must be true or false');
        const row = {
          id: text(m.id, 'move id'),
          open: m.open ? 1 : 0,
          state_json: json(m.state, 'the move state'),
          updated_at: clock.now(),
        };
        await db
          .insertInto('moves')
          .values(row)
          .onConflict((oc) =>
            oc
              .column('id')
              .doUpdateSet({ open: row.open, state_json: row.state_json, updated_at: row.updated_at }),
          )
          .execute();
      }),
    get: (id) =>
      run(`read move ${id}`, async () => {
        const r = await db.selectFrom('moves').selectAll().where('id', '=', id).executeTakeFirst();
        return r === undefined ? undefined : toMove(r);
      }),
    listOpen: () =>
      run('list open moves', async () =>
        (
          await db
            .selectFrom('moves')
            .selectAll()
            .where('open', '=', 1)
            .orderBy('updated_at')
            .orderBy('id')
            .execute()
        ).map(toMove),
      ),
    delete: (id) =>
      run(`delete move ${id}`, async () => {
        const r = await db.deleteFrom('moves').where('id', '=', id).executeTakeFirst();
        return Number(r.numDeletedRows) > 0;
      }),
  };

  const toAudit = (r: Omit<Tables['audit_log'], 'id'> & { id: number | string }): AuditEntry => ({
    id: Number(r.id),
    at: Number(r.at),
    who: r.who,
    verb: r.verb,
    target: r.target,
    reason: r.reason,
    details: r.details_json === null ? null : (JSON.parse(r.details_json) as Record<string, unknown>),
  });
  const audit: ConfigStore['audit'] = {
    append: (e) =>
      run(`append to the audit log (${String(e?.verb)})`, async () => {
        const row = {
          at: e.at === undefined ? clock.now() : time(e.at, 'audit at'),
          who: text(e.who, 'audit who'),
          verb: text(e.verb, 'audit verb'),
          target: text(e.target, 'audit target'),
          reason: typeof e.reason === 'string' ? e.reason : null,
          details_json: e.details == null ? null : json(e.details, 'audit details'),
        };
        const r = await db.insertInto('audit_log').values(row).returning('id').executeTakeFirstOrThrow();
        return toAudit({ ...row, id: r.id });
      }),
    list: (filter = {}) =>
      run('list the audit log', async () => {
        const limit = limitOf(filter.limit, 100);
        if (filter.since !== undefined) {
          const since = time(filter.since, 'since');
          const rows = await db
            .selectFrom('audit_log')
            .selectAll()
            .where('at', '>=', since)
            .orderBy('id')
            .limit(limit)
            .execute();
          return rows.map(toAudit);
        }
        const rows = await db
          .selectFrom('audit_log')
          .selectAll()
          .orderBy('id', 'desc')
          .limit(limit)
          .execute();
        return rows.map(toAudit).reverse();
      }),
  };

  const incidents: ConfigStore['incidents'] = {
    put: (inc) =>
      run(`save incident ${String(inc?.id)}`, async () => {
        const resolved = inc.resolvedAt ?? null;
        const row = {
          id: text(inc.id, 'incident id'),
          state: text(inc.state, 'incident state'),
          opened_at: time(inc.openedAt, 'incident openedAt'),
          resolved_at: resolved === null ? null : time(resolved, 'incident resolvedAt'),
          incident_json: json(inc, 'the incident'),
        };
        await db
          .insertInto('incidents')
          .values(row)
          .onConflict((oc) =>
            oc.column('id').doUpdateSet({
              state: row.state,
              opened_at: row.opened_at,
              resolved_at: row.resolved_at,
              incident_json: row.incident_json,
            }),
          )
          .execute();
      }),
    get: (id) =>
      run(`read incident ${id}`, async () => {
        const r = await db
          .selectFrom('incidents')
          .select('incident_json')
          .where('id', '=', id)
          .executeTakeFirst();
        return r === undefined ? undefined : (JSON.parse(r.incident_json) as StoredIncident);
      }),
    list: (filter = {}) =>
      run('list incidents', async () => {
        let q = db.selectFrom('incidents').select('incident_json');
        if (filter.state !== undefined) q = q.where('state', '=', filter.state);
        const rows = await q
          .orderBy('opened_at', 'desc')
          .orderBy('id', 'desc')
          .limit(limitOf(filter.limit, 1000))
          .execute();
        return rows.map((r) => JSON.parse(r.incident_json) as StoredIncident);
      }),
  };

  const finite = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw badRequest(`${what} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  const heatRow = (h: HeatSample): Tables['heat'] => ({
    at: time(h.at, 'heat at'),
    shard: text(h.shard, 'heat shard'),
    source: text(h.source, 'heat source'),
    node: text(h.node, 'heat node'),
    qps: finite(h.qps, 'heat qps'),
    p99_ms: finite(h.p99Ms, 'heat p99Ms'),
    utilization: h.utilization === null ? null : finite(h.utilization, 'heat utilization'),
    bytes: finite(h.bytes, 'heat bytes'),
  });
  const heat: ConfigStore['heat'] = {
    put: (samples) =>
      run(`save ${samples.length} heat samples`, async () => {
        // Checked before anything is written: one bad sample writes none.
        const rows = samples.map(heatRow);
        // 8 values a row; SQLite allows 32,766 bound values per statement.
        for (let i = 0; i < rows.length; i += SHARD_ROWS_PER_INSERT) {
          await db
            .insertInto('heat')
            .values(rows.slice(i, i + SHARD_ROWS_PER_INSERT))
            .onConflict((oc) =>
              oc.columns(['at', 'shard', 'source']).doUpdateSet((eb) => ({
                node: eb.ref('excluded.node'),
                qps: eb.ref('excluded.qps'),
                p99_ms: eb.ref('excluded.p99_ms'),
                utilization: eb.ref('excluded.utilization'),
                bytes: eb.ref('excluded.bytes'),
              })),
            )
            .execute();
        }
      }),
    list: (range) =>
      run('list heat samples', async () => {
        const from = time(range.from, 'heat from');
        const to = time(range.to, 'heat to');
        const rows = await db
          .selectFrom('heat')
          .selectAll()
          .where('at', '>=', from)
          .where('at', '<', to)
          .orderBy('at')
          .orderBy('shard')
          .orderBy('source')
          .execute();
        return rows.map((r) => ({
          at: Number(r.at),
          shard: r.shard,
          node: r.node,
          source: r.source,
          qps: Number(r.qps),
          p99Ms: Number(r.p99_ms),
          utilization: r.utilization === null ? null : Number(r.utilization),
          bytes: Number(r.bytes),
        }));
      }),
    prune: (before) =>
      run('prune heat samples', async () => {
        const r = await db
          .deleteFrom('heat')
          .where('at', '<', time(before, 'heat before'))
          .executeTakeFirst();
        return Number(r.numDeletedRows);
      }),
  };

  return {
    kind: o.kind,
    location: o.location,
    shared: o.shared,
    routing,
    nodes,
    policies,
    actions,
    moves,
    audit,
    incidents,
    heat,
    instance: () =>
      run('register this process', async () => {
        const r = await db
          .insertInto('instances')
          .values({ started_at: clock.now() })
          .returning('id')
          .executeTakeFirstOrThrow();
        return Number(r.id);
      }),
    close(): Promise<void> {
      closing ??= (async () => {
        closed = true;
        watchers.clear();
        stopFeed?.();
        await o.feed.close().catch(() => {});
        await o.release().catch(() => {});
      })();
      return closing;
    },
  };
}
