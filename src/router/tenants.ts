/**
 * Which tenants exist and how they prove who they are. Front ends ask here:
 * RESP's AUTH / HELLO AUTH, and HTTP for the tenant header and its
 * credentials.
 *
 * Two modes (config `tenant.declared`):
 * - open (no list): any well-formed name is a tenant. AUTH needs the shared
 *   `password` to name one; with no password, only `default` (Redis answers
 *   WRONGPASS for any other user then, and so does hotshard). Telemetry
 *   stays bounded however many names arrive (telemetry/tenant-table.ts).
 * - declared: only the listed tenants (and `default`) exist; each AUTHs with
 *   its own password, or the shared one when it has none, or any password
 *   when neither is set (Redis's `nopass` user).
 *
 * A declared tenant may also carry a quota (ops/s with burst credit, enforced
 * by the router's admission stage) and a priority: when a saturated node
 * sheds load, tenants of the lowest priority are refused first. Priorities
 * are integers from 0 (lowest, shed first) to 100; a tenant without one, and
 * every tenant in open mode, has DEFAULT_TENANT_PRIORITY (1), so marking a
 * batch tenant 0 makes it the first to go without touching the others.
 */
import { timingSafeEqual } from 'node:crypto';
import { withBurst, type RateLimit } from '../mitigate/token-bucket.js';
import { ReplyError } from '../protocol/reply.js';
import { DEFAULT_TENANT, OTHER_TENANT } from '../telemetry/tenant-table.js';

/** What a tenant name may look like (it becomes a key prefix, a header value and a metric label). */
export const TENANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Names no tenant may take: `other` sums untracked tenants in telemetry, `admin` is the admin connection. */
export const RESERVED_TENANT_NAMES: readonly string[] = [OTHER_TENANT, 'admin'];

/** Lowest tenant priority: shed first. */
export const LOWEST_TENANT_PRIORITY = 0;
/** Highest tenant priority. */
export const HIGHEST_TENANT_PRIORITY = 100;
/** The priority of a tenant that does not declare one. */
export const DEFAULT_TENANT_PRIORITY = 1;

/** A tenant's quota as configured: ops/s, with a burst credit that defaults to one second of it. */
export interface TenantQuota {
  readonly opsPerSec: number;
  /** Requests it may send at once after a quiet spell; default max(1, opsPerSec). */
  readonly burst?: number | undefined;
}

/** One declared tenant (config `tenant.declared[]`). */
export interface TenantDeclaration {
  readonly name: string;
  /** Its AUTH password; unset: the shared password. */
  readonly password?: string | undefined;
  /** Its rate limit; unset: none. */
  readonly quota?: TenantQuota | undefined;
  /** 0 (lowest, shed first) to 100; unset: DEFAULT_TENANT_PRIORITY. */
  readonly priority?: number | undefined;
}

/** How tenants are configured. */
export interface TenantsOptions {
  /** The shared password (config `password`): the default user's, and every tenant's without its own. */
  readonly password?: string | undefined;
  /** Only these tenants exist; unset: any name does (open mode). */
  readonly declared?: readonly TenantDeclaration[] | undefined;
}

const WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The tenants of one deployment.
 *
 * @example
 * const t = new Tenants({ declared: [{ name: 'acme', password: 's3cret' }] });
 * t.authenticate('acme', 's3cret'); // 'acme'
 * t.authenticate('mallory', 'x'); // ReplyError WRONGPASS
 * t.refuseName('mallory'); // "tenant 'mallory' is not declared ..."
 */
export class Tenants {
  readonly password: string | undefined;
  readonly #declared: ReadonlyMap<string, TenantDeclaration> | undefined;

  constructor(options: TenantsOptions = {}) {
    this.password = options.password;
    this.#declared =
      options.declared === undefined ? undefined : new Map(options.declared.map((d) => [d.name, d]));
  }

  /** True when only declared tenants exist. */
  get closed(): boolean {
    return this.#declared !== undefined;
  }

  /** The declared tenants' names (empty in open mode). */
  get declaredNames(): string[] {
    return this.#declared === undefined ? [] : [...this.#declared.keys()];
  }

  /** A tenant's priority: 0 is shed first; DEFAULT_TENANT_PRIORITY unless declared otherwise. */
  priorityOf(name: string): number {
    return this.#declared?.get(name)?.priority ?? DEFAULT_TENANT_PRIORITY;
  }

  /** The configured quotas, burst filled in: what the router's admission starts with. */
  quotas(): [name: string, limit: RateLimit][] {
    const out: [string, RateLimit][] = [];
    for (const d of this.#declared?.values() ?? [])
      if (d.quota !== undefined) out.push([d.name, withBurst(d.quota)]);
    return out;
  }

  /**
   * `AUTH [user] password`: the tenant the pair authenticates as, or the
   * error Redis 7 would give (`user` undefined: the one-argument form).
   */
  authenticate(user: string | undefined, password: string): string | ReplyError {
    if (user === undefined) {
      if (this.password === undefined) {
        return new ReplyError(
          'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?',
        );
      }
      return safeEqual(password, this.password) ? DEFAULT_TENANT : new ReplyError(WRONGPASS);
    }
    const expected = this.#passwordOf(user);
    if (expected === null) return new ReplyError(WRONGPASS);
    if (expected !== undefined && !safeEqual(password, expected)) return new ReplyError(WRONGPASS);
    return user;
  }

  /** True when acting as `name` takes a password (AUTH, or HTTP credentials). */
  needsPassword(name: string): boolean {
    return typeof this.#passwordOf(name) === 'string';
  }

  /**
   * Why a tenant named without credentials (the HTTP tenant header) may not
   * be used, or undefined when it may.
   */
  refuseName(name: string): string | undefined {
    if (!TENANT_NAME.test(name)) return `tenant name must match ${TENANT_NAME.source}`;
    if (RESERVED_TENANT_NAMES.includes(name)) return `tenant name '${name}' is reserved`;
    if (this.#declared !== undefined && name !== DEFAULT_TENANT && !this.#declared.has(name))
      return `tenant '${name}' is not declared (config tenant.declared)`;
    return undefined;
  }

  // The password `user` must give: a string, undefined for any, null when the user does not exist.
  #passwordOf(user: string): string | undefined | null {
    if (user === DEFAULT_TENANT) return this.password;
    if (!TENANT_NAME.test(user) || RESERVED_TENANT_NAMES.includes(user)) return null;
    if (this.#declared === undefined) return this.password === undefined ? null : this.password;
    const d = this.#declared.get(user);
    return d === undefined ? null : (d.password ?? this.password);
  }
}
