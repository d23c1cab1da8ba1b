/**
 * The routing table: sorted, contiguous ranges of positions that cover the whole keyspace,
 * each range a shard placed on a node. Immutable and versioned — every change returns a new
 * table with version + 1 — so any number of routers, in any number of processes, can follow
 * the control plane's table by version and swap it in atomically.
 *
 * Every table is checked on construction (sorted, contiguous, covering, unique ids, known
 * nodes); changes are rare and tables small, so the O(n) check is cheap insurance.
 */
import { ConfigError, ErrorCode, HotshardError } from '../errors.js';
import { nodeId as toNodeId, shardId as toShardId, type NodeId, type ShardId } from './ids.js';
import { PartitionerKind, partitionerFor, type Partitioner, type Position } from './partitioner.js';

/** Lifecycle of a shard, set by the executor while it splits or moves one live. */
export const ShardStatus = {
  Active: 'active',
  Splitting: 'splitting',
  Moving: 'moving',
  Draining: 'draining',
} as const;
/** One of the shard statuses. */
export type ShardStatus = (typeof ShardStatus)[keyof typeof ShardStatus];
const STATUSES: readonly string[] = Object.values(ShardStatus);

/** One shard: the seed's metadata row `(shard_id, key_range, node, capacity, status)`. */
export interface ShardInfo {
  readonly id: ShardId;
  /** First position of the range, inclusive. */
  readonly start: Position;
  /** End of the range, exclusive; null = end of the keyspace. */
  readonly end: Position | null;
  readonly node: NodeId;
  /** Ops/s the shard is expected to serve; null = unknown. */
  readonly capacity: number | null;
  readonly status: ShardStatus;
}

/** A shard as JSON: positions as the partitioner's text. */
export interface ShardJSON {
  id: string;
  start: string;
  end: string | null;
  node: string;
  capacity: number | null;
  status: ShardStatus;
}

/** A routing table as JSON, for config stores, the control API and routers following it. */
export interface RoutingTableJSON {
  version: number;
  partitioner: PartitionerKind;
  nodes: string[];
  shards: ShardJSON[];
}

/** Options of {@link RoutingTable.create}. */
export interface CreateTableOptions {
  partitioner: Partitioner;
  nodes: readonly NodeId[];
  shards: number;
  /** Capacity of every shard in ops/s; null (default) = unknown. */
  capacity?: number | null;
  /**
   * Explicit split points (strictly increasing, above the keyspace minimum)
   * instead of the partitioner's even ones: `shards` is then `splits.length + 1`.
   * Range tables need them to match the key distribution.
   */
  splits?: readonly Position[];
}

const routingError = (message: string): HotshardError => new HotshardError(ErrorCode.Routing, message);

/** Copies Buffer positions so a request buffer the caller reuses can never move a boundary. */
const own = (p: Position): Position => (Buffer.isBuffer(p) ? Buffer.from(p) : p);

const checkCapacity = (capacity: unknown, where: string): string | null =>
  capacity === null || (typeof capacity === 'number' && Number.isFinite(capacity) && capacity >= 0)
    ? null
    : `${where}.capacity must be null or a finite number >= 0, got ${JSON.stringify(capacity)}`;

/** The invariants every table holds; the first one broken, as a message, or null. */
function brokenInvariant(
  p: Partitioner,
  nodes: readonly NodeId[],
  shards: readonly ShardInfo[],
): string | null {
  if (nodes.length === 0) return 'nodes must not be empty';
  const nodeSet = new Set<string>();
  for (const [i, n] of nodes.entries()) {
    if (typeof n !== 'string' || n === '') return `nodes[${i}] must be a non-empty string`;
    if (nodeSet.has(n)) return `nodes[${i}] ${JSON.stringify(n)} is listed twice`;
    nodeSet.add(n);
  }
  if (shards.length === 0) return 'shards must not be empty';
  const ids = new Set<string>();
  for (const [i, s] of shards.entries()) {
    const where = `shards[${i}] (${JSON.stringify(s.id)})`;
    if (typeof s.id !== 'string' || s.id === '') return `shards[${i}].id must be a non-empty string`;
    if (ids.has(s.id)) return `${where}: shard id is used twice`;
    ids.add(s.id);
    if (!nodeSet.has(s.node)) return `${where}: node ${JSON.stringify(s.node)} is not in nodes`;
    if (!STATUSES.includes(s.status)) {
      return `${where}.status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(s.status)}`;
    }
    const bad = checkCapacity(s.capacity, where);
    if (bad !== null) return bad;
    if (!p.isPosition(s.start) || (s.end !== null && !p.isPosition(s.end))) {
      return `${where}: start and end must be ${p.kind} positions`;
    }
    if (i === 0 && p.compare(s.start, p.min) !== 0) {
      return `${where}.start is ${JSON.stringify(p.format(s.start))}; the first shard must start at ${JSON.stringify(p.format(p.min))} so the keyspace is covered`;
    }
    const next = shards[i + 1];
    if (next === undefined) {
      if (s.end !== null) return `${where}.end must be null (end of keyspace) so the keyspace is covered`;
    } else {
      if (s.end === null) return `${where}.end is null but it is not the last shard`;
      if (p.compare(s.start, s.end) >= 0) {
        return `${where} is empty or reversed: start ${JSON.stringify(p.format(s.start))} is not below end ${JSON.stringify(p.format(s.end))}`;
      }
      if (p.compare(s.end, next.start) !== 0) {
        return `${where}.end ${JSON.stringify(p.format(s.end))} does not equal shards[${i + 1}].start ${JSON.stringify(p.format(next.start))}: ranges must be sorted and contiguous`;
      }
    }
  }
  return null;
}

