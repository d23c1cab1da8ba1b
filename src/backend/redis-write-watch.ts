/**
 * A Redis node's write watch: every key changed on the node, by anyone, told
 * to one listener. What a live move's dirty tracking stands on, so that a move
 * is correct also for writes that bypass the router.
 *
 * Redis's client-side caching in broadcasting mode, RESP2 form: a subscriber
 * connection (`CLIENT ID`, `SUBSCRIBE __redis__:invalidate`) and a second
 * connection that only says `CLIENT TRACKING ON REDIRECT <id> BCAST` with no
 * prefix, so Redis reports every modified key (writes, deletes, expiry,
 * eviction; null for a flush) to the subscriber. BCAST keeps no per-key table
 * on the node, whatever the number of keys.
 *
 * Ordering the barrier relies on: Redis queues broadcast invalidations in
 * `beforeSleep` (trackingBroadcastInvalidationMessages) before it writes the
 * replies of that event-loop turn, so the invalidation of a write is on the
 * subscriber's socket before the write's reply leaves the node. A PING sent
 * on the subscriber after that reply came back is answered after the
 * invalidation.
 *
 * Unlike the cache's feed there is no reconnecting: a gap in the stream is a
 * change the move could miss, so either connection ending is `lost`, and the
 * move starts its copy over with a new watch.
 */
import { decodeReply } from '../protocol/reply-decoder.js';
import { RawReply, ReplyError, SimpleString, type Reply } from '../protocol/reply.js';
import type { WriteListener, WriteWatch } from './backend.js';
import { encodeCommand, type ConnectionEnd, type RedisConnection } from './redis-connection.js';
import { ErrorCode } from '../errors.js';
import { feedError } from './tracked-reads.js';

/** What a watch needs of its backend: a new connection to the node. */
export type ConnectionFactory = (
  purpose: string,
  onEnd: (end: ConnectionEnd, reason: string) => void,
  onPush?: (reply: RawReply) => boolean,
) => RedisConnection;

const CHANNEL = '__redis__:invalidate';
const MESSAGE = Buffer.from(`*3\r\n$7\r\nmessage\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n`, 'latin1');
const PING = encodeCommand([Buffer.from('PING')]);

/** Opens a watch; resolves once Redis broadcasts to it. */
export async function openRedisWriteWatch(
  connect: ConnectionFactory,
  label: string,
  listener: WriteListener,
): Promise<WriteWatch> {
  const watch = new RedisWriteWatch(listener, label);
  await watch.start(connect);
  return watch;
}

class RedisWriteWatch implements WriteWatch {
  readonly #listener: WriteListener;
  readonly #label: string;
  #sub: RedisConnection | null = null;
  #tracker: RedisConnection | null = null;
  #live = false;
  #over = false;

  constructor(listener: WriteListener, label: string) {
    this.#listener = listener;
    this.#label = label;
  }

  get live(): boolean {
    return this.#live;
  }

  async start(connect: ConnectionFactory): Promise<void> {
    const sub = connect('write watch', (_e, reason) => this.#lose(`subscriber: ${reason}`), this.#onPush);
    const tracker = connect('write watch tracking', (_e, reason) => this.#lose(`tracking: ${reason}`));
    this.#sub = sub;
    this.#tracker = tracker;
    try {
      await sub.connect();
      const id = await ask(sub, 'CLIENT', 'ID');
      if (typeof id !== 'number') throw new Error(`CLIENT ID answered ${JSON.stringify(id)}`);
      await ask(sub, 'SUBSCRIBE', CHANNEL);
      await tracker.connect();
      const on = await ask(tracker, 'CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'BCAST');
      if (!(on instanceof SimpleString)) throw new Error(`CLIENT TRACKING answered ${JSON.stringify(on)}`);
    } catch (err) {
      this.#over = true;
      await this.#drop();
      throw new Error(`${this.#label}: cannot watch writes: ${(err as Error).message}`, { cause: err });
    }
    if (this.#over) throw new Error(`${this.#label}: write watch lost while starting`);
    this.#live = true;
  }

  barrier(): Promise<void> {
    const sub = this.#sub;
    if (!this.#live || sub === null)
      return Promise.reject(new Error(`${this.#label}: write watch is not live`));
    return new Promise((resolve, reject) => {
      sub.send(PING, (reply) => {
        if (reply instanceof ReplyError || !this.#live) reject(new Error(`${this.#label}: write watch lost`));
        else resolve();
      });
    });
  }

  close(): void {
    if (this.#over) return;
    this.#over = true;
    this.#live = false;
    void this.#drop();
  }

  #lose(reason: string): void {
    if (this.#over) return;
    this.#over = true;
    const wasLive = this.#live;
    this.#live = false;
    void this.#drop();
    if (wasLive) this.#listener.lost(`${this.#label}: write watch lost (${reason})`);
  }

  async #drop(): Promise<void> {
    const reply = feedError(ErrorCode.ShardUnavailable, `${this.#label}: write watch closed`);
    const sub = this.#sub;
    const tracker = this.#tracker;
    this.#sub = null;
    this.#tracker = null;
    await Promise.all([sub?.destroy(reply), tracker?.destroy(reply)]);
  }

  readonly #onPush = (reply: RawReply): boolean => {
    if (reply.type !== 0x2a || reply.length <= MESSAGE.length) return false;
    const bytes = reply.bytes;
    if (bytes.compare(MESSAGE, 0, MESSAGE.length, 0, MESSAGE.length) !== 0) return false;
    if (this.#over) return true;
    const payload = decodeReply(bytes, MESSAGE.length);
    let keys: Buffer[] | null = null; // null, or a shape not known: any key may have changed
    if (Array.isArray(payload)) {
      keys = [];
      for (const key of payload as readonly Reply[]) if (Buffer.isBuffer(key)) keys.push(Buffer.from(key));
    } else if (Buffer.isBuffer(payload)) keys = [Buffer.from(payload)];
    this.#listener.changed(keys);
    return true;
  };
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
