/**
 * The HTTP front end: the data API under /kv/ and the read-only shard view.
 * Requests go through the same router as RESP, so they are routed, measured
 * and protected the same way.
 *
 * A key is bytes, percent-encoded (`%FF` is 0xFF; see http-keys.ts).
 *
 *   GET    /kv/{key}        value bytes, 404 when absent
 *   PUT    /kv/{key}        body = value; ?ttl=seconds or ?px=ms sets an expiry
 *   DELETE /kv/{key}        {"deleted": 0|1}
 *   POST   /kv/{key}:incr   ?by=N (default 1) -> {"value": N}
 *   GET    /shards          shard metadata rows (shard_id, key_range, node, capacity, status, node_status, throttle_ops_per_sec)
 *   GET    /healthz         node status (open even with a password: see http-auth.ts)
 *
 * Errors are JSON `{"error":{"code":"HS_ERR_...","message":"..."}}` with a
 * status that says whose fault it is, and Retry-After where waiting helps
 * (http-errors.ts makes fastify's and Node's own errors look the same, and
 * maps a reply error to its status: docs/errors.md).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { ShardBackend } from '../backend/backend.js';
import { parseInt64 } from '../backend/memory-commands.js';
import { MemoryBackend } from '../backend/memory.js';
import { collectRoutes } from '../control/openapi.js';
import { registerDashboard } from '../dashboard/assets.js';
import { ErrorCode } from '../errors.js';
import type { ShardInfo } from '../keyspace/routing-table.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { RawReply, ReplyError, SimpleString, type Reply } from '../protocol/reply.js';
import { registerHttpAuth } from './http-auth.js';
import {
  clientErrorHandler,
  frameworkErrors,
  registerHttpErrors,
  sendHttpError,
  sendReplyError,
} from './http-errors.js';
import { decodeKey, rewriteKvUrl } from './http-keys.js';
import type { Router } from './router.js';
import { Session } from './session.js';

/** HTTP listener settings. */
export interface HttpServerOptions {
  readonly tenantHeader: string;
  readonly tenantKeyPrefix: boolean;
  readonly maxValueBytes: number;
  /** Bearer tokens of the control API (http-auth.ts). */
  readonly adminToken?: string | undefined;
  readonly readToken?: string | undefined;
}

/**
 * The most ops/s a shard can be served at: its own capacity in the routing
 * table, its node's (`--capacity`, embedded nodes), the lower of the two, or
 * null when neither is known.
 */
function shardCapacity(own: number | null, node: ShardBackend | undefined): number | null {
  const nodeCapacity = node instanceof MemoryBackend ? node.capacity : null;
  if (own === null) return nodeCapacity;
  return nodeCapacity === null ? own : Math.min(own, nodeCapacity);
}

/** One row of GET /shards: the seed's `(shard_id, key_range, node, capacity, status)` and what serves it now. */
export interface ShardRow {
  readonly shard_id: string;
  /** `[start, end)` in the partitioner's text; end null = the end of the keyspace. */
  readonly key_range: readonly [string, string | null];
  readonly node: string;
  readonly capacity: number | null;
  readonly status: ShardInfo['status'];
  readonly node_status: string;
  /** The shard's ops/s limit (POST /shards/{id}:throttle), or null. */
  readonly throttle_ops_per_sec: number | null;
}

/** A shard as GET /shards lists it. */
export function shardRow(router: Router, s: ShardInfo): ShardRow {
  const p = router.table.partitioner;
  return {
    shard_id: s.id,
    key_range: [p.format(s.start), s.end === null ? null : p.format(s.end)],
    node: s.node,
    capacity: shardCapacity(s.capacity, router.backends.get(s.node)),
    status: s.status,
    node_status: router.backends.get(s.node)?.status ?? 'down',
    throttle_ops_per_sec: router.admission.shardLimit(s.id)?.opsPerSec ?? null,
  };
}

/** Runs a command through the router and resolves with its decoded reply. */
function call(router: Router, session: Session, args: Buffer[]): Promise<Reply> {
  return new Promise((resolve) => {
    router.dispatch(session, args, undefined, (reply) =>
      resolve(reply instanceof RawReply ? decodeReply(reply.bytes) : reply),
    );
  });
}

function badRequest(res: FastifyReply, message: string): FastifyReply {
  return sendHttpError(res, 400, ErrorCode.BadRequest, message);
}

const I64_MAX = 9223372036854775807n;
const INT64 = 'written as Redis reads an integer (no leading zeros, no "+", no "-0")';

/**
 * The expiry arguments of SET for ?ttl= or ?px=, or why Redis would refuse
 * them: a positive int64 whose deadline (now + ttl) still fits in an int64.
 */
function expiryArgs(name: 'ttl' | 'px', v: string, now: number): Buffer[] | string {
  const n = parseInt64(Buffer.from(v));
  const max = (I64_MAX - BigInt(now)) / (name === 'ttl' ? 1000n : 1n);
  if (n === null || n <= 0 || BigInt(n) > max)
    return `${name} must be an integer from 1 to ${max} ${name === 'ttl' ? 'seconds' : 'milliseconds'}, ${INT64}; got '${v}'`;
  return [Buffer.from(name === 'ttl' ? 'EX' : 'PX'), Buffer.from(v)];
}