/**
 * Maps keys to shards and shards to nodes.
 *
 * @example
 * const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: [nodeId('n0'), nodeId('n1')], shards: 4 });
 * const next = table.split(shardId('s0')).move(shardId('s4'), nodeId('n1')); // version 3
 * next.shardFor(Buffer.from('user:42')).node;
 */
export class RoutingTable {
  /** Increases by one with every change. */
  readonly version: number;
  readonly partitioner: Partitioner;
  /** Every shard, in key order. */
  readonly shards: readonly ShardInfo[];
  readonly #nodes: readonly NodeId[];
  readonly #index: ReadonlyMap<ShardId, number>;
  // Range starts as numbers for the hash partitioner, so the hot-path binary search runs
  // over one compact typed array and never calls compare().
  readonly #hashStarts: Uint32Array | null;

  private constructor(
    partitioner: Partitioner,
    version: number,
    nodes: readonly NodeId[],
    shards: ShardInfo[],
  ) {
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new ConfigError(`version must be a positive integer, got ${JSON.stringify(version)}`);
    }
    const broken = brokenInvariant(partitioner, nodes, shards);
    if (broken !== null) throw new ConfigError(`invalid routing table: ${broken}`);
    this.version = version;
    this.partitioner = partitioner;
    this.#nodes = Object.freeze([...nodes]);
    this.shards = Object.freeze(shards.map((s) => Object.freeze({ ...s })));
    this.#index = new Map(this.shards.map((s, i) => [s.id, i]));
    this.#hashStarts =
      partitioner.kind === PartitionerKind.Hash ? Uint32Array.from(shards, (s) => s.start as number) : null;
  }

  /** A version-1 table of `shards` equal ranges ("s0", "s1", ...) spread round-robin over `nodes`. */
  static create(opts: CreateTableOptions): RoutingTable {
    const { partitioner: p, nodes } = opts;
    const capacity = opts.capacity ?? null;
    const bad = checkCapacity(capacity, 'create');
    if (bad !== null) throw new ConfigError(bad);
    if (nodes.length === 0) throw new ConfigError('nodes must list at least one node');
    const splits = opts.splits ?? p.initialSplits(opts.shards);
    if (opts.splits !== undefined) {
      let prev: Position = p.min;
      for (const at of opts.splits) {
        if (!p.isPosition(at) || p.compare(at, prev) <= 0) {
          throw new ConfigError(
            `splits must be strictly increasing ${p.kind} positions above ${p.format(p.min)}; got ${String(at)} after ${p.format(prev)}`,
          );
        }
        prev = at;
      }
    }
    const bounds = [p.min, ...splits.map(own), null];
    const shards = bounds.slice(0, -1).map((start, i): ShardInfo => ({
      id: toShardId(`s${i}`),
      start: start!,
      end: bounds[i + 1]!,
      node: nodes[i % nodes.length]!,
      capacity,
      status: ShardStatus.Active,
    }));
    return new RoutingTable(p, 1, nodes, shards);
  }

  /** The shard that owns `key`. Hot path: a binary search, no allocation beyond position(). */
  shardFor(key: Buffer): ShardInfo {
    return this.shards[this.#indexAt(this.partitioner.position(key))]!;
  }

  /**
   * Where the shard that owns `key` is in `shards`: lets per-shard state of
   * this table live in arrays indexed by it instead of maps keyed by shard.
   */
  indexFor(key: Buffer): number {
    return this.#indexAt(this.partitioner.position(key));
  }

  /** The shard whose range holds `position`. */
  shardAt(position: Position): ShardInfo {
    if (!this.partitioner.isPosition(position)) {
      throw routingError(`${String(position)} is not a ${this.partitioner.kind} position`);
    }
    return this.shards[this.#indexAt(position)]!;
  }

  /** The shard with this id, if any. */
  shard(id: ShardId): ShardInfo | undefined {
    const i = this.#index.get(id);
    return i === undefined ? undefined : this.shards[i];
  }

  /** Every node of the table, including nodes that hold no shard yet. */
  nodes(): NodeId[] {
    return [...this.#nodes];
  }

  /** The shards placed on `node`, in key order. */
  shardsOn(node: NodeId): ShardInfo[] {
    return this.shards.filter((s) => s.node === node);
  }

  /**
   * Splits shard `id` at `at` (default: the partitioner's midpoint of its range). The shard
   * keeps `[start, at)`; a new shard `newId` (default: the next free "sN") takes `[at, end)`
   * on the same node, with the same capacity and status.
   */
  split(id: ShardId, at?: Position, newId?: ShardId): RoutingTable {
    const i = this.#indexOf(id);
    const s = this.shards[i]!;
    const p = this.partitioner;
    const range = `[${JSON.stringify(p.format(s.start))}, ${s.end === null ? 'end' : JSON.stringify(p.format(s.end))})`;
    let point: Position;
    if (at === undefined) {
      const mid = p.midpoint(s.start, s.end);
      if (mid === null) throw routingError(`shard ${id} covers ${range}, which has no position to split at`);
      point = mid;
    } else {
      if (!p.isPosition(at)) throw routingError(`split point ${String(at)} is not a ${p.kind} position`);
      if (p.compare(at, s.start) <= 0 || (s.end !== null && p.compare(at, s.end) >= 0)) {
        throw routingError(
          `split point ${JSON.stringify(p.format(at))} is not strictly inside shard ${id}'s range ${range}`,
        );
      }
      point = own(at);
    }
    const created = newId ?? this.#nextShardId();
    if (typeof created !== 'string' || created === '')
      throw routingError('new shard id must be a non-empty string');
    if (this.#index.has(created)) throw routingError(`shard id ${created} is already in use`);
    const shards = [...this.shards];
    shards.splice(i, 1, { ...s, end: point }, { ...s, id: created, start: point });
    return new RoutingTable(p, this.version + 1, this.#nodes, shards);
  }

  /**
   * Joins shard `id` with its right-hand neighbour, metadata only: both must be on one node and
   * active (a shard being split or moved has data in flight). Shard `id` keeps its id, capacity
   * and status and takes the union of the two ranges; the neighbour's id is gone, so
   * `t.split(id, at).merge(id)` has exactly `t`'s shards.
   */
  merge(id: ShardId): RoutingTable {
    const i = this.#indexOf(id);
    const left = this.shards[i]!;
    const right = this.shards[i + 1];
    if (right === undefined)
      throw routingError(`shard ${id} is the last range: it has no right-hand neighbour to merge with`);
    if (left.node !== right.node) {
      throw routingError(
        `shard ${id} is on ${left.node} and its right-hand neighbour ${right.id} on ${right.node}: move one onto the other's node before merging`,
      );
    }
    for (const s of [left, right]) {
      if (s.status !== ShardStatus.Active) {
        throw routingError(`shard ${s.id} is ${s.status}: merge needs both shards active`);
      }
    }
    const shards = [...this.shards];
    shards.splice(i, 2, { ...left, end: right.end });
    return new RoutingTable(this.partitioner, this.version + 1, this.#nodes, shards);
  }

  /** Places shard `id` on `node`, which must be in the table (see {@link withNode}). Same node: this table. */
  move(id: ShardId, node: NodeId): RoutingTable {
    if (!this.#nodes.includes(node)) {
      throw routingError(
        `node ${node} is not in the routing table (nodes: ${this.#nodes.join(', ')}); add it first`,
      );
    }
    return this.#update(id, 'node', node);
  }

  /** Sets shard `id`'s status. Same status: this table. */
  withStatus(id: ShardId, status: ShardStatus): RoutingTable {
    if (!STATUSES.includes(status)) {
      throw routingError(`status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(status)}`);
    }
    return this.#update(id, 'status', status);
  }

  /** Sets shard `id`'s capacity in ops/s (null = unknown). Same capacity: this table. */
  withCapacity(id: ShardId, capacity: number | null): RoutingTable {
    const bad = checkCapacity(capacity, `shard ${id}`);
    if (bad !== null) throw routingError(bad);
    return this.#update(id, 'capacity', capacity);
  }

  /** Adds a node that shards can be moved onto. Already present: this table. */
  withNode(node: NodeId): RoutingTable {
    if (this.#nodes.includes(node)) return this;
    if (typeof node !== 'string' || node === '') throw routingError('node id must be a non-empty string');
    return new RoutingTable(this.partitioner, this.version + 1, [...this.#nodes, node], [...this.shards]);
  }

  /** Removes a node that holds no shard. Absent: this table. */
  withoutNode(node: NodeId): RoutingTable {
    if (!this.#nodes.includes(node)) return this;
    const held = this.shardsOn(node).map((s) => s.id);
    if (held.length > 0)
      throw routingError(`node ${node} still holds shards ${held.join(', ')}; move them first`);
    if (this.#nodes.length === 1) throw routingError(`node ${node} is the only node`);
    const nodes = this.#nodes.filter((n) => n !== node);
    return new RoutingTable(this.partitioner, this.version + 1, nodes, [...this.shards]);
  }

  /** The table as JSON; `RoutingTable.fromJSON(table.toJSON())` gives an equal table. */
  toJSON(): RoutingTableJSON {
    const p = this.partitioner;
    return {
      version: this.version,
      partitioner: p.kind,
      nodes: [...this.#nodes],
      shards: this.shards.map((s) => ({
        id: s.id,
        start: p.format(s.start),
        end: s.end === null ? null : p.format(s.end),
        node: s.node,
        capacity: s.capacity,
        status: s.status,
      })),
    };
  }

  /**
   * Reads a table from JSON (parsed, from a config store or a peer), checking every invariant;
   * throws a ConfigError that names the field that is wrong. With `partitioner`, the JSON's
   * kind must match it.
   */
  static fromJSON(json: unknown, partitioner?: Partitioner): RoutingTable {
    const fail = (message: string, cause?: unknown): never => {
      throw new ConfigError(`routing table JSON: ${message}`, cause === undefined ? undefined : { cause });
    };
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('must be an object');
    const { version, partitioner: kind, nodes, shards } = json as Record<string, unknown>;
    if (typeof kind !== 'string') return fail('partitioner must be a string');
    let p: Partitioner;
    try {
      p = partitionerFor(kind);
    } catch (err) {
      return fail((err as Error).message, err);
    }
    if (partitioner !== undefined && partitioner.kind !== p.kind) {
      return fail(
        `partitioner is ${JSON.stringify(kind)} but the caller expects ${JSON.stringify(partitioner.kind)}`,
      );
    }
    p = partitioner ?? p;
    if (typeof version !== 'number') return fail('version must be a number');
    if (!Array.isArray(nodes)) return fail('nodes must be an array of node ids');
    if (!Array.isArray(shards)) return fail('shards must be an array');
    const position = (text: unknown, where: string): Position => {
      if (typeof text !== 'string') return fail(`${where} must be a string`);
      try {
        return p.parse(text);
      } catch (err) {
        return fail(`${where}: ${(err as Error).message}`, err);
      }
    };
    const rows = shards.map((row: unknown, i): ShardInfo => {
      if (typeof row !== 'object' || row === null) return fail(`shards[${i}] must be an object`);
      const r = row as Record<string, unknown>;
      if (typeof r.node !== 'string') return fail(`shards[${i}].node must be a string`);
      return {
        id: toShardId(r.id as string),
        start: position(r.start, `shards[${i}].start`),
        end: r.end === null ? null : position(r.end, `shards[${i}].end`),
        node: toNodeId(r.node),
        capacity: r.capacity === undefined ? null : (r.capacity as number | null),
        status: r.status as ShardStatus,
      };
    });
    try {
      return new RoutingTable(p, version, nodes as NodeId[], rows);
    } catch (err) {
      return fail((err as Error).message.replace(/^invalid routing table: /, ''), err);
    }
  }

  #indexAt(position: Position): number {
    let lo = 0;
    let hi = this.shards.length - 1;
    const starts = this.#hashStarts;
    // The last shard whose start <= position; shards[0] starts at min, so one always exists.
    if (starts !== null) {
      const pos = position as number;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (starts[mid]! <= pos) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    }
    const p = this.partitioner;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (p.compare(this.shards[mid]!.start, position) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #indexOf(id: ShardId): number {
    const i = this.#index.get(id);
    if (i === undefined) throw routingError(`unknown shard ${JSON.stringify(id)}`);
    return i;
  }

  #update<K extends 'node' | 'status' | 'capacity'>(
    id: ShardId,
    field: K,
    value: ShardInfo[K],
  ): RoutingTable {
    const i = this.#indexOf(id);
    const s = this.shards[i]!;
    if (s[field] === value) return this;
    const shards = [...this.shards];
    shards[i] = { ...s, [field]: value };
    return new RoutingTable(this.partitioner, this.version + 1, this.#nodes, shards);
  }

  /**
   * "s" + one more than the largest "sN" in use. A merge frees its neighbour's id, and a later
   * split may take it again when it was the largest: callers that key history by shard id
   * (the range planner) pass `newId` to split when that matters.
   */
  #nextShardId(): ShardId {
    let max = -1;
    for (const s of this.shards) {
      const m = /^s(\d+)$/.exec(s.id);
      if (m !== null) max = Math.max(max, Number(m[1]));
    }
    return toShardId(`s${max + 1}`);
  }
}
