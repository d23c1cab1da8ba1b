/**
 * Who may call an HTTP route. A request acts as a tenant (the tenant header,
 * the basic-auth user, or `default`); when that tenant needs a password (the
 * shared `--password`, or a declared tenant's own), every route needs the
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
import { DEFAULT_TENANT } from '../telemetry/tenant-table.js';
import { sendHttpError } from './http-errors.js';
import type { Tenants } from './tenants.js';

/** How much a route asks of its caller. */
export type HttpAccess = 'public' | 'client';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Default `client`: needs the client password when one is set. */
    access?: HttpAccess;
  }
}

/** What the HTTP front end checks credentials against. */
export interface HttpAuthOptions {
  /** The tenants and their passwords, as RESP's AUTH checks them. */
  readonly tenants: Tenants;
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

/**
 * Checks credentials exactly as `AUTH [user] password` would: Bearer is the
 * one-argument form for the tenant the header names (or `default`), so a
 * tenant with a password of its own cannot be borrowed with the shared one.
 */
function check(header: string, named: string | undefined, options: HttpAuthOptions): Verdict {
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space < 0 ? header.length : space).toLowerCase();
  const rest = space < 0 ? '' : header.slice(space + 1).trim();
  const { tenants, adminPassword } = options;
  if (scheme === 'bearer') {
    const tenant = named ?? DEFAULT_TENANT;
    const result = tenants.authenticate(tenant === DEFAULT_TENANT ? undefined : tenant, rest);
    return typeof result === 'string' ? { ok: true, tenant: undefined } : { ok: false };
  }
  if (scheme !== 'basic') return { ok: false };
  const decoded = Buffer.from(rest, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { ok: false };
  const user = decoded.slice(0, colon);
  const pass = decoded.slice(colon + 1);
  // As AUTH: `admin` is checked against the admin password when there is one, and names no tenant.
  if (user === 'admin' && adminPassword !== undefined)
    return safeEqual(pass, adminPassword) ? { ok: true, tenant: undefined } : { ok: false };
  const result = tenants.authenticate(user, pass);
  return typeof result === 'string' ? { ok: true, tenant: result } : { ok: false };
}

function refuse(res: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  void res.header('www-authenticate', CHALLENGE);
  return sendHttpError(res, 401, code, message);
}

/** Adds the credential check to every route of `app` (register it before the routes). */
export function registerHttpAuth(app: FastifyInstance, options: HttpAuthOptions): void {
  const { tenants, tenantHeader } = options;
  app.addHook('onRequest', async (req: FastifyRequest, res: FastifyReply) => {
    const access = req.routeOptions.config.access ?? 'client';
    if (access === 'public') return;
    const raw = req.headers[tenantHeader];
    const named = typeof raw === 'string' ? raw : undefined;
    const header = req.headers.authorization;
    // A request that needs no password is what a RESP client is before AUTH:
    // tenant `default` when no password is set, or a tenant that needs none.
    // A Bearer header is then ignored; basic auth still names a tenant and is checked.
    const open = !tenants.needsPassword(named ?? DEFAULT_TENANT);
    if (open && (header === undefined || /^bearer(\s|$)/i.test(header))) return;
    if (header === undefined) {
      return refuse(
        res,
        ErrorCode.NoAuth,
        'authentication required: send Authorization: Bearer <password>, or basic auth with the tenant as user',
      );
    }
    const verdict = check(header, named, options);
    if (!verdict.ok) return refuse(res, ErrorCode.BadAuth, 'invalid credentials');
    if (verdict.tenant === undefined) return;
    // The basic-auth user names the tenant exactly as the tenant header would, so it
    // passes the same checks on its way to the session.
    if (raw !== undefined && raw !== verdict.tenant)
      return sendHttpError(
        res,
        400,
        ErrorCode.BadRequest,
        `the basic-auth user names tenant '${verdict.tenant}' but ${tenantHeader} names '${String(raw)}'`,
      );
    req.headers[tenantHeader] = verdict.tenant;
  });
}
