/**
 * A Redis node's invalidation feed, on Redis's own client-side caching
 * (https://redis.io/docs/manual/client-side-caching/), in its RESP2 form:
 *
 * - a subscriber connection: `CLIENT ID`, then `SUBSCRIBE __redis__:invalidate`;
 * - a tracked-read connection: `CLIENT TRACKING ON REDIRECT <that id>`, in the
 *   default mode, where Redis remembers each key read on that connection and
 *   sends the subscriber one message when it next changes (by anyone, expiry
 *   and eviction included; a flush sends null). Only tracked reads go there,
 *   so only the keys a cache fills are tracked, and a key stays tracked until
 *   its next invalidation, as on the embedded node.
 *
 * Why not RESP3 push frames on one connection: tracked replies are forwarded
 * raw to clients, and a RESP3 HGETALL is a map a RESP2 client cannot read.
 * Why not OPTIN on the data connection: CLIENT CACHING must come right before
 * its read, and the data connection's write path is the measured hot path.
 *
 * Redis tells a RESP2 tracking client nothing when its redirect target goes
 * away (invalidations are just lost), so either connection ending is the
 * link going down: both are dropped, and a new pair is set up with backoff;
 * linkUp only once the new pair tracks. A subscriber idle for
 * `healthCheckMs` is PINGed, so a node that stopped answering (not only one
 * that closed the socket) is noticed within the timeout.
 *
 * The two connections are not ordered with each other: an invalidation may
 * arrive before the reply of a read that was sent earlier. Readers keep a
 * generation per key and drop a fill that an invalidation overtook.
 */
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import { RawReply, ReplyError, SimpleString, type Reply } from '../protocol/reply.js';
import type {
  InvalidationFeed,
  InvalidationListener,
  ReplyCallback,
  TrackedReplyCallback,
} from './backend.js';
import { encodeCommand, type ConnectionEnd, type RedisConnection } from './redis-connection.js';
import { feedError, notATrackedRead, tell, trackedReadKeys } from './tracked-reads.js';

/** What a feed needs of its backend. */
export interface RedisFeedHost {
  /** Names the node in reasons: `node n1 (127.0.0.1:7001)`. */
  readonly label: string;
  /** How long the subscriber may sit idle before a PING checks it. */
  readonly healthCheckMs: number;
  /** A new, unconnected connection to the node with the backend's address, password and timeouts. */
  connection(
    purpose: string,
    onEnd: (end: ConnectionEnd, reason: string) => void,
    onPush?: (reply: RawReply) => boolean,
  ): RedisConnection;
  /** Serves a read over the data path, untracked (while the link is down). */
  send(cmd: Command, done: ReplyCallback): void;
  /** The feed was closed by its owner. */
  release(feed: RedisInvalidationFeed): void;
}

const CHANNEL = '__redis__:invalidate';
/** How every invalidation message starts; what follows is the keys (an array) or null (a flush). */
const MESSAGE = Buffer.from(`*3\r\n$7\r\nmessage\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n`, 'latin1');
const PING = encodeCommand([Buffer.from('PING')]);
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2_000;

/** One subscription to a Redis node's invalidations. */
export class RedisInvalidationFeed implements InvalidationFeed {
  readonly #host: RedisFeedHost;
  readonly #listener: InvalidationListener;
  #sub: RedisConnection | null = null;
  #reader: RedisConnection | null = null;
  #live = false;
  #closed = false;
  /** Bumped whenever the link goes down: a read sent before answers untracked. */
  #epoch = 0;
  /** Bumped by every set-up and tear-down, so a set-up overtaken by either gives up. */
  #attempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = RETRY_FIRST_MS;
  readonly #pingTimer: NodeJS.Timeout;

  constructor(host: RedisFeedHost, listener: InvalidationListener) {
    this.#host = host;
    this.#listener = listener;
    this.#pingTimer = setInterval(() => this.#ping(), host.healthCheckMs);
    this.#pingTimer.unref();
  }

