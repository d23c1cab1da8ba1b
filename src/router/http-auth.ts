/**
 * Who may call an HTTP route. With `--password` set, every route needs the
 * same credentials as RESP's AUTH unless it declares `config: { access:
 * 'public' }`; so a route added later (by a plugin, or another issue's
 * control endpoints) is closed until someone decides otherwise. Only
 * /healthz is public: /metrics, /hotkeys, /events and friends show key names.
 *
 * Credentials, checked as RESP's AUTH checks them (`local-commands.ts`):
 *   Authorization: Bearer <password>        tenant from X-Tenant (or default)
 *   Authorization: Basic <tenant>:<password> the user names the tenant
 *   Authorization: Basic admin:<admin-password>
 * More levels (an admin token for state-changing endpoints, a read-only
 * token) are further `HttpAccess` values, checked in the hook before the
 * no-password shortcut, since they apply with or without a password.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors.js';
import { sendHttpError } from './http-errors.js';

/** How much a route asks of its caller. */
export type HttpAccess = 'public' | 'client';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Default `client`: needs the client password when one is set. */
    access?: HttpAccess;
  }
}

/** The secrets the HTTP front end checks, as the router has them. */
export interface HttpAuthOptions {
  readonly password?: string | undefined;
  readonly adminPassword?: string | undefined;
  /** Lower-cased name of the header that names the tenant. */
  readonly tenantHeader: string;
}

const CHALLENGE = ['Bearer realm="hotshard"', 'Basic realm="hotshard", charset="UTF-8"'];

/** Compares digests so that neither the content nor the length of the secret shows in the timing. */
function safeEqual(given: string, secret: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(secret));
}

type Verdict = { ok: true; tenant: string | undefined } | { ok: false };

function check(header: string, options: HttpAuthOptions, password: string): Verdict {
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space < 0 ? header.length : space).toLowerCase();
  const rest = space < 0 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') return safeEqual(rest, password) ? { ok: true, tenant: undefined } : { ok: false };
  if (scheme !== 'basic') return { ok: false };
  const decoded = Buffer.from(rest, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { ok: false };
  const user = decoded.slice(0, colon);
  const pass = decoded.slice(colon + 1);
  // As AUTH: `admin` is checked against the admin password when there is one, and names no tenant.
  if (user === 'admin' && options.adminPassword !== undefined)
    return safeEqual(pass, options.adminPassword) ? { ok: true, tenant: undefined } : { ok: false };
  return safeEqual(pass, password) ? { ok: true, tenant: user } : { ok: false };
}

function refuse(res: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  void res.header('www-authenticate', CHALLENGE);
  return sendHttpError(res, 401, code, message);
}

/** Adds the credential check to every route of `app` (register it before the routes). */
export function registerHttpAuth(app: FastifyInstance, options: HttpAuthOptions): void {
  const { password, tenantHeader } = options;
  app.addHook('onRequest', async (req: FastifyRequest, res: FastifyReply) => {
    const access = req.routeOptions.config.access ?? 'client';
    // Without a password HTTP is as open as RESP is.
    if (access === 'public' || password === undefined) return;
    const header = req.headers.authorization;
    if (header === undefined)
      return refuse(
        res,
        ErrorCode.NoAuth,
        'authentication required: send Authorization: Bearer <password>, or basic auth with the tenant as user',
      );
    const verdict = check(header, options, password);
    if (!verdict.ok) return refuse(res, ErrorCode.BadAuth, 'invalid credentials');
    if (verdict.tenant === undefined) return;
    // The basic-auth user names the tenant exactly as the tenant header would, so it
    // passes the same checks on its way to the session.
    const named = req.headers[tenantHeader];
    if (named !== undefined && named !== verdict.tenant)
      return sendHttpError(
        res,
        400,
        ErrorCode.BadRequest,
        `the basic-auth user names tenant '${verdict.tenant}' but ${tenantHeader} names '${String(named)}'`,
      );
    req.headers[tenantHeader] = verdict.tenant;
  });
}
