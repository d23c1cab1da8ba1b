/** The state of one client connection (RESP) or request (HTTP). */
export class Session {
  /** 2 until the client says HELLO 3. */
  proto: 2 | 3 = 2;
  /** False while a password is configured and the client has not authenticated. */
  authenticated: boolean;
  /** True after `AUTH admin <admin-password>`: may run FLUSHALL. */
  admin = false;
  name: Buffer | null = null;
  /** The last command run (CLIENT LIST's `cmd`); null before the first. */
  lastCommand: string | null = null;
  #tenant = 'default';
  /** True when the tenant was named (AUTH username, X-Tenant); else it may come from the key prefix. */
  tenantNamed = false;
  /** The tenant's telemetry index, cached by the instrumentation; valid while tenantEpoch is the table's epoch. */
  tenantIndex = -1;
  tenantEpoch = -1;
  /**
   * Set after a MULTI, which hotshard refuses: until EXEC or DISCARD nothing is
   * executed, so commands meant for the transaction never run outside it.
   */
  inRefusedMulti = false;
  /** Set by QUIT: close once the reply is written. */
  closeAfterReply = false;
  readonly createdAt: number;

  constructor(
    readonly id: number,
    readonly remote: string,
    needsAuth: boolean,
    now: number,
  ) {
    this.authenticated = !needsAuth;
    this.createdAt = now;
  }

  /** Who the traffic belongs to: the AUTH username, or the HTTP X-Tenant header. */
  get tenant(): string {
    return this.#tenant;
  }

  set tenant(name: string) {
    this.#tenant = name;
    this.tenantNamed = name !== 'default';
    this.tenantIndex = -1;
    this.tenantEpoch = -1;
  }
}
