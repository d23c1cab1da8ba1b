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
 *
 * The control plane's tokens apply with or without a password, so they are
 * checked before the no-password shortcut:
 *   - a route that changes state (policies, actions, automation, shard and
 *     node verbs) declares
 *     `access: 'admin'` and needs `Authorization: Bearer <admin token>`:
 *     401 without credentials or with wrong ones, 403 with the read-only
 *     token, and 403 naming `--admin-token` when none is configured (an
 *     open control plane is a choice an operator makes by setting one);
 *   - a read (GET, HEAD) of any other route also accepts either token, so a
 *     dashboard or `hotshard policies list` needs no client password. Data
 *     writes under /kv/ still need the client's credentials.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../errors.js';
import { DEFAULT_TENANT } from '../telemetry/tenant-table.js';
import { sendHttpError } from './http-errors.js';
import type { Tenants } from './tenants.js';

/** How much a route asks of its caller. */
export type HttpAccess = 'public' | 'client' | 'admin';

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
  /** Bearer token of the state-changing routes (`--admin-token`); unset: they answer 403. */
  readonly adminToken?: string | undefined;
  /** Bearer token that reads but changes nothing (`--read-token`). */
  readonly readToken?: string | undefined;
}

/** Which control token a header carries, if any. */
function tokenOf(header: string | undefined, options: HttpAuthOptions): 'admin' | 'read' | undefined {
  if (header === undefined || !/^bearer\s/i.test(header)) return undefined;
  const given = header.slice(header.indexOf(' ') + 1).trim();
  // Both compared always, so the timing does not tell which one exists.
  const admin = options.adminToken !== undefined && safeEqual(given, options.adminToken);
  const read = options.readToken !== undefined && safeEqual(given, options.readToken);
  return admin ? 'admin' : read ? 'read' : undefined;
}

/** The admin level's verdict: undefined lets the request through. */
function checkAdmin(
  req: FastifyRequest,
  res: FastifyReply,
  options: HttpAuthOptions,
): FastifyReply | undefined {
  const header = req.headers.authorization;
  if (options.adminToken === undefined)
    return sendHttpError(
      res,
      403,
      ErrorCode.NotAllowed,
      'this endpoint changes state and no admin token is configured: start hotshard with --admin-token <token> (or HOTSHARD_ADMIN_TOKEN)',
    );
  if (header === undefined)
    return refuse(
      res,
      ErrorCode.NoAuth,
      'this endpoint changes state: send Authorization: Bearer <admin token> (--admin-token)',
    );
  const token = tokenOf(header, options);
  if (token === 'admin') return undefined;
  if (token === 'read')
    return sendHttpError(
      res,
      403,
      ErrorCode.NotAllowed,
      'the read-only token cannot change state: use the admin token (--admin-token)',
    );
  return refuse(res, ErrorCode.BadAuth, 'invalid credentials: this endpoint needs the admin token');
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
    if (access === 'admin') return checkAdmin(req, res, options);
    if (
      (req.method === 'GET' || req.method === 'HEAD') &&
      tokenOf(req.headers.authorization, options) !== undefined
    )
      return;
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
