/**
 * The control API of mitigation: key policies, the actions log, and the
 * automation mode. Every change goes through the executor, so it is an
 * action in the log (by operator, with the reason given) and obeys the
 * automation mode (frozen refuses it).
 *
 *   GET    /policies               every key policy, with its remedies' status
 *   GET    /policies/{key}         one, 404 when the key has none
 *   PUT    /policies/{key}         body = KeyPolicy + "reason"; replaces the key's policy
 *   DELETE /policies/{key}         ?reason= or body {"reason"}; the key goes back to the plain route
 *   GET    /actions                ?state=&kind=&limit= (newest first)
 *   GET    /actions/{id}           one, with what its remedy is doing now
 *   POST   /actions/{id}:revert    body {"reason"}
 *   POST   /actions/{id}:cancel    body {"reason"?}; stops an action before it takes effect
 *   PATCH  /actions/{id}           body {"maxKeysPerSec"?, "maxBytesPerSec"?, "reason"?}: a move's copy throttle
 *   GET    /automation             mode, do-not-touch list, recent changes
 *   POST   /automation             body {"mode"?, "doNotTouch"?, "reason"}
 *
 * Keys in URLs are percent-encoded bytes, as under /kv/ (http-keys.ts); in
 * bodies and the log they are written as `keyText` prints them. State-changing
 * routes declare `access: 'admin'` (http-auth.ts), and each change they make
 * is in the audit log (audit.ts) with the reason given.
 *
 * Long operations (moves, drains: operations.ts) are actions too: GET
 * /actions lists them with the executor's, and :cancel and PATCH steer them.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ErrorCode } from '../errors.js';
import type { ActionKind, ActionRecord, ActionState } from '../mitigate/action.js';
import { ActionRefused, AUTOMATION_MODES, type AutomationMode, type Executor } from '../mitigate/executor.js';
import { hasRemedy } from '../mitigate/key-actions.js';
import type { PolicyManager, PolicyView } from '../mitigate/policies.js';
import { REMEDY_ORDER, type KeyPolicy } from '../mitigate/policy.js';
import { sendHttpError } from '../router/http-errors.js';
import { decodeKey } from '../router/http-keys.js';
import { keyText } from '../telemetry/snapshot.js';
import type { AuditLog } from './audit.js';
import type { OperationAction, ShardOperations } from './operations.js';
import { closed, open, reason, reasonOnly, schemaMessage } from './schema.js';
import { actionSchema, emptyBody, operatorContext, sendRefusal } from './shards-api.js';

/** What the mitigation API acts on. */
export interface MitigationApiDeps {
  readonly executor: Executor;
  readonly policies: PolicyManager;
  /** Where changes are recorded; none: not audited (tests of the executor alone). */
  readonly audit?: AuditLog | undefined;
  /** Long operations: listed with the actions, cancelled and throttled through /actions. */
  readonly operations?: ShardOperations | undefined;
}

/** The body of PUT /policies/{key}: a KeyPolicy plus why. */
export const policyBodySchema = closed(
  {
    reason,
    consistency: { enum: ['bounded', 'strong'], default: 'bounded' },
    throttle: closed(
      { opsPerSec: { type: 'number', exclusiveMinimum: 0 }, burst: { type: 'integer', minimum: 1 } },
      ['opsPerSec', 'burst'],
    ),
    aggregate: closed({
      flushMs: { type: 'integer', minimum: 1, default: 2 },
      mode: { enum: ['sync', 'async'], default: 'sync' },
    }),
    salt: closed({ buckets: { type: 'integer', minimum: 2 } }, ['buckets']),
    replicas: closed({ count: { type: 'integer', minimum: 1 } }, ['count']),
    cache: closed({
      maxStaleMs: { type: 'integer', minimum: 0, default: 1000 },
      staleWhileRevalidate: { type: 'boolean', default: false },
      writeThrough: { type: 'boolean', default: true },
    }),
    coalesce: { type: 'boolean' },
  },
  ['reason'],
);

const reasonBody = closed({ reason }, ['reason']);
const automationBody = closed(
  {
    reason,
    mode: { enum: [...AUTOMATION_MODES] },
    doNotTouch: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 10_000 },
  },
  ['reason'],
);

const STATES: readonly ActionState[] = ['pending', 'running', 'done', 'failed', 'cancelled', 'rolled-back'];

function policyJson(view: PolicyView): Record<string, unknown> {
  return { key: keyText(view.key), policy: view.policy, since: view.since, status: view.status };
}

