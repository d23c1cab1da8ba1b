/**
 * The shard routes of the control API (GET /shards itself is in
 * router/http-server.ts):
 *
 *   GET  /shards/{id}            the row, its load over ?window=S seconds, its throttle, its long actions
 *   POST /shards/{id}:split      {at?, reason?}        200 {version, shards: [left, right]}
 *   POST /shards/{id}:move       {node, reason?}       202 {action}
 *   POST /shards/{id}:merge      {reason?}             200 {version, shard}, or 202 {action} across nodes
 *   POST /shards/{id}:throttle   {opsPerSec|null, reason?}  200 {shard, limit}
 *
 * A verb follows the id after a colon, as in Google's API style the seed
 * uses. find-my-way reads `::` as a literal colon but takes `:id::split` and
 * `:id::move` for one route, so the id is a regex parameter that stops at the
 * colon (`:id(^[^:]+)::split`); shard ids never hold a colon.
 */
import { windowLoad } from './control-api.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ErrorCode } from '../errors.js';
import { nodeId, shardId } from '../keyspace/ids.js';
import { ActionRefused } from '../mitigate/executor.js';
import { sendHttpError } from '../router/http-errors.js';
import { shardRow } from '../router/http-server.js';
import type { Router } from '../router/router.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import { OperationRefused, type OperationContext, type ShardOperations } from './operations.js';
import {
  adminErrors,
  closed,
  errorBody,
  open,
  reason,
  reasonOnly,
  schemaMessage,
  shardIdParam,
} from './schema.js';

/** What the shard routes act on. */
export interface ShardsApiDeps {
  readonly router: Router;
  readonly operations: ShardOperations;
  /** Undefined when telemetry is off: GET /shards/{id} then shows no load. */
  readonly telemetry?: RouterTelemetry | undefined;
}

/** The path of a shard verb route (see the file header). */
export const verbPath = (base: string, verb: string): string => `${base}/:id(^[^:]+)::${verb}`;

const shardRowSchema = open({
  shard_id: { type: 'string' },
  key_range: { type: 'array', items: { type: ['string', 'null'] } },
  node: { type: 'string' },
  capacity: { type: ['number', 'null'] },
  status: { enum: ['active', 'splitting', 'moving', 'draining'] },
  node_status: { type: 'string' },
  throttle_ops_per_sec: { type: ['number', 'null'] },
});

/** A long operation's record (operations.ts OperationAction), or an executor action. */
export const actionSchema = open({
  id: { type: 'string' },
  kind: { type: 'string' },
  subject: open({ type: { type: 'string' }, name: { type: 'string' } }),
  state: { enum: ['pending', 'running', 'done', 'failed', 'cancelled', 'rolled-back'] },
  progress: { anyOf: [{ type: 'null' }, open({ phase: { type: 'string' } })] },
  by: { type: 'string' },
  reason: { type: ['string', 'null'] },
  detail: { type: ['string', 'null'] },
  createdAt: { type: 'number' },
  updatedAt: { type: 'number' },
});

const accepted = open({ action: actionSchema });

/**
 * Answers an operation's refusal (OperationRefused: its status; an executor's
 * ActionRefused: 404 or 409, as the mitigation routes do); rethrows anything
 * else, which the error handler answers as a 500.
 */
export function sendRefusal(res: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof OperationRefused) return sendHttpError(res, err.status, err.code, err.message);
  if (err instanceof ActionRefused)
    return sendHttpError(res, err.reason === 'not-found' ? 404 : 409, err.code, err.message);
  throw err;
}

/** What an admin request asks as: the admin token's holder, with the body's reason. */
export const operatorContext = (body: { reason?: string } | undefined): OperationContext => ({
  who: 'operator',
  reason: body?.reason ?? null,
});

/** A POST without a body is `{}`, so the schema of a body whose fields are all optional still applies. */
export function emptyBody(req: { body: unknown }, _res: unknown, done: () => void): void {
  if (req.body === undefined || req.body === null) req.body = {};
  done();
}

