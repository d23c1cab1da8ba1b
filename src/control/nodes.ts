/**
 * Node health for operators: the GET /nodes view, and the log lines and
 * `/events` messages when a node goes down or comes back.
 *
 *   GET /nodes   one row per node: id, kind, address, status, since, reason, latencyMs, shards
 *
 * Node ids of Redis nodes are their `host:port`; the control API's node
 * verbs (POST /nodes, DELETE /nodes/{id}) will use the same ids.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { BackendStatus, ShardBackend } from '../backend/backend.js';
import type { Router } from '../router/router.js';
import type { EventBus } from './events.js';

/** One row of GET /nodes. */
export interface NodeRow {
  readonly id: string;
  readonly kind: ShardBackend['kind'];
  readonly address: string | null;
  readonly status: BackendStatus;
  /** When the status last changed, ms since the epoch. */
  readonly since: number;
  readonly reason: string | null;
  readonly latencyMs: number | null;
  /** Shards the routing table in force places on the node. */
  readonly shards: number;
}

/** Every node of the router, in routing-table order. */
export function nodeRows(router: Router): NodeRow[] {
  const held = new Map<string, number>();
  for (const s of router.table.shards) held.set(s.node, (held.get(s.node) ?? 0) + 1);
  return [...router.backends].map(([id, backend]) => {
    const h = backend.health();
    return {
      id,
      kind: backend.kind,
      address: h.address,
      status: h.status,
      since: h.since,
      reason: h.reason,
      latencyMs: h.latencyMs,
      shards: held.get(id) ?? 0,
    };
  });
}

/** Registers GET /nodes. */
export function registerNodesView(app: FastifyInstance, router: Router): void {
  app.get('/nodes', () => ({ nodes: nodeRows(router) }));
}

/** Called when a node goes down or comes back; `atStart` for a node found down while hotshard starts. */
export type NodeStatusReport = (
  backend: ShardBackend,
  status: BackendStatus,
  reason: string,
  atStart?: boolean,
) => void;

/**
 * Tells operators a node went down or came back: a log line and a
 * `node.down` / `node.up` event with the node, its address and the reason. A
 * node down at start is logged as an error: it may be a wrong address, which
 * no retry will fix.
 */
export function reportNodeStatus(log: Logger, bus: EventBus): NodeStatusReport {
  return (backend, status, reason, atStart = false) => {
    const node = backend.node;
    bus.publish(`node.${status}`, { node, address: backend.health().address, reason });
    if (status === 'up') log.info({ node }, `node ${node} is up`);
    else if (atStart)
      log.error(
        { node, reason },
        `node ${node} is unreachable at start: serving the other nodes; its shards fail with ` +
          'HS_ERR_SHARD_UNAVAILABLE until it answers (check the address if it never does)',
      );
    else log.warn({ node, reason }, `node ${node} is down: its shards fail with HS_ERR_SHARD_UNAVAILABLE`);
  };
}