/** Registers the mitigation API on an app. */
export function registerMitigationApi(app: FastifyInstance, deps: MitigationApiDeps): void {
  const { executor, policies, audit, operations } = deps;
  const audited = (verb: string, target: string, why: string, details: Record<string, unknown>): void => {
    audit?.append({ who: 'operator', verb, target, reason: why, details });
  };
  const bad = (res: FastifyReply, message: string): FastifyReply =>
    sendHttpError(res, 400, ErrorCode.BadRequest, message);
  const refused = (res: FastifyReply, err: unknown): FastifyReply => {
    if (!(err instanceof ActionRefused)) throw err;
    const status = err.reason === 'not-found' ? 404 : err.reason === 'unknown-kind' ? 400 : 409;
    return sendHttpError(res, status, err.code, err.message);
  };
  /** A finished action as the answer: 200 when done, else an error that carries the record. */
  const answer = (
    res: FastifyReply,
    record: ActionRecord,
    extra: Record<string, unknown> = {},
  ): FastifyReply => {
    if (record.state === 'done') return res.send({ action: record, ...extra });
    const status = record.state === 'cancelled' ? 409 : 500;
    const code = record.state === 'cancelled' ? ErrorCode.NotAllowed : ErrorCode.Internal;
    return res.code(status).send({
      error: { code, message: `${record.id} ${record.state}: ${record.detail ?? ''}` },
      action: record,
    });
  };
  const keyParam = (encoded: string): Buffer | string => {
    if (encoded.length === 0) return 'missing key: use /policies/{key}';
    return decodeKey(encoded) ?? `malformed percent-encoding in key '${encoded}'`;
  };

  app.get(
    '/policies',
    { schema: { summary: 'every key policy, with what its remedies are doing', tags: ['policies'] } },
    () => ({
      remedies: policies.remedies,
      policies: policies.list().map(policyJson),
    }),
  );

  app.get<{ Params: { '*': string } }>(
    '/policies/*',
    { schema: { summary: 'one key policy (the key percent-encoded)', tags: ['policies'] } },
    (req, res) => {
      const key = keyParam(req.params['*']);
      if (typeof key === 'string') return bad(res, key);
      const view = policies.get(key);
      if (view === undefined)
        return sendHttpError(res, 404, ErrorCode.NotFound, `key '${keyText(key)}' has no policy`);
      const actions = executor.activeOn({ type: 'key', name: keyText(key) }).map((r) => r.id);
      return { ...policyJson(view), actions };
    },
  );

  app.put<{ Params: { '*': string }; Body: KeyPolicy & { reason: string } }>(
    '/policies/*',
    {
      config: { access: 'admin' },
      schema: {
        summary: "replace a key's policy (cache, replicas, aggregate, salt, throttle)",
        tags: ['policies'],
        body: policyBodySchema,
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      const key = keyParam(req.params['*']);
      if (typeof key === 'string') return bad(res, key);
      const { reason: why, ...policy } = req.body;
      const missing = REMEDY_ORDER.filter((n) => policy[n] !== undefined && !policies.remedies.includes(n));
      if (missing.length > 0) {
        const why = missing.map((n) => policies.withheld(n)).filter((w) => w !== undefined);
        return bad(
          res,
          `remedy ${missing.map((n) => `'${n}'`).join(', ')} is not available here (available: ${policies.remedies.join(', ') || 'none'})` +
            (why.length > 0 ? `: ${[...new Set(why)].join('; ')}` : ''),
        );
      }
      if (!hasRemedy(policy))
        return bad(res, `the policy names no remedy (${REMEDY_ORDER.join(', ')}); DELETE removes a policy`);
      try {
        const record = await executor.execute({
          kind: 'policy',
          subject: { type: 'key', name: keyText(key) },
          settings: policy,
          by: 'operator',
          reason: why,
        });
        audited('policy.put', `key:${keyText(key)}`, why, { action: record.id, state: record.state, policy });
        const view = policies.get(key);
        return answer(res, record, { policy: view === undefined ? null : policyJson(view) });
      } catch (err) {
        return refused(res, err);
      }
    },
  );

  app.delete<{
    Params: { '*': string };
    Querystring: { reason?: string };
    Body: { reason?: string } | undefined;
  }>(
    '/policies/*',
    {
      config: { access: 'admin' },
      schema: { summary: "remove a key's policy (back to the plain route)", tags: ['policies'] },
    },
    async (req, res) => {
      const key = keyParam(req.params['*']);
      if (typeof key === 'string') return bad(res, key);
      const why = req.query.reason ?? (typeof req.body?.reason === 'string' ? req.body.reason : undefined);
      if (why === undefined || why.length === 0)
        return bad(res, 'say why: ?reason=... or a JSON body {"reason": "..."}');
      if (policies.get(key) === undefined)
        return sendHttpError(res, 404, ErrorCode.NotFound, `key '${keyText(key)}' has no policy`);
      try {
        const record = await executor.execute({
          kind: 'policy',
          subject: { type: 'key', name: keyText(key) },
          settings: {},
          by: 'operator',
          reason: why,
        });
        audited('policy.delete', `key:${keyText(key)}`, why, { action: record.id, state: record.state });
        return answer(res, record);
      } catch (err) {
        return refused(res, err);
      }
    },
  );

  app.get<{ Querystring: { state?: string; kind?: string; limit?: string } }>(
    '/actions',
    {
      schema: {
        summary: 'the actions log, newest first: mitigations and long operations',
        tags: ['actions'],
      },
    },
    (req, res) => {
      const { state, kind, limit } = req.query;
      if (state !== undefined && !STATES.includes(state as ActionState))
        return bad(res, `state must be one of ${STATES.join(', ')}; got '${state}'`);
      const n = limit === undefined ? 100 : Number(limit);
      if (!Number.isInteger(n) || n < 1 || n > 1000)
        return bad(res, `limit must be an integer from 1 to 1000, got '${limit}'`);
      const long = (operations?.actions() ?? []).filter(
        (a) => (state === undefined || a.state === state) && (kind === undefined || a.kind === kind),
      );
      const logged: (ActionRecord | OperationAction)[] = executor.list({
        ...(state === undefined ? {} : { state: state as ActionState }),
        ...(kind === undefined ? {} : { kind: kind as ActionKind }),
        limit: n,
      });
      return {
        mode: executor.mode,
        actions:
          long.length === 0
            ? logged
            : [...long, ...logged].sort((a, b) => b.createdAt - a.createdAt).slice(0, n),
      };
    },
  );

  // Ids never hold a colon: `:id(^[^:]+)` stops before a verb (shards-api.ts says why).
  app.get<{ Params: { id: string } }>(
    '/actions/:id(^[^:]+)',
    {
      schema: {
        summary:
          'one action: a mitigation (with what its remedy does now) or a long operation (with progress)',
        tags: ['actions'],
      },
    },
    (req, res) => {
      const record = executor.get(req.params.id);
      if (record !== undefined) return { action: record, status: executor.status(record.id) };
      const long = operations?.action(req.params.id);
      if (long !== undefined) return { action: long, status: long.progress };
      return sendHttpError(res, 404, ErrorCode.NotFound, `no action '${req.params.id}'`);
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/actions/:id(^[^:]+)::revert',
    {
      config: { access: 'admin' },
      schema: { summary: 'take an action in force away again', tags: ['actions'], body: reasonBody },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      try {
        const record = await executor.revert(req.params.id, req.body.reason, 'operator');
        audited('action.revert', `action:${record.id}`, req.body.reason, {
          kind: record.kind,
          state: record.state,
        });
        return { action: record };
      } catch (err) {
        return refused(res, err);
      }
    },
  );

  app.get(
    '/automation',
    {
      schema: { summary: 'the automation mode, do-not-touch list and recent changes', tags: ['automation'] },
    },
    () => ({
      mode: executor.mode,
      doNotTouch: executor.doNotTouch,
      changes: [...executor.changes].reverse(),
    }),
  );

  app.post<{ Body: { mode?: AutomationMode; doNotTouch?: string[]; reason: string } }>(
    '/automation',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'set the automation mode and/or the do-not-touch list',
        tags: ['automation'],
        body: automationBody,
      },
      schemaErrorFormatter: schemaMessage,
    },
    (req, res) => {
      const { mode, doNotTouch, reason: why } = req.body;
      if (mode === undefined && doNotTouch === undefined) return bad(res, 'give mode and/or doNotTouch');
      try {
        const change = executor.setAutomation({ mode, doNotTouch, by: 'operator', reason: why });
        audited('automation.set', 'automation', why, { mode: change.mode, doNotTouch: change.doNotTouch });
        return { mode: change.mode, doNotTouch: change.doNotTouch, change };
      } catch (err) {
        return refused(res, err);
      }
    },
  );

  if (operations === undefined) return;

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/actions/:id(^[^:]+)::cancel',
    {
      config: { access: 'admin' },
      preValidation: emptyBody,
      schema: {
        summary:
          'stop an action before it takes effect: a move before its cutover (back to the old state), or one still pending',
        tags: ['actions'],
        body: reasonOnly,
        response: { 200: open({ action: actionSchema }) },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      try {
        return await operations.cancel(req.params.id, operatorContext(req.body));
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );

  const perSec = { type: ['number', 'null'], exclusiveMinimum: 0 };
  app.patch<{
    Params: { id: string };
    Body: { maxKeysPerSec?: number | null; maxBytesPerSec?: number | null; reason?: string };
  }>(
    '/actions/:id(^[^:]+)',
    {
      config: { access: 'admin' },
      schema: {
        summary: "change a running move's copy throttle (null: unlimited)",
        tags: ['actions'],
        body: { ...closed({ maxKeysPerSec: perSec, maxBytesPerSec: perSec, reason }), minProperties: 1 },
        response: { 200: open({ action: actionSchema }) },
      },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      const { reason: why, ...limits } = req.body;
      if (limits.maxKeysPerSec === undefined && limits.maxBytesPerSec === undefined)
        return bad(res, 'give maxKeysPerSec and/or maxBytesPerSec (a number > 0, or null for no limit)');
      try {
        return await operations.setLimits(req.params.id, limits, operatorContext({ reason: why }));
      } catch (err) {
        return sendRefusal(res, err);
      }
    },
  );
}