  /** Begins setting up the link (once). */
  start(): void {
    if (!this.#closed && this.#sub === null) void this.#establish();
  }

  get live(): boolean {
    return this.#live;
  }

  readTracked(cmd: Command, done: TrackedReplyCallback): void {
    if (trackedReadKeys(cmd) === null) return done(notATrackedRead(cmd), false);
    const reader = this.#reader;
    if (!this.#live || reader === null) return this.#host.send(cmd, (reply) => done(reply, false));
    const epoch = this.#epoch;
    reader.send(cmd.frame ?? encodeCommand(cmd.args), (reply) =>
      done(reply, this.#live && this.#epoch === epoch),
    );
  }

  close(): void {
    if (this.#closed) return;
    void this.#stop(null);
    this.#host.release(this);
  }

  /** The backend closes: a live listener hears linkDown(reason), then nothing more. */
  shutdown(reason: string): Promise<void> {
    return this.#stop(reason);
  }

  async #stop(reason: string | null): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (reason === null) {
      this.#live = false; // the owner closed it: nothing to tell
      this.#epoch++;
    }
    await this.#down(reason ?? 'feed closed', ErrorCode.ShuttingDown);
  }

  /** Sets up a subscriber and a tracked-read connection redirecting to it; on failure, tries again later. */
  async #establish(): Promise<void> {
    const attempt = ++this.#attempt;
    const current = (): boolean => attempt === this.#attempt && !this.#closed;
    const sub = this.#host.connection('invalidations', (_e, reason) => this.#lost(sub, reason), this.#onPush);
    const reader = this.#host.connection('tracked reads', (_e, reason) => this.#lost(reader, reason));
    this.#sub = sub;
    this.#reader = reader;
    try {
      await sub.connect();
      const id = await ask(sub, 'CLIENT', 'ID');
      if (typeof id !== 'number') throw new Error(`CLIENT ID answered ${describe(id)}`);
      await ask(sub, 'SUBSCRIBE', CHANNEL);
      if (!current()) return;
      await reader.connect();
      const on = await ask(reader, 'CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id));
      if (!(on instanceof SimpleString)) throw new Error(`CLIENT TRACKING answered ${describe(on)}`);
    } catch (err) {
      if (!current()) return;
      await this.#down(`cannot set up tracking: ${(err as Error).message}`, ErrorCode.ShardUnavailable);
      this.#retry();
      return;
    }
    // Either one may have dropped meanwhile: #lost then began the next attempt.
    if (!current() || sub.ended || reader.ended) return;
    this.#live = true;
    this.#retryDelay = RETRY_FIRST_MS;
    tell(() => this.#listener.linkUp());
  }

  /** One of the current connections ended on its own. */
  #lost(conn: RedisConnection, reason: string): void {
    if (this.#closed || (conn !== this.#sub && conn !== this.#reader)) return;
    const which = conn === this.#sub ? 'invalidation subscriber' : 'tracked-read connection';
    void this.#down(`${which} of ${this.#host.label} lost: ${reason}`, ErrorCode.ShardUnavailable);
    this.#retry();
  }

  /** Drops both connections; a live link goes down first, so replies failed below answer untracked. */
  async #down(reason: string, code: ErrorCode): Promise<void> {
    this.#attempt++;
    const sub = this.#sub;
    const reader = this.#reader;
    this.#sub = null;
    this.#reader = null;
    if (this.#live) {
      this.#live = false;
      this.#epoch++;
      tell(() => this.#listener.linkDown(reason));
    }
    const reply = feedError(code, `${this.#host.label}: ${reason}`);
    await Promise.all([sub?.destroy(reply), reader?.destroy(reply)]);
  }

  #retry(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(delay * 2, RETRY_MAX_MS);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#establish();
    }, delay);
    this.#retryTimer.unref();
  }

  /** An idle subscriber hears nothing either way: a PING tells a quiet node from a gone one. */
  #ping(): void {
    const sub = this.#sub;
    if (this.#live && sub !== null && sub.inFlight === 0) sub.send(PING, () => undefined);
  }

  /** Takes the subscriber's invalidation messages; anything else answers a request. */
  readonly #onPush = (reply: RawReply): boolean => {
    if (reply.type !== 0x2a || reply.length <= MESSAGE.length) return false;
    const bytes = reply.bytes;
    if (bytes.compare(MESSAGE, 0, MESSAGE.length, 0, MESSAGE.length) !== 0) return false;
    const payload = decodeReply(bytes, MESSAGE.length);
    let keys: Buffer[] | null = null; // null, or a shape not known: everything may have changed
    if (Array.isArray(payload)) {
      keys = [];
      // Copies: the message is a view into a socket chunk.
      for (const key of payload as readonly Reply[]) if (Buffer.isBuffer(key)) keys.push(Buffer.from(key));
    } else if (Buffer.isBuffer(payload)) keys = [Buffer.from(payload)];
    tell(() => this.#listener.invalidate(keys));
    return true;
  };
}

/** A reply as an error message shows it. */
function describe(reply: Reply): string {
  return reply instanceof SimpleString ? reply.value : JSON.stringify(reply);
}

/** Sends one set-up command; resolves its decoded reply, rejects on an error reply. */
function ask(conn: RedisConnection, ...args: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    conn.send(encodeCommand(args.map((a) => Buffer.from(a))), (reply) => {
      try {
        const value = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
        if (value instanceof ReplyError) reject(new Error(value.message));
        else resolve(value);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}
