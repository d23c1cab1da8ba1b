import type { DedicatedConnection, ReplyCallback, UnblockHow } from '../backend/backend.js';
import type { NodeId } from '../keyspace/ids.js';
import type { ReplyError } from '../protocol/reply.js';

/** One command queued inside MULTI. */
export interface QueuedCommand {
  readonly name: string;
  readonly args: Buffer[];
  readonly frame: Buffer | undefined;
  /** The keys it touches (where it must run). */
  readonly keys: readonly Buffer[];
  /** Whether it may write them (its spec's flag; a script that is not read-only). */
  readonly write: boolean;
}

/** WATCH's pin: a dedicated connection to the node of the watched keys. */
export interface Watching {
  readonly node: NodeId;
  readonly conn: DedicatedConnection;
  readonly keys: Buffer[];
}

/** A blocking command in progress: on a dedicated connection, or parked on an embedded node. */
export interface Blocked {
  readonly node: NodeId;
  readonly keys: readonly Buffer[];
  /** Ends the wait early with `reply` (the key's range moved away): the connection is closed. */
  interrupt(reply: ReplyError): void;
  /**
   * CLIENT UNBLOCK: has the node end the wait as Redis would (the command's
   * timeout reply, or the UNBLOCKED error); `done` gets 1, or 0 when the
   * command was answered first.
   */
  unblock(how: UnblockHow, done: ReplyCallback): void;
}

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
  /** The commands queued since MULTI; null outside a transaction (src/router/transaction.ts). */
  multi: QueuedCommand[] | null = null;
  /** A command failed to queue since MULTI: EXEC answers EXECABORT, as Redis. */
  multiFailed = false;
  /** The dedicated connection WATCH pinned this session to, and what it watches; null when nothing is watched. */
  watching: Watching | null = null;
  /** A blocking command's connection while it waits; closed when the client leaves. */
  blocked: Blocked | null = null;
  /**
   * Requests that arrived while one of this session's must finish first (a
   * WATCH being set up, a blocked command): run in order when it does, so a
   * client's pipeline is never reordered; null when nothing waits.
   */
  held: (() => void)[] | null = null;
  /** The client has gone: what resolves later must give its connections back instead. */
  gone = false;
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