/** Registers the shard routes. */
export function registerShardsApi(app: FastifyInstance, deps: ShardsApiDeps): void {
  const { router, operations, telemetry } = deps;
  const admin = { access: 'admin' } as const;
  const tags = ['shards'];

  app.get<{ Params: { id: string }; Querystring: { window?: number } }>(
    '/shards/:id(^[^:]+)',
    {
      schema: {
        summary: 'one shard: its row, load, throttle and long actions',
        tags,
        params: shardIdParam,
        querystring: closed({ window: { type: 'integer', minimum: 1, maximum: 600, default: 10 } }),
        response: {
          200: open({
            shard: shardRowSchema,
            version: { type: 'integer' },
            load: { anyOf: [{ type: 'null' }, open({ windowSeconds: { type: 'integer' } })] },
            throttle: { anyOf: [{ type: 'null' }, open({ opsPerSec: { type: 'number' } })] },
            actions: { type: 'array', items: actionSchema },
          }),
          '4xx': errorBody,
        },
      },
      schemaErrorFormatter: schemaMessage,
    },
    (req, res) => {
      const table = router.table;
      const s = table.shard(shardId(req.params.id));
      if (s === undefined) return sendHttpError(res, 404, ErrorCode.NotFound, `no shard '${req.params.id}'`);
      const seconds = req.query.window ?? 10;
      const w = telemetry?.window('shard', seconds).get(s.id);
      const limit = router.admission.status().shards.find((l) => l.shard === s.id);
      return {
        shard: shardRow(router, s),
        version: table.version,
        load:
          telemetry === undefined
            ? null
            : {
                windowSeconds: seconds,
                opsPerSec: ((w?.reads ?? 0) + (w?.writes ?? 0)) / seconds,
                ...windowLoad(w),
              },
        throttle: limit ?? null,
        actions: operations.actions().filter((a) => a.subject.type === 'shard' && a.subject.name === s.id),
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { at?: string | number; reason?: string } }>(
    verbPath('/shards', 'split'),
    {
      config: admin,
      preValidation: emptyBody,
      schema: {
        summary:
          'split a shard at a position (default: the middle of its range); both halves stay on its node',
        tags,
        params: shardIdParam,
        body: closed({
          // Text in the partitioner's form; a hash position may also be a JSON integer.
          at: {
            anyOf: [
              { type: 'string', minLength: 1, maxLength: 4096 },
              { type: 'integer', minimum: 0 },
            ],
          },
          reason,
        }),
        response: {
          200: open({ version: { type: 'integer' }, shards: { type: 'array', items: shardRowSchema } }),
          ...adminErrors,
        },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      const at = req.body.at === undefined ? undefined : String(req.body.at);
      try {
        const done = await operations.split(shardId(req.params.id), at, operatorContext(req.body));
        return { version: done.version, shards: done.shards.map((s) => shardRow(router, s)) };
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { node: string; reason?: string } }>(
    verbPath('/shards', 'move'),
    {
      config: admin,
      schema: {
        summary: 'move a shard to another node, live; answers the move action at once (202)',
        tags,
        params: shardIdParam,
        body: closed({ node: { type: 'string', minLength: 1, maxLength: 300 }, reason }, ['node']),
        response: { 202: accepted, ...adminErrors },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      try {
        const started = await operations.move(
          shardId(req.params.id),
          nodeId(req.body.node),
          operatorContext(req.body),
        );
        return res.code(202).send(started);
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    verbPath('/shards', 'merge'),
    {
      config: admin,
      preValidation: emptyBody,
      schema: {
        summary: 'join a shard with its right-hand neighbour (202 with an action when they are on two nodes)',
        tags,
        params: shardIdParam,
        body: reasonOnly,
        response: {
          200: open({ version: { type: 'integer' }, shard: shardRowSchema }),
          202: accepted,
          ...adminErrors,
        },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      try {
        const result = await operations.merge(shardId(req.params.id), operatorContext(req.body));
        if ('action' in result) return res.code(202).send(result);
        return { version: result.version, shard: shardRow(router, result.shard) };
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { opsPerSec: number | null; reason?: string } }>(
    verbPath('/shards', 'throttle'),
    {
      config: admin,
      schema: {
        summary: 'limit a shard to opsPerSec requests a second (null removes the limit)',
        tags,
        params: shardIdParam,
        body: closed({ opsPerSec: { type: ['number', 'null'], exclusiveMinimum: 0 }, reason }, ['opsPerSec']),
        response: {
          200: open({
            shard: { type: 'string' },
            limit: {
              anyOf: [{ type: 'null' }, open({ opsPerSec: { type: 'number' }, burst: { type: 'number' } })],
            },
          }),
          ...adminErrors,
        },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      try {
        return await operations.throttle(
          shardId(req.params.id),
          req.body.opsPerSec,
          operatorContext(req.body),
        );
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );
}
