/**
 * Admission: the rate limits a request meets before it is routed, and
 * shedding. Every refusal is an explicit answer at once, never a silent
 * timeout: `-BUSY HS_ERR_THROTTLED retry-after-ms=<n> scope=<tenant|shard|node> ...`
 * over RESP, 429 with Retry-After over HTTP (docs/errors.md), counted as shed
 * by telemetry.
 *
 * - A tenant's quota: a token bucket per tenant (config
 *   `tenant.declared[].quota`, or set by the planner for a noisy tenant).
 * - A node's limit: a token bucket per node, taken by every keyed request
 *   whose key lives there (a multi-key command takes one token from each node
 *   it touches).
 * - A shard's limit (`POST /shards/{id}:throttle`): the same per shard, so an
 *   operator can cap one hot range without touching its node's other ranges.
 *   The shard of a single-key request is looked up in the routing table the
 *   admission stage follows (`followTable`), only while a shard limit is set.
 * - Shedding: a saturated node refuses requests from tenants whose priority
 *   (config `tenant.declared[].priority`, 0 lowest) is below a level. Raising
 *   the level one step at a time drops the lowest-priority tenants first.
 *
 * A request is refused by at most one limit and then takes no token from any,
 * so a refused request costs the client nothing but its retry. A request is
 * charged one token per command, not per key: the limits bound the requests
 * a tenant makes; a node's load per key is the key-throttle's business.
 *
 * Whose request it is: the session's tenant (AUTH username, HTTP tenant
 * header), or, with `tenantFromKey` (config `tenant.keyPrefix`) and a session
 * that named none, the key's `tenant:` prefix when that names a tenant — the
 * same rule telemetry counts by, so the tenant the detector calls noisy is
 * the one its quota applies to. A multi-key command is its first key's.
 *
 * Nothing here runs unless something is configured: the router checks the one
 * field `engaged` and skips the stage otherwise.
 */
import type { Clock } from '../clock.js';
import type { NodeId, ShardId } from '../keyspace/ids.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { TokenBucket, checkLimit, withBurst, type RateLimit } from '../mitigate/token-bucket.js';
import { throttledError, type ReplyError } from '../protocol/reply.js';
import type { Session } from './session.js';
import { Tenants } from './tenants.js';

/** A limit as the API takes it: the burst defaults to one second of the rate (at least 1). */
export interface LimitSetting {
  readonly opsPerSec: number;
  readonly burst?: number | undefined;
}

/** What admission needs to know. */
export interface AdmissionOptions {
  readonly clock: Clock;
  /** Which tenants exist and their priorities; default: open, every tenant of the default priority. */
  readonly tenants?: Tenants | undefined;
  /** A session that named no tenant is the key's `tenant:` prefix's (config tenant.keyPrefix). */
  readonly tenantFromKey?: boolean | undefined;
  /** The retry-after a shed request is told (ms); default 1000: shedding lasts seconds, not milliseconds. */
  readonly shedRetryAfterMs?: number | undefined;
}

/** One limit's bucket and what it did. */
interface Limiter {
  readonly bucket: TokenBucket;
  admitted: number;
  throttled: number;
}

/** One node's shedding. */
interface Shedding {
  readonly belowPriority: number;
  shed: number;
}

/** One limit as status() shows it. */
export interface LimitStatus extends RateLimit {
  /** Tokens in the bucket now. */
  readonly tokens: number;
  readonly admitted: number;
  readonly throttled: number;
}

/** What admission is doing, for the planner and GET endpoints. */
export interface AdmissionStatus {
  readonly tenants: readonly (LimitStatus & { readonly tenant: string })[];
  readonly nodes: readonly (LimitStatus & { readonly node: NodeId })[];
  readonly shards: readonly (LimitStatus & { readonly shard: ShardId })[];
  readonly shedding: readonly {
    readonly node: NodeId;
    readonly belowPriority: number;
    readonly shed: number;
  }[];
}

const NO_NODES: readonly NodeId[] = [];
const NO_SHARDS: readonly ShardId[] = [];
const COLON = 0x3a;

/**
 * The router's admission stage.
 *
 * @example
 * router.admission.setTenantQuota('acme', { opsPerSec: 2000, burst: 4000 });
 * router.admission.setShedding(nodeId('n2'), 1); // n2 refuses priority-0 tenants
 * router.admission.setShedding(nodeId('n2'), null); // and stops
 */
export class Admission {
  /** True when any quota, node limit or shedding is set; the router skips this stage otherwise. */
  engaged = false;
  readonly #clock: Clock;
  readonly #tenantsConfig: Tenants;
  readonly #tenantFromKey: boolean;
  readonly #shedRetryAfterMs: number;
  readonly #tenants = new Map<string, Limiter>();
  readonly #nodes = new Map<NodeId, Limiter>();
  readonly #shards = new Map<ShardId, Limiter>();
  #table: (() => RoutingTable) | undefined;
  readonly #shedding = new Map<NodeId, Shedding>();

