/**
 * GET /audit: the audit log (audit.ts), newest first; readable with the read
 * token, like every GET of the control plane.
 *
 *   GET /audit?since=<ms since the epoch | ISO 8601 time>&limit=<1..1000, default 100>
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '../errors.js';
import { sendHttpError } from '../router/http-errors.js';
import type { AuditLog } from './audit.js';
import { closed, errorBody, open, schemaMessage } from './schema.js';

/** A `since` as ms since the epoch, or why it is not one. */
export function parseSince(text: string): number | string {
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text);
  return Number.isFinite(ms)
    ? ms
    : `since must be ms since the epoch or an ISO 8601 time (2026-12-06T09:00:00Z), got '${text}'`;
}

const entrySchema = open({
  id: { type: 'string' },
  at: { type: 'number' },
  who: { enum: ['operator', 'planner'] },
  verb: { type: 'string' },
  target: { type: 'string' },
  reason: { type: ['string', 'null'] },
  details: open({}),
});

/** Registers GET /audit. */
export function registerAuditApi(app: FastifyInstance, audit: AuditLog): void {
  app.get<{ Querystring: { since?: string; limit: number } }>(
    '/audit',
    {
      schema: {
        summary: 'every change to the control plane: who, when, what, and why',
        tags: ['audit'],
        querystring: closed({
          since: { type: 'string', minLength: 1 },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        }),
        response: { 200: open({ entries: { type: 'array', items: entrySchema } }), '4xx': errorBody },
      },
      schemaErrorFormatter: schemaMessage,
    },
    (req, res) => {
      const since = req.query.since === undefined ? undefined : parseSince(req.query.since);
      if (typeof since === 'string') return sendHttpError(res, 400, ErrorCode.BadRequest, since);
      return { entries: audit.list({ since, limit: req.query.limit }) };
    },
  );
}
