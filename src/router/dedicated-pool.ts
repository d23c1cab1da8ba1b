/**
 * The bounded pool of dedicated backend connections (WATCH pins, blocking
 * commands), per node: at most `perNode` open at once, idle ones kept for
 * reuse. When every one is taken the request is refused at once with BUSY
 * HS_ERR_NODE_OVERLOADED: waiting for one would hang a client behind other
 * clients' BLPOP 0, and opening more would let blocked clients use up the
 * node's maxclients and the router's descriptors.
 */
import type { DedicatedConnection, DedicatedPurpose, ShardBackend } from '../backend/backend.js';
import { ErrorCode, HotshardError } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';

/** The default of limits.dedicatedPerNode. */
export const DEFAULT_DEDICATED_PER_NODE = 64;

interface NodePool {
  /** Handed out, being opened, or idle. */
  open: number;
  readonly idle: Record<DedicatedPurpose, DedicatedConnection[]>;
}

/** Dedicated connections per node, bounded. */
export class DedicatedPool {
  readonly perNode: number;
  readonly #nodes = new Map<NodeId, NodePool>();

  constructor(perNode = DEFAULT_DEDICATED_PER_NODE) {
    if (!Number.isSafeInteger(perNode) || perNode < 1)
      throw new RangeError(`dedicated connections per node must be a positive integer (got ${perNode})`);
    this.perNode = perNode;
  }

  /** Connections of `node` open now (in use or idle). */
  openCount(node: NodeId): number {
    return this.#nodes.get(node)?.open ?? 0;
  }

  /** Connections of `node` in use now. */
  inUse(node: NodeId): number {
    const pool = this.#nodes.get(node);
    return pool === undefined ? 0 : pool.open - pool.idle.watch.length - pool.idle.blocking.length;
  }

  /**
   * A connection to `backend`'s node for `purpose`: an idle one, or a new one
   * while under the limit. Rejects with HS_ERR_NODE_OVERLOADED when all are
   * in use, or with the backend's error when it cannot open one.
   */
  async acquire(backend: ShardBackend, purpose: DedicatedPurpose): Promise<DedicatedConnection> {
    const open = backend.openDedicated?.bind(backend);
    if (open === undefined)
      throw new HotshardError(
        ErrorCode.NotAllowed,
        `node ${backend.node} (${backend.kind}) has no dedicated connections for WATCH or blocking commands`,
      );
    const pool = this.#pool(backend.node);
    const idle = pool.idle[purpose];
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (conn.open) return conn;
      pool.open--;
    }
    if (pool.open >= this.perNode) {
      // An idle connection of the other kind gives way to this one.
      const other = pool.idle[purpose === 'watch' ? 'blocking' : 'watch'].pop();
      if (other === undefined)
        throw new HotshardError(
          ErrorCode.NodeOverloaded,
          `all ${this.perNode} dedicated connections to node ${backend.node} are in use by WATCH and ` +
            'blocking commands (limits.dedicatedPerNode); retry later',
        );
      other.close();
      pool.open--;
    }
    pool.open++;
    try {
      return await open(purpose);
    } catch (err) {
      pool.open--;
      throw err;
    }
  }

  /** Gives a connection back: kept for reuse when `clean` (no state left on it), else closed. */
  release(node: NodeId, conn: DedicatedConnection, clean: boolean): void {
    const pool = this.#pool(node);
    if (clean && conn.open) {
      pool.idle[conn.purpose].push(conn);
      return;
    }
    conn.close();
    pool.open--;
  }

  /** Closes every idle connection (shutdown, a node removed). */
  closeIdle(node?: NodeId): void {
    for (const [id, pool] of this.#nodes) {
      if (node !== undefined && id !== node) continue;
      for (const list of [pool.idle.watch, pool.idle.blocking]) {
        for (const conn of list.splice(0)) {
          conn.close();
          pool.open--;
        }
      }
    }
  }

  #pool(node: NodeId): NodePool {
    let pool = this.#nodes.get(node);
    if (pool === undefined) {
      pool = { open: 0, idle: { watch: [], blocking: [] } };
      this.#nodes.set(node, pool);
    }
    return pool;
  }
}
