/**
 * Node health for operators: the GET /nodes view, and the log lines and
 * `/events` messages when a node goes down or comes back.
 *
 *   GET    /nodes        one row per node: id, kind, address, status, since, reason, latencyMs, shards
 *   POST   /nodes        admin; {address: "host:port", reason?}: adds a Redis node (201 {node, version})
 *   DELETE /nodes/{id}   admin; ?reason= or {reason}: drains the node (202 {action}), then removes it
 *
 * Node ids of Redis nodes are their `host:port`, the same in every verb.
 */
import type { FastifyInstance } from 'fastify';
import { nodeId } from '../keyspace/ids.js';
import type { Logger } from 'pino';
import type { BackendStatus, ShardBackend } from '../backend/backend.js';
import type { Router } from '../router/router.js';
import type { EventBus } from './events.js';
import type { ShardOperations } from './operations.js';
import { adminErrors, closed, open, reason, schemaMessage } from './schema.js';
import { actionSchema, emptyBody, operatorContext, sendRefusal } from './shards-api.js';

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
  app.get(
    '/nodes',
    { schema: { summary: 'every node with its health and shard count', tags: ['nodes'] } },
    () => ({
      nodes: nodeRows(router),
    }),
  );
}

/** `host:port` with a port from 1 to 65535; a host of letters, digits, dots, dashes, or an IPv6 literal in brackets. */
const ADDRESS =
  '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';

/** Registers POST /nodes and DELETE /nodes/{id}. */
export function registerNodesApi(app: FastifyInstance, operations: ShardOperations): void {
  const tags = ['nodes'];
  app.post<{ Body: { address: string; reason?: string } }>(
    '/nodes',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'add a Redis node (host:port) that shards can be moved onto',
        tags,
        body: closed({ address: { type: 'string', pattern: ADDRESS, maxLength: 300 }, reason }, ['address']),
        response: { 201: open({ node: { type: 'string' }, version: { type: 'integer' } }), ...adminErrors },
      },
      schemaErrorFormatter: (errors, dataVar) => {
        const bad = errors.find((e) => e.keyword === 'pattern');
        return bad === undefined
          ? schemaMessage(errors, dataVar)
          : new Error(`${dataVar}.address must be host:port with a port from 1 to 65535 (a Redis node)`);
      },
    },
    async (req, res) => {
      try {
        return res.code(201).send(await operations.addNode(req.body.address, operatorContext(req.body)));
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { reason?: string }; Body: { reason?: string } }>(
    '/nodes/:id',
    {
      config: { access: 'admin' },
      preValidation: emptyBody,
      schema: {
        summary: 'drain a node: move its shards away, then remove it (202 with the drain action)',
        tags,
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1 } } },
        querystring: closed({ reason }),
        body: closed({ reason }),
        response: { 202: open({ action: actionSchema }), ...adminErrors },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      const why = req.query.reason ?? req.body.reason;
      try {
        const started = await operations.drainNode(nodeId(req.params.id), operatorContext({ reason: why }));
        return res.code(202).send(started);
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );
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