  constructor(options: AdmissionOptions) {
    this.#clock = options.clock;
    this.#tenantsConfig = options.tenants ?? new Tenants();
    this.#tenantFromKey = options.tenantFromKey ?? false;
    this.#shedRetryAfterMs = options.shedRetryAfterMs ?? 1000;
  }

  /**
   * Sets a tenant's quota, or removes it (null). Changing a quota keeps the
   * credit the tenant has left: tightening it on a flood hands out no fresh
   * burst. Throws a RangeError for a rate or burst that cannot work.
   */
  setTenantQuota(tenant: string, limit: LimitSetting | null): void {
    setLimit(this.#tenants, tenant, limit, this.#clock);
    this.#engage();
  }

  /** A tenant's quota in force, if any (so a reverting action can restore it). */
  tenantQuota(tenant: string): RateLimit | undefined {
    return this.#tenants.get(tenant)?.bucket.limit;
  }

  /** Sets the limit on requests to one node, or removes it (null); as setTenantQuota. */
  setNodeLimit(node: NodeId, limit: LimitSetting | null): void {
    setLimit(this.#nodes, node, limit, this.#clock);
    this.#engage();
  }

  /** A node's limit in force, if any. */
  nodeLimit(node: NodeId): RateLimit | undefined {
    return this.#nodes.get(node)?.bucket.limit;
  }

  /**
   * Where a single-key request's shard is looked up while a shard limit is
   * set (the router's table in force; the router's call passes only the node).
   */
  followTable(table: () => RoutingTable): void {
    this.#table = table;
  }

  /**
   * Sets the limit on requests to one shard, or removes it (null); as
   * setTenantQuota. Throws an Error when no table is followed: a shard limit
   * that no request could be matched to would silently do nothing.
   */
  setShardLimit(shard: ShardId, limit: LimitSetting | null): void {
    if (limit !== null && this.#table === undefined)
      throw new Error('a shard limit needs the routing table: call followTable() first');
    setLimit(this.#shards, shard, limit, this.#clock);
    this.#engage();
  }

  /** A shard's limit in force, if any. */
  shardLimit(shard: ShardId): RateLimit | undefined {
    return this.#shards.get(shard)?.bucket.limit;
  }

  /**
   * Makes `node` refuse requests from tenants whose priority is below
   * `belowPriority` (1 sheds the priority-0 tenants; each step up sheds the
   * next-lowest too), or stops shedding there (null).
   */
  setShedding(node: NodeId, belowPriority: number | null): void {
    if (belowPriority === null) this.#shedding.delete(node);
    else {
      if (!Number.isFinite(belowPriority))
        throw new RangeError(`shedding level must be a finite priority, got ${belowPriority}`);
      const shed = this.#shedding.get(node)?.shed ?? 0;
      this.#shedding.set(node, { belowPriority, shed });
    }
    this.#engage();
  }

  /** The shedding level on `node`, if it sheds. */
  shedding(node: NodeId): number | undefined {
    return this.#shedding.get(node)?.belowPriority;
  }

  /** Every limit and shedding in force, with what each admitted and refused. */
  status(): AdmissionStatus {
    return {
      tenants: [...this.#tenants].map(([tenant, l]) => ({ tenant, ...limitStatus(l) })),
      nodes: [...this.#nodes].map(([node, l]) => ({ node, ...limitStatus(l) })),
      shards: [...this.#shards].map(([shard, l]) => ({ shard, ...limitStatus(l) })),
      shedding: [...this.#shedding].map(([node, s]) => ({
        node,
        belowPriority: s.belowPriority,
        shed: s.shed,
      })),
    };
  }

  /** The tenant a request for `key` counts against (see the header). */
  tenantOf(session: Session, key: Buffer): string {
    if (this.#tenantFromKey && !session.tenantNamed) {
      const colon = key.indexOf(COLON);
      if (colon > 0 && colon <= 64) {
        const prefix = key.toString('latin1', 0, colon);
        // A prefix that names no tenant is the session's own traffic.
        if (this.#tenantsConfig.refuseName(prefix) === undefined) return prefix;
      }
    }
    return session.tenant;
  }

  /** A keyed command for `key` on `node`: undefined to go on, or the refusal to answer with. */
  admit(session: Session, key: Buffer, node: NodeId): ReplyError | undefined {
    const tenant = this.tenantOf(session, key);
    if (this.#shedding.size !== 0) {
      const refused = this.#shed(tenant, node);
      if (refused !== undefined) return refused;
    }
    const n = this.#nodes.size === 0 ? undefined : this.#nodes.get(node);
    let shards = NO_SHARDS;
    if (this.#shards.size !== 0) {
      const shard = this.#table!().shardFor(key).id;
      if (this.#shards.has(shard)) shards = [shard];
    }
    return this.#take(tenant, n === undefined ? NO_NODES : [node], shards);
  }

  /** A multi-key command whose first key is `key` and whose keys are on shards `at` of `table` (shardsOfKeys). */
  admitShards(session: Session, key: Buffer, table: RoutingTable, at: Int32Array): ReplyError | undefined {
    const tenant = this.tenantOf(session, key);
    const nodes: NodeId[] = [];
    const shards: ShardId[] = [];
    for (const i of at) {
      const { id, node } = table.shards[i]!;
      if (!nodes.includes(node)) nodes.push(node);
      if (this.#shards.has(id) && !shards.includes(id)) shards.push(id);
    }
    if (this.#shedding.size !== 0) {
      for (const node of nodes) {
        const refused = this.#shed(tenant, node);
        if (refused !== undefined) return refused;
      }
    }
    return this.#take(
      tenant,
      nodes.filter((node) => this.#nodes.has(node)),
      shards,
    );
  }

  #shed(tenant: string, node: NodeId): ReplyError | undefined {
    const s = this.#shedding.get(node);
    if (s === undefined) return undefined;
    const priority = this.#tenantsConfig.priorityOf(tenant);
    if (priority >= s.belowPriority) return undefined;
    s.shed++;
    return throttledError(
      this.#shedRetryAfterMs,
      'node',
      `node ${node} is shedding load: tenants below priority ${s.belowPriority} are refused (${tenant} has ${priority})`,
    );
  }

  // Looks at every limit first and takes a token from each only when all
  // have one: a refused request leaves every bucket as it was. The refusal
  // names the limit with the longest wait, which the client must wait anyway.
  #take(tenant: string, nodes: readonly NodeId[], shards: readonly ShardId[]): ReplyError | undefined {
    const t = this.#tenants.size === 0 ? undefined : this.#tenants.get(tenant);
    let wait = t === undefined ? 0 : t.bucket.wait();
    let worst: NodeId | undefined;
    let worstShard: ShardId | undefined;
    for (const node of nodes) {
      const w = this.#nodes.get(node)!.bucket.wait();
      if (w > wait) {
        wait = w;
        worst = node;
      }
    }
    for (const shard of shards) {
      const w = this.#shards.get(shard)!.bucket.wait();
      if (w > wait) {
        wait = w;
        worstShard = shard;
      }
    }
    if (wait > 0) {
      if (worstShard !== undefined) {
        const s = this.#shards.get(worstShard)!;
        s.throttled++;
        const { opsPerSec, burst } = s.bucket.limit;
        return throttledError(
          wait,
          'shard',
          `shard ${worstShard} is over its limit of ${opsPerSec} ops/s (burst ${burst})`,
        );
      }
      if (worst === undefined) {
        t!.throttled++;
        const { opsPerSec, burst } = t!.bucket.limit;
        return throttledError(
          wait,
          'tenant',
          `tenant ${tenant} is over its quota of ${opsPerSec} ops/s (burst ${burst})`,
        );
      }
      const n = this.#nodes.get(worst)!;
      n.throttled++;
      const { opsPerSec, burst } = n.bucket.limit;
      return throttledError(
        wait,
        'node',
        `node ${worst} is over its limit of ${opsPerSec} ops/s (burst ${burst})`,
      );
    }
    if (t !== undefined) {
      t.bucket.take();
      t.admitted++;
    }
    for (const node of nodes) {
      const n = this.#nodes.get(node)!;
      n.bucket.take();
      n.admitted++;
    }
    for (const shard of shards) {
      const s = this.#shards.get(shard)!;
      s.bucket.take();
      s.admitted++;
    }
    return undefined;
  }

  #engage(): void {
    this.engaged =
      this.#tenants.size !== 0 ||
      this.#nodes.size !== 0 ||
      this.#shards.size !== 0 ||
      this.#shedding.size !== 0;
  }
}

function setLimit<K>(map: Map<K, Limiter>, name: K, setting: LimitSetting | null, clock: Clock): void {
  if (setting === null) {
    map.delete(name);
    return;
  }
  const limit = withBurst(setting);
  checkLimit(limit);
  const had = map.get(name);
  if (had === undefined) map.set(name, { bucket: new TokenBucket(limit, clock), admitted: 0, throttled: 0 });
  else had.bucket.configure(limit);
}

function limitStatus(l: Limiter): LimitStatus {
  return { ...l.bucket.limit, tokens: l.bucket.tokens(), admitted: l.admitted, throttled: l.throttled };
}
