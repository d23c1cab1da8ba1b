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
 *   GET    /automation             mode, do-not-touch list, recent changes
 *   POST   /automation             body {"mode"?, "doNotTouch"?, "reason"}
 *
 * Keys in URLs are percent-encoded bytes, as under /kv/ (http-keys.ts); in
 * bodies and the log they are written as `keyText` prints them. State-changing
 * routes declare `access: 'admin'` (http-auth.ts).
 */
import type { FastifyInstance, FastifyReply, FastifySchemaValidationError } from 'fastify';
import { ErrorCode } from '../errors.js';
import type { ActionKind, ActionRecord, ActionState } from '../mitigate/action.js';
import { ActionRefused, AUTOMATION_MODES, type AutomationMode, type Executor } from '../mitigate/executor.js';
import { hasRemedy } from '../mitigate/key-actions.js';
import type { PolicyManager, PolicyView } from '../mitigate/policies.js';
import { REMEDY_ORDER, type KeyPolicy } from '../mitigate/policy.js';
import { sendHttpError } from '../router/http-errors.js';
import { decodeKey } from '../router/http-keys.js';
import { keyText } from '../telemetry/snapshot.js';

/** What the mitigation API acts on. */
export interface MitigationApiDeps {
  readonly executor: Executor;
  readonly policies: PolicyManager;
}

/** An object schema whose unknown fields are refused (fastify's ajv drops them silently under additionalProperties: false). */
function closed(properties: Record<string, object>, required: string[] = []): object {
  return { type: 'object', properties, required, propertyNames: { enum: Object.keys(properties) } };
}

const reason = { type: 'string', minLength: 1, maxLength: 1000 };

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

/** ajv's errors as one sentence that names the field. */
function schemaMessage(errors: FastifySchemaValidationError[], dataVar: string): Error {
  // An unknown field fails twice: its name against the enum of known ones, then propertyNames.
  const known = new Map<string, unknown[]>();
  for (const e of errors)
    if (e.schemaPath.includes('/propertyNames/'))
      known.set(e.instancePath, e.params.allowedValues as unknown[]);
  const parts = errors
    .filter((e) => !e.schemaPath.includes('/propertyNames/'))
    .map((e) => {
      const at = `${dataVar}${e.instancePath.replaceAll('/', '.')}`;
      if (e.keyword === 'propertyNames')
        return `${at}: unknown field '${String(e.params.propertyName)}' (known: ${(known.get(e.instancePath) ?? []).join(', ')})`;
      if (e.keyword === 'enum')
        return `${at} must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      return `${at} ${e.message ?? 'is invalid'}`;
    });
  return new Error(parts.join('; '));
}

function policyJson(view: PolicyView): Record<string, unknown> {
  return { key: keyText(view.key), policy: view.policy, since: view.since, status: view.status };
}

/** Registers the mitigation API on an app. */
export function registerMitigationApi(app: FastifyInstance, deps: MitigationApiDeps): void {
  const { executor, policies } = deps;
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

  app.get('/policies', () => ({
    remedies: policies.remedies,
    policies: policies.list().map(policyJson),
  }));

  app.get<{ Params: { '*': string } }>('/policies/*', (req, res) => {
    const key = keyParam(req.params['*']);
    if (typeof key === 'string') return bad(res, key);
    const view = policies.get(key);
    if (view === undefined)
      return sendHttpError(res, 404, ErrorCode.NotFound, `key '${keyText(key)}' has no policy`);
    const actions = executor.activeOn({ type: 'key', name: keyText(key) }).map((r) => r.id);
    return { ...policyJson(view), actions };
  });

  app.put<{ Params: { '*': string }; Body: KeyPolicy & { reason: string } }>(
    '/policies/*',
    {
      config: { access: 'admin' },
      schema: { body: policyBodySchema },
      schemaErrorFormatter: schemaMessage,
    },
    async (req, res) => {
      const key = keyParam(req.params['*']);
      if (typeof key === 'string') return bad(res, key);
      const { reason: why, ...policy } = req.body;
      const missing = REMEDY_ORDER.filter((n) => policy[n] !== undefined && !policies.remedies.includes(n));
      if (missing.length > 0)
        return bad(
          res,
          `remedy ${missing.map((n) => `'${n}'`).join(', ')} is not available here (available: ${policies.remedies.join(', ') || 'none'})`,
        );
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
  }>('/policies/*', { config: { access: 'admin' } }, async (req, res) => {
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
      return answer(res, record);
    } catch (err) {
      return refused(res, err);
    }
  });

  app.get<{ Querystring: { state?: string; kind?: string; limit?: string } }>('/actions', (req, res) => {
    const { state, kind, limit } = req.query;
    if (state !== undefined && !STATES.includes(state as ActionState))
      return bad(res, `state must be one of ${STATES.join(', ')}; got '${state}'`);
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      return bad(res, `limit must be an integer from 1 to 1000, got '${limit}'`);
    return {
      mode: executor.mode,
      actions: executor.list({
        ...(state === undefined ? {} : { state: state as ActionState }),
        ...(kind === undefined ? {} : { kind: kind as ActionKind }),
        limit: n,
      }),
    };
  });

  app.get<{ Params: { id: string } }>('/actions/:id', (req, res) => {
    const record = executor.get(req.params.id);
    if (record === undefined)
      return sendHttpError(res, 404, ErrorCode.NotFound, `no action '${req.params.id}'`);
    return { action: record, status: executor.status(record.id) };
  });

  app.post<{ Params: { '*': string }; Body: { reason: string } }>(
    '/actions/*',
    { config: { access: 'admin' }, schema: { body: reasonBody }, schemaErrorFormatter: schemaMessage },
    async (req, res) => {
      const path = req.params['*'];
      const suffix = ':revert';
      if (!path.endsWith(suffix) || path.length === suffix.length)
        return bad(res, 'POST /actions/{id}:revert is the only POST on /actions/');
      try {
        return { action: await executor.revert(path.slice(0, -suffix.length), req.body.reason, 'operator') };
      } catch (err) {
        return refused(res, err);
      }
    },
  );

  app.get('/automation', () => ({
    mode: executor.mode,
    doNotTouch: executor.doNotTouch,
    changes: [...executor.changes].reverse(),
  }));

  app.post<{ Body: { mode?: AutomationMode; doNotTouch?: string[]; reason: string } }>(
    '/automation',
    { config: { access: 'admin' }, schema: { body: automationBody }, schemaErrorFormatter: schemaMessage },
    (req, res) => {
      const { mode, doNotTouch, reason: why } = req.body;
      if (mode === undefined && doNotTouch === undefined) return bad(res, 'give mode and/or doNotTouch');
      try {
        const change = executor.setAutomation({ mode, doNotTouch, by: 'operator', reason: why });
        return { mode: change.mode, doNotTouch: change.doNotTouch, change };
      } catch (err) {
        return refused(res, err);
      }
    },
  );
}