/** Builds the fastify app (not listening; `inject()` works on it directly). */
export function buildHttpServer(router: Router, options: HttpServerOptions, log: Logger): FastifyInstance {
  // Per-request logs are info-level in fastify; at our request rates they would drown everything else.
  const httpLog: FastifyBaseLogger = log.child(
    { component: 'http' },
    { level: log.levelVal > 40 ? log.level : 'warn' },
  );
  const app = Fastify({
    loggerInstance: httpLog,
    bodyLimit: options.maxValueBytes,
    rewriteUrl: (req) => rewriteKvUrl(req.url ?? '/'),
    frameworkErrors,
    clientErrorHandler,
  });
  // First, so GET /openapi.json lists every route added after it.
  collectRoutes(app);
  registerHttpErrors(app, { maxValueBytes: options.maxValueBytes });
  registerHttpAuth(app, {
    tenants: router.tenants,
    adminPassword: router.options.adminPassword,
    tenantHeader: options.tenantHeader,
    adminToken: options.adminToken,
    readToken: options.readToken,
  });

  // Open for load balancers even with a password: it shows node ids and their status, no keys.
  app.get('/healthz', { config: { access: 'public' } }, () => ({
    status: [...router.backends.values()].every((b) => b.status === 'up') ? 'ok' : 'degraded',
    nodes: Object.fromEntries([...router.backends].map(([id, b]) => [id, b.status])),
    routingTableVersion: router.table.version,
  }));

  // The web UI (src/dashboard/assets.ts): public, it holds no data.
  registerDashboard(app);

  app.get('/shards', () => {
    const table = router.table;
    return {
      version: table.version,
      partitioner: table.partitioner.kind,
      shards: table.shards.map((s) => shardRow(router, s)),
    };
  });

  void app.register((kv: FastifyInstance, _opts, next) => {
    // Values are opaque bytes whatever the Content-Type says.
    kv.removeAllContentTypeParsers();
    kv.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    const sessionFor = (headers: Record<string, string | string[] | undefined>): Session | string => {
      const raw = headers[options.tenantHeader];
      const tenant = typeof raw === 'string' ? raw : 'default';
      const refused = router.tenants.refuseName(tenant);
      if (refused !== undefined) return `${options.tenantHeader}: ${refused}`;
      const s = new Session(0, 'http', false, Date.now());
      s.tenant = tenant;
      return s;
    };
    const keyOf = (session: Session, raw: Buffer): Buffer =>
      options.tenantKeyPrefix ? Buffer.concat([Buffer.from(`${session.tenant}:`), raw]) : raw;
    /** The key bytes of the still-encoded path after /kv/, or why there are none. */
    const keyParam = (encoded: string): Buffer | string => {
      if (encoded.length === 0) return 'missing key: use /kv/{key}';
      return decodeKey(encoded) ?? `malformed percent-encoding in key '${encoded}'`;
    };

    kv.get<{ Params: { '*': string } }>('/kv/*', async (req, res) => {
      const session = sessionFor(req.headers);
      if (typeof session === 'string') return badRequest(res, session);
      const key = keyParam(req.params['*']);
      if (typeof key === 'string') return badRequest(res, key);
      const reply = await call(router, session, [Buffer.from('get'), keyOf(session, key)]);
      if (reply instanceof ReplyError) return sendReplyError(res, reply);
      if (reply === null)
        return sendHttpError(res, 404, ErrorCode.NotFound, `key '${req.params['*']}' does not exist`);
      return res.type('application/octet-stream').send(reply);
    });

    kv.put<{ Params: { '*': string }; Querystring: { ttl?: string; px?: string } }>(
      '/kv/*',
      async (req, res) => {
        const session = sessionFor(req.headers);
        if (typeof session === 'string') return badRequest(res, session);
        const key = keyParam(req.params['*']);
        if (typeof key === 'string') return badRequest(res, key);
        const body = req.body;
        const value = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
        const args = [Buffer.from('set'), keyOf(session, key), value];
        const { ttl, px } = req.query;
        if (ttl !== undefined && px !== undefined)
          return badRequest(res, 'give ttl (seconds) or px (milliseconds), not both');
        for (const [name, v] of [
          ['ttl', ttl],
          ['px', px],
        ] as const) {
          if (v === undefined) continue;
          const expiry = expiryArgs(name, v, Date.now());
          if (typeof expiry === 'string') return badRequest(res, expiry);
          args.push(...expiry);
        }
        const reply = await call(router, session, args);
        if (reply instanceof ReplyError) return sendReplyError(res, reply);
        return res.code(200).send({ ok: reply instanceof SimpleString });
      },
    );

    kv.delete<{ Params: { '*': string } }>('/kv/*', async (req, res) => {
      const session = sessionFor(req.headers);
      if (typeof session === 'string') return badRequest(res, session);
      const key = keyParam(req.params['*']);
      if (typeof key === 'string') return badRequest(res, key);
      const reply = await call(router, session, [Buffer.from('del'), keyOf(session, key)]);
      if (reply instanceof ReplyError) return sendReplyError(res, reply);
      return { deleted: Number(reply) };
    });

    kv.post<{ Params: { '*': string }; Querystring: { by?: string } }>('/kv/*', async (req, res) => {
      const session = sessionFor(req.headers);
      if (typeof session === 'string') return badRequest(res, session);
      const path = req.params['*'];
      const suffix = ':incr';
      if (!path.endsWith(suffix) || path.length === suffix.length) {
        return badRequest(res, 'POST /kv/{key}:incr is the only POST on /kv/');
      }
      const key = keyParam(path.slice(0, -suffix.length));
      if (typeof key === 'string') return badRequest(res, key);
      const by = req.query.by ?? '1';
      if (parseInt64(Buffer.from(by)) === null)
        return badRequest(
          res,
          `by must be an integer from -${I64_MAX + 1n} to ${I64_MAX}, ${INT64}; got '${by}'`,
        );
      const reply = await call(router, session, [
        Buffer.from('incrby'),
        keyOf(session, key),
        Buffer.from(by),
      ]);
      if (reply instanceof ReplyError) return sendReplyError(res, reply);
      return { value: typeof reply === 'bigint' ? reply.toString() : reply };
    });
    next();
  });

  return app;
}
