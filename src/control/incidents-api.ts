/**
 * Incidents over HTTP: the operators' view and the customers' status page.
 *
 *   GET /incidents         ?state=open|resolved&limit=N  open first, then the
 *                          resolved ones kept, newest first; no timeline
 *   GET /incidents/{id}    one in full: timeline, hotspots, actions, summary
 *   GET /status            ?tenant=NAME  customer-facing: the open incidents
 *                          that affect the tenant (default: the request's
 *                          tenant header, else all), with the notice text,
 *                          start time and state only
 *
 * /incidents names keys, nodes and tenants: `access: 'read'` (the read or
 * admin token whenever one is configured; http-auth.ts). /status says
 * nothing internal (incident.ts builds its text from fixed phrases) and is
 * open like any status page.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '../errors.js';
import { sendHttpError } from '../router/http-errors.js';
import { TENANT_NAME } from '../router/tenants.js';
import type { Incident } from './incident.js';
import type { IncidentManager } from './incidents.js';

/** An incident in a list: everything but the timeline. */
function brief(i: Incident): Omit<Incident, 'timeline'> & { timelineEntries: number } {
  const { timeline, ...rest } = i;
  return { ...rest, timelineEntries: timeline.length };
}

/** Registers /incidents, /incidents/{id} and /status. */
export function registerIncidentsApi(
  app: FastifyInstance,
  deps: { readonly incidents: IncidentManager; readonly tenantHeader: string },
): void {
  const { incidents, tenantHeader } = deps;

  app.get<{ Querystring: { state?: string; limit?: string } }>(
    '/incidents',
    {
      config: { access: 'read' },
      schema: {
        summary: 'open incidents first, then the resolved ones kept, newest first (no timeline)',
        tags: ['incidents'],
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', description: 'open or resolved' },
            limit: { type: 'string', description: 'an integer from 1 to 1000 (default 50)' },
          },
        },
      },
    },
    (req, res) => {
      const { state, limit } = req.query;
      if (state !== undefined && state !== 'open' && state !== 'resolved')
        return sendHttpError(
          res,
          400,
          ErrorCode.BadRequest,
          `state must be open or resolved, got '${state}'`,
        );
      const n = limit === undefined ? 50 : Number(limit);
      if (!Number.isInteger(n) || n < 1 || n > 1000)
        return sendHttpError(
          res,
          400,
          ErrorCode.BadRequest,
          `limit must be an integer from 1 to 1000, got '${limit}'`,
        );
      const all = incidents.list();
      const open = all.filter((i) => i.state !== 'resolved');
      const resolved = all.filter((i) => i.state === 'resolved');
      const pick = state === 'open' ? open : state === 'resolved' ? resolved : [...open, ...resolved];
      return { open: open.length, incidents: pick.slice(0, n).map(brief) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/incidents/:id',
    {
      config: { access: 'read' },
      schema: {
        summary: 'one incident in full: timeline, hotspots, actions, SLOs, tenants, summary',
        tags: ['incidents'],
      },
    },
    (req, res) => {
      const incident = incidents.get(req.params.id);
      if (incident === undefined)
        return sendHttpError(res, 404, ErrorCode.NotFound, `no incident '${req.params.id}'`);
      return { incident };
    },
  );

  app.get<{ Querystring: { tenant?: string } }>(
    '/status',
    {
      config: { access: 'public' },
      schema: {
        summary: 'customer-facing: the open incidents that affect a tenant, with their notice only',
        tags: ['incidents'],
        querystring: {
          type: 'object',
          properties: { tenant: { type: 'string', description: 'default: the tenant header, else all' } },
        },
      },
    },
    (req, res) => {
      const header = req.headers[tenantHeader];
      const tenant = req.query.tenant ?? (typeof header === 'string' ? header : undefined);
      if (tenant !== undefined && !TENANT_NAME.test(tenant))
        return sendHttpError(res, 400, ErrorCode.BadRequest, `tenant must match ${TENANT_NAME.source}`);
      const notices = incidents.notices(tenant);
      return {
        status: notices.length === 0 ? 'operational' : 'degraded',
        ...(tenant === undefined ? {} : { tenant }),
        incidents: notices,
      };
    },
  );
}
