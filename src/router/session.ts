/** The state of one client connection (RESP) or request (HTTP). */
export class Session {
  /** 2 until the client says HELLO 3. */
  proto: 2 | 3 = 2;
  /** False while a password is configured and the client has not authenticated. */
  authenticated: boolean;
  /** True after `AUTH admin <admin-password>`: may run FLUSHALL. */
  admin = false;
  name: Buffer | null = null;
  /** Who the traffic belongs to: the AUTH username, or the HTTP X-Tenant header. */
  tenant = 'default';
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
}
