/**
 * A redis-server as a shard backend: one pipelined connection per node, as
 * twemproxy's default `server_connections: 1` (several connections would let a
 * client's pipeline overtake itself across them).
 *
 * Data commands are forwarded as the bytes the client sent and answered with
 * the bytes Redis sent (see redis-connection.ts). Failures are answered, never
 * hung: while the node is down every request fails at once and the backend
 * reconnects in the background; a stalled node has its connection reset. A
 * silent one is first probed with PING on a connection of its own, opened
 * only then: one that answers is busy (see redis-connection.ts).
 * Live-move operations use the same connection, so they are ordered with the
 * data traffic of this router. Invalidation feeds (a cache's) open two
 * connections of their own each, only when asked for (see redis-tracking.ts).
 */
import { ConfigError, ErrorCode, HotshardError } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';
import { makeCommand, type Command } from '../protocol/command.js';
import { RawReply, ReplyError, SimpleString, hsError, type Reply } from '../protocol/reply.js';
import { decodeReply } from '../protocol/reply-decoder.js';
import type {
  BackendStatus,
  DedicatedConnection,
  DedicatedPurpose,
  InvalidationFeed,
  InvalidationListener,
  KeyDump,
  KeyWrite,
  KeyspaceStats,
  NodeHealth,
  ReplyCallback,
  ShardBackend,
  UnblockHow,
  WriteListener,
  WriteWatch,
} from './backend.js';
import { learnCommands } from '../router/command-table.js';
import { parseCommandInfo } from '../router/key-specs.js';
import { RedisConnection, encodeCommand, type ConnectionEnd } from './redis-connection.js';
import { RedisInvalidationFeed, type RedisFeedHost } from './redis-tracking.js';
import { openRedisWriteWatch } from './redis-write-watch.js';

/** Where a Redis node is and how long to wait for it. */
export interface RedisBackendOptions {
  readonly node: NodeId;
  readonly host: string;
  readonly port: number;
  /** Sent with AUTH on every (re)connect before anything else. */
  readonly password?: string;
  /** A node silent this long while requests wait counts as stalled (a node still sending is not); default 2000. */
  readonly timeoutMs?: number;
  /**
   * How much longer than `timeoutMs` a silent node that answers a probe (PING
   * on another connection, within `timeoutMs`) is waited for; default 10000.
   * 0: no probe, silence past `timeoutMs` is a stall.
   */
  readonly maxBusyMs?: number;
  /** How long one connection attempt may take; default 2000. */
  readonly connectTimeoutMs?: number;
  /**
   * Ask the node's COMMAND INFO at each connect and teach the command table
   * the commands it lacks (a newer Redis or Valkey); default true. Off for
   * scripted nodes that answer only what a test sends.
   */
  readonly learnCommands?: boolean;
  /** How often an idle connection is checked with a PING (its round trip is the latency); default 1000. */
  readonly healthCheckMs?: number;
  /**
   * Told when the node goes down or comes back up, with the reason; also when
   * the first connection attempt fails (the node was down from the start).
   * Not told when `close()` takes it down.
   */
  readonly onStatusChange?: (status: BackendStatus, reason: string) => void;
}

const RECONNECT_FIRST_MS = 50;
/** setTimeout's largest delay: a blocking connection's "never". */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RECONNECT_MAX_MS = 2_000;
const UNLINK_CHUNK = 1_000;
const EMPTY_COMMAND = hsError(ErrorCode.Protocol, 'empty command');
const PING = encodeCommand([Buffer.from('PING')]);
const EVAL = Buffer.from('EVAL');
const NO_TTL = Buffer.from('0');
const DELETE_MARK = Buffer.from('-');
const EMPTY = Buffer.alloc(0);
// Lua false becomes a nil reply: a missing key dumps as nil.
const DUMP_SCRIPT = Buffer.from(
  "local out = {} for i, k in ipairs(KEYS) do out[2*i-1] = redis.call('DUMP', k) out[2*i] = redis.call('PTTL', k) end return out",
);
const RESTORE_SCRIPT = Buffer.from(
  "for i, k in ipairs(KEYS) do local ttl = ARGV[2*i-1] if ttl == '-' then redis.call('DEL', k) else redis.call('RESTORE', k, ttl, ARGV[2*i], 'REPLACE') end end return #KEYS",
);

/**
 * A ShardBackend over one redis-server.
 *
 * @example
 * const backend = new RedisBackend({ node: nodeId('n1'), host: '127.0.0.1', port: 7001 });
 * await backend.connect();
 * backend.send(makeCommand('GET', 'k'), (reply) => console.log(reply));
 */
export class RedisBackend implements ShardBackend {
  readonly node: NodeId;
  readonly kind = 'redis' as const;
  /** `host:port`. */
  readonly address: string;
  readonly #opts: RedisBackendOptions;
  readonly #label: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;

  #conn: RedisConnection | null = null;
  #opening: RedisConnection | null = null;
  #connecting: Promise<void> | null = null;
  #status: BackendStatus = 'down';
  #downReply: ReplyError;
  #closed = false;
  #closing: Promise<void> | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = RECONNECT_FIRST_MS;
  /** Whether the owner has heard a status yet: the first failed attempt is news, though 'down' is where it starts. */
  #reported = false;
  #since = Date.now();
  #reason: string | null = 'not connected yet';
  #latencyMs: number | null = null;
  #healthTimer: NodeJS.Timeout | undefined;
  #probing = false;
  readonly #maxBusyMs: number;
  /** The probe connection while one is out, closed with the backend. */
  #prober: RedisConnection | null = null;
  readonly #feeds = new Set<RedisInvalidationFeed>();
  readonly #feedHost: RedisFeedHost;
  /** The side connection of live-move copies (dumpKeys, restoreKeys), opened on first use. */
  #side: Promise<RedisConnection> | null = null;
  readonly #watches = new Set<WriteWatch>();
  /** Dedicated connections handed out and not closed (closed with the backend). */
  readonly #dedicated = new Set<RedisConnection>();

  constructor(opts: RedisBackendOptions) {
    this.#opts = opts;
    this.node = opts.node;
    this.address = `${opts.host}:${opts.port}`;
    this.#label = opts.node === this.address ? `node ${opts.node}` : `node ${opts.node} (${this.address})`;
    this.#timeoutMs = positive(opts.timeoutMs, 2_000, 'timeoutMs');
    this.#connectTimeoutMs = positive(opts.connectTimeoutMs, 2_000, 'connectTimeoutMs');
    this.#maxBusyMs = opts.maxBusyMs === 0 ? 0 : positive(opts.maxBusyMs, 10_000, 'maxBusyMs');
    const healthCheckMs = positive(opts.healthCheckMs, 1_000, 'healthCheckMs');
    this.#downReply = this.#unavailable('not connected');
    this.#healthTimer = setInterval(() => this.#checkHealth(), healthCheckMs);
    this.#healthTimer.unref();
    this.#feedHost = {
      label: this.#label,
      healthCheckMs,
      connection: (purpose, onEnd, onPush) =>
        new RedisConnection({
          host: opts.host,
          port: opts.port,
          password: opts.password,
          timeoutMs: this.#timeoutMs,
          timeoutOn: 'silence',
          connectTimeoutMs: this.#connectTimeoutMs,
          label: `${this.#label} (${purpose})`,
          onEnd,
          onPush,
        }),
      send: (cmd, done) => this.send(cmd, done),
      release: (feed) => this.#feeds.delete(feed),
    };
  }

  get status(): BackendStatus {
    return this.#status;
  }

  health(): NodeHealth {
    return {
      status: this.#status,
      since: this.#since,
      reason: this.#reason,
      latencyMs: this.#latencyMs,
      address: this.address,
    };
  }

  /**
   * Opens the connection. Rejects with a HotshardError naming the address when
   * the node cannot be reached; the backend then keeps trying in the
   * background until `close()`.
   */
  connect(): Promise<void> {
    if (this.#closed)
      return Promise.reject(new HotshardError(ErrorCode.ShuttingDown, `${this.#label} is closed`));
    if (this.#conn !== null) return Promise.resolve();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  /** Requests written to the node and not answered yet (0 while down); health checks are not counted. */
  get inFlight(): number {
    return (this.#conn?.inFlight ?? 0) - (this.#probing ? 1 : 0);
  }

  /** Data commands sent to the node so far (MemoryBackend.commandsProcessed's twin): what reached it, cache hits not. */
  commandsProcessed = 0;

  send(cmd: Command, done: ReplyCallback): void {
    const conn = this.#conn;
    if (conn === null) return done(this.#downReply);
    // Redis answers nothing to an empty multi-bulk, which would shift every later reply.
    if (cmd.frame === undefined && cmd.args.length === 0) return done(EMPTY_COMMAND);
    this.commandsProcessed++;
    conn.send(cmd.frame ?? encodeCommand(cmd.args), done);
  }

  /**
   * A connection of its own for one client: WATCH's state, or a blocking
   * command. A blocking one never counts silence as a stall (BLPOP 0 waits
   * for ever); only a lost connection (TCP keepalive) ends it.
   */
  async openDedicated(purpose: DedicatedPurpose): Promise<DedicatedConnection> {
    if (this.#closed) throw new HotshardError(ErrorCode.ShuttingDown, `${this.#label} is closed`);
    const conn: RedisConnection = new RedisConnection({
      host: this.#opts.host,
      port: this.#opts.port,
      password: this.#opts.password,
      timeoutMs: purpose === 'blocking' ? MAX_TIMER_MS : this.#timeoutMs,
      timeoutOn: 'silence',
      connectTimeoutMs: this.#connectTimeoutMs,
      label: `${this.#label} (${purpose})`,
      onEnd: () => this.#dedicated.delete(conn),
    });
    this.#dedicated.add(conn);
    try {
      await conn.connect();
    } catch (err) {
      this.#dedicated.delete(conn);
      throw err;
    }
    if (this.#closed) {
      await conn.destroy(this.#downReply);
      throw new HotshardError(ErrorCode.ShuttingDown, `${this.#label} is closed`);
    }
    // CLIENT UNBLOCK of a client blocked here names this connection by the node's own id.
    const id = purpose === 'blocking' ? await clientIdOf(conn) : undefined;
    const unblock =
      id === undefined
        ? undefined
        : (how: UnblockHow, done: ReplyCallback): void =>
            this.send(makeCommand('CLIENT', 'UNBLOCK', id, how === 'error' ? 'ERROR' : 'TIMEOUT'), done);
    return new RedisDedicated(conn, purpose, () => this.#dedicated.delete(conn), unblock);
  }

  /**
   * Opens a feed on two connections of its own (a subscriber and a
   * tracked-read connection redirecting to it); it goes live, with linkUp,
   * once Redis tracks for it, and keeps reconnecting while the node is away.
   */
  trackInvalidations(listener: InvalidationListener): InvalidationFeed {
    const feed = new RedisInvalidationFeed(this.#feedHost, listener);
    if (this.#closed) {
      void feed.shutdown(`${this.#label} is closed`);
    } else {
      this.#feeds.add(feed);
      feed.start();
    }
    return feed;
  }

  barrier(): Promise<void> {
    const conn = this.#conn;
    if (conn === null) return Promise.resolve();
    return new Promise((resolve) => conn.send(PING, () => resolve()));
  }

  async watchWrites(listener: WriteListener): Promise<WriteWatch> {
    if (this.#closed) throw new HotshardError(ErrorCode.ShuttingDown, `${this.#label} is closed`);
    const opened: { watch?: WriteWatch } = {};
    const untrack: WriteListener = {
      changed: (keys) => listener.changed(keys),
      lost: (reason) => {
        if (opened.watch !== undefined) this.#watches.delete(opened.watch);
        listener.lost(reason);
      },
    };
    const host = this.#feedHost;
    const watch = await openRedisWriteWatch(
      (purpose, onEnd, onPush) => host.connection(purpose, onEnd, onPush),
      this.#label,
      untrack,
    );
    opened.watch = watch;
    if (this.#closed) {
      watch.close();
      throw new HotshardError(ErrorCode.ShuttingDown, `${this.#label} is closed`);
    }
    this.#watches.add(watch);
    return watch;
  }

  /**
   * One EVAL per batch (DUMP and PTTL of each key inside the script): for
   * small keys the node and this process parse one command instead of two per
   * key, which is what bounds the copy rate. A batch is kept near a few MB by
   * the copier, so the script holds the node no longer than the DUMPs would.
   */
  async dumpKeys(keys: readonly Buffer[]): Promise<(KeyDump | null)[]> {
    if (keys.length === 0) return [];
    const conn = await this.#sideConnection();
    const reply = await new Promise<Reply>((resolve) =>
      conn.send(encodeCommand([EVAL, DUMP_SCRIPT, Buffer.from(String(keys.length)), ...keys]), resolve),
    );
    const v = this.#decoded(reply, 'DUMP (script)');
    if (v instanceof Error) throw v;
    if (!Array.isArray(v) || v.length !== keys.length * 2) throw this.#unexpected('DUMP (script)', v);
    const items = v as readonly Reply[];
    return keys.map((_, i) => {
      const payload = items[2 * i];
      const pttl = items[2 * i + 1];
      // A copy: the reply is a view into a socket chunk a move may otherwise keep alive.
      return Buffer.isBuffer(payload) && typeof pttl === 'number' && pttl !== -2
        ? { payload: Buffer.from(payload), pttl }
        : null;
    });
  }

  /** One EVAL per batch: RESTORE ... REPLACE, or DEL, for each key in order inside the script. */
  async restoreKeys(writes: readonly KeyWrite[]): Promise<void> {
    for (const { dump } of writes) {
      if (dump !== null && (dump.pttl < -1 || dump.pttl === 0 || !Number.isSafeInteger(dump.pttl)))
        throw new HotshardError(ErrorCode.BadRequest, `invalid pttl ${dump.pttl} in key dump`);
    }
    if (writes.length === 0) return;
    const conn = await this.#sideConnection();
    const args: Buffer[] = [EVAL, RESTORE_SCRIPT, Buffer.from(String(writes.length))];
    for (const { key } of writes) args.push(key);
    for (const { dump } of writes) {
      if (dump === null) args.push(DELETE_MARK, EMPTY);
      else args.push(dump.pttl === -1 ? NO_TTL : Buffer.from(String(dump.pttl)), dump.payload);
    }
    const reply = await new Promise<Reply>((resolve) => conn.send(encodeCommand(args), resolve));
    const v = this.#decoded(reply, 'RESTORE (script)');
    if (v instanceof Error) throw v;
    if (v !== writes.length) throw this.#unexpected('RESTORE (script)', v);
  }

  /** A reply of the side connection decoded, or the Error it means. */
  #decoded(reply: Reply, command: string): Reply | Error {
    try {
      const v = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
      if (v instanceof ReplyError)
        return v.code !== undefined
          ? new HotshardError(v.code, `${this.#label} ${command}: ${v.detail}`)
          : this.#unexpected(command, v);
      return v;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** The side connection, opened on first use and again after it ended. */
  #sideConnection(): Promise<RedisConnection> {
    if (this.#closed)
      return Promise.reject(new HotshardError(ErrorCode.ShuttingDown, `${this.#label} is closed`));
    if (this.#side !== null) return this.#side;
    let opening: Promise<RedisConnection> | null = null;
    opening = (async () => {
      const conn = this.#feedHost.connection('move copy', () => {
        if (this.#side === opening) this.#side = null;
      });
      try {
        await conn.connect();
      } catch (err) {
        if (this.#side === opening) this.#side = null;
        throw err;
      }
      return conn;
    })();
    this.#side = opening;
    return opening;
  }

  async *scanKeys(accept: (key: Buffer) => boolean, batchSize = 1_000): AsyncIterable<Buffer[]> {
    const size = Math.max(1, Math.floor(batchSize));
    const count = String(size);
    let cursor: Buffer = Buffer.from('0');
    let batch: Buffer[] = [];
    do {
      const reply = await this.#expect('SCAN', cursor, 'COUNT', count);
      const [next, keys] = Array.isArray(reply) ? (reply as readonly Reply[]) : [];
      if (!Buffer.isBuffer(next) || !Array.isArray(keys)) throw this.#unexpected('SCAN', reply);
      cursor = Buffer.from(next); // detach from the socket chunk
      for (const key of keys as readonly Reply[]) {
        if (Buffer.isBuffer(key) && accept(key)) batch.push(Buffer.from(key));
      }
      // SCAN's COUNT is only a hint; batches never exceed the size asked for.
      while (batch.length >= size) {
        yield batch.slice(0, size);
        batch = batch.slice(size);
      }
    } while (!(cursor.length === 1 && cursor[0] === 0x30));
    if (batch.length > 0) yield batch;
  }

  async dump(key: Buffer): Promise<KeyDump | null> {
    // Sent in the same turn, so they travel in one write and one round trip.
    const [payload, pttl] = await Promise.all([this.#expect('DUMP', key), this.#expect('PTTL', key)]);
    if (payload === null || pttl === -2) return null;
    if (!Buffer.isBuffer(payload) || typeof pttl !== 'number')
      throw this.#unexpected('DUMP/PTTL', [payload, pttl]);
    // A copy: the reply is a view into a socket chunk a move may otherwise keep alive.
    return { payload: Buffer.from(payload), pttl };
  }

  async restoreIfAbsent(key: Buffer, dump: KeyDump): Promise<boolean> {
    if (dump.pttl < -1)
      throw new HotshardError(ErrorCode.BadRequest, `invalid pttl ${dump.pttl} in key dump`);
    // RESTORE's 0 means "no expiry"; a key with under 1 ms left keeps 1 ms rather than becoming immortal.
    const ttl = dump.pttl === -1 ? 0 : Math.max(1, dump.pttl);
    const reply = await this.#call('RESTORE', key, String(ttl), dump.payload);
    if (reply instanceof SimpleString && reply.value === 'OK') return true;
    if (reply instanceof ReplyError && reply.message.startsWith('BUSYKEY')) return false;
    throw this.#unexpected('RESTORE', reply);
  }

  async deleteKeys(keys: readonly Buffer[]): Promise<number> {
    const calls: Promise<Reply>[] = [];
    for (let i = 0; i < keys.length; i += UNLINK_CHUNK) {
      calls.push(this.#expect('UNLINK', ...keys.slice(i, i + UNLINK_CHUNK)));
    }
    let deleted = 0;
    for (const reply of await Promise.all(calls)) {
      if (typeof reply !== 'number') throw this.#unexpected('UNLINK', reply);
      deleted += reply;
    }
    return deleted;
  }

  async keyCount(): Promise<number> {
    const reply = await this.#expect('DBSIZE');
    if (typeof reply !== 'number') throw this.#unexpected('DBSIZE', reply);
    return reply;
  }

  /** From the node's INFO keyspace: no db0 line means an empty db0. */
  async keyspaceStats(): Promise<KeyspaceStats> {
    const reply = await this.#expect('INFO', 'keyspace');
    if (!Buffer.isBuffer(reply)) throw this.#unexpected('INFO keyspace', reply);
    const db0 = /^db0:(.*)$/m.exec(reply.toString('latin1'))?.[1] ?? '';
    const field = (name: string): number => Number(new RegExp(`\\b${name}=(\\d+)`).exec(db0)?.[1] ?? 0);
    return { keys: field('keys'), expires: field('expires'), avgTtlMs: field('avg_ttl') };
  }

  async flushAll(): Promise<void> {
    const reply = await this.#expect('FLUSHALL');
    if (!(reply instanceof SimpleString)) throw this.#unexpected('FLUSHALL', reply);
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearInterval(this.#healthTimer);
    const reply = hsError(ErrorCode.ShuttingDown, `${this.#label} is shutting down`);
    this.#downReply = reply;
    const conn = this.#conn ?? this.#opening;
    this.#conn = null;
    this.#opening = null;
    this.#status = 'down'; // the owner closed it: nothing to tell
    this.#reason = 'closed';
    this.#since = Date.now();
    const feeds = [...this.#feeds].map((feed) => feed.shutdown(`${this.#label} is shutting down`));
    this.#feeds.clear();
    for (const watch of [...this.#watches]) watch.close();
    this.#watches.clear();
    const side = this.#side;
    this.#side = null;
    if (side !== null) await side.then((c) => c.destroy(reply)).catch(() => undefined);
    const dedicated = [...this.#dedicated];
    this.#dedicated.clear();
    await Promise.all(dedicated.map((c) => c.destroy(reply)));
    if (conn !== null) await conn.destroy(reply);
    await this.#prober?.destroy(reply);
    await Promise.all(feeds);
    await this.#connecting?.catch(() => undefined);
  }

  /** One connection attempt; on failure schedules the next one. */
  async #open(): Promise<void> {
    const conn: RedisConnection = new RedisConnection({
      host: this.#opts.host,
      port: this.#opts.port,
      password: this.#opts.password,
      timeoutMs: this.#timeoutMs,
      timeoutOn: 'silence',
      maxBusyMs: this.#maxBusyMs,
      probe: this.#maxBusyMs > 0 ? this.#probe : undefined,
      connectTimeoutMs: this.#connectTimeoutMs,
      label: this.#label,
      onEnd: (end, reason) => this.#onEnd(conn, end, reason),
    });
    this.#opening = conn;
    try {
      await conn.connect();
    } catch (err) {
      if (this.#opening === conn) this.#opening = null;
      if (!this.#closed) {
        const reason = (err as Error).message;
        this.#downReply = this.#unavailable(reason);
        this.#setStatus('down', reason);
        this.#scheduleReconnect();
      }
      throw err;
    }
    if (this.#opening === conn) this.#opening = null;
    if (this.#closed) {
      await conn.destroy(this.#downReply);
      throw new HotshardError(ErrorCode.ShuttingDown, `${this.#label} was closed while connecting`);
    }
    if (this.#opts.learnCommands !== false) {
      await learnFrom(conn);
      // The connection ended while it was asked (its end was not ours to hear yet): as a failed connect.
      if (conn.ended || this.#closed) {
        const reason = this.#closed
          ? `${this.#label} was closed while connecting`
          : 'connection lost while connecting';
        if (!this.#closed) {
          this.#downReply = this.#unavailable(reason);
          this.#setStatus('down', reason);
          this.#scheduleReconnect();
        }
        throw new HotshardError(this.#closed ? ErrorCode.ShuttingDown : ErrorCode.ShardUnavailable, reason);
      }
    }
    this.#conn = conn;
    this.#retryDelay = RECONNECT_FIRST_MS;
    this.#setStatus('up', 'connected');
  }

  #onEnd(conn: RedisConnection, end: ConnectionEnd, reason: string): void {
    if (this.#conn !== conn) return;
    this.#conn = null;
    const why = end === 'lost' ? `connection lost: ${reason}` : reason;
    this.#downReply = this.#unavailable(why);
    this.#setStatus('down', why);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const delay = this.#retryDelay;
    this.#retryDelay = Math.min(delay * 2, RECONNECT_MAX_MS);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.connect().catch(() => undefined); // a failed attempt schedules the next one
    }, delay);
    this.#retryTimer.unref();
  }

  #setStatus(status: BackendStatus, reason: string): void {
    // While down, the latest failure is the one worth showing.
    this.#reason = status === 'down' ? reason : null;
    if (this.#status === status && this.#reported) return;
    this.#reported = true;
    this.#status = status;
    this.#since = Date.now();
    this.#latencyMs = null;
    this.#opts.onStatusChange?.(status, reason);
  }

  /**
   * PINGs an idle connection: its round trip is the node's latency, and a
   * node that went silent with no traffic is found by the watchdog instead of
   * by the next client. A busy connection needs neither.
   */
  #checkHealth(): void {
    const conn = this.#conn;
    if (conn === null || this.#probing || conn.inFlight > 0) return;
    this.#probing = true;
    const sent = performance.now();
    conn.send(PING, (reply) => {
      this.#probing = false;
      if (reply instanceof RawReply && this.#conn === conn)
        this.#latencyMs = Math.round((performance.now() - sent) * 1000) / 1000;
    });
  }

  /**
   * Whether the node answers AUTH and PING on a new connection within the
   * timeout. A connection opened per probe, not kept: probes follow silence
   * only, and an idle extra client on every node would buy nothing.
   */
  readonly #probe = async (): Promise<boolean> => {
    if (this.#closed) return false;
    const probe = new RedisConnection({
      host: this.#opts.host,
      port: this.#opts.port,
      password: this.#opts.password,
      timeoutMs: this.#timeoutMs,
      connectTimeoutMs: this.#timeoutMs,
      label: `${this.#label} (probe)`,
      onEnd: () => undefined,
    });
    this.#prober = probe;
    try {
      await probe.connect();
      return true;
    } catch {
      return false;
    } finally {
      if (this.#prober === probe) this.#prober = null;
      await probe.destroy(this.#downReply);
    }
  };

  #unavailable(reason: string): ReplyError {
    return hsError(ErrorCode.ShardUnavailable, `${this.#label} is down (${reason})`);
  }

  /**
   * Sends one admin command over the data connection. Resolves the decoded
   * reply, which may be an error Redis sent; rejects when hotshard itself
   * could not get an answer (node down, stalled, closing).
   */
  #call(...args: Array<string | Buffer>): Promise<Reply> {
    const frame = encodeCommand(args.map((a) => (typeof a === 'string' ? Buffer.from(a) : a)));
    return new Promise((resolve, reject) => {
      const done: ReplyCallback = (reply) => {
        if (reply instanceof RawReply) {
          try {
            resolve(decodeReply(reply.bytes));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        } else if (reply instanceof ReplyError) {
          reject(new HotshardError(codeOf(reply), reply.detail));
        } else {
          resolve(reply);
        }
      };
      const conn = this.#conn;
      if (conn === null) done(this.#downReply);
      else conn.send(frame, done);
    });
  }

  /** Like #call, but an error reply from Redis throws. */
  async #expect(...args: Array<string | Buffer>): Promise<Reply> {
    const reply = await this.#call(...args);
    if (reply instanceof ReplyError) throw this.#unexpected(String(args[0]), reply);
    return reply;
  }

  #unexpected(command: string, reply: unknown): HotshardError {
    const shown =
      reply instanceof ReplyError
        ? reply.message
        : JSON.stringify(reply, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    return new HotshardError(ErrorCode.BadRequest, `${this.#label} answered ${command} with ${shown}`);
  }
}

/** One client's own connection (see openDedicated). */
class RedisDedicated implements DedicatedConnection {
  constructor(
    readonly conn: RedisConnection,
    readonly purpose: DedicatedPurpose,
    readonly release: () => void,
    readonly unblock: ((how: UnblockHow, done: ReplyCallback) => void) | undefined,
  ) {}

  get open(): boolean {
    return !this.conn.ended;
  }

  send(cmd: Command, done: ReplyCallback): void {
    if (cmd.frame === undefined && cmd.args.length === 0) return done(EMPTY_COMMAND);
    this.conn.send(cmd.frame ?? encodeCommand(cmd.args), done);
  }

  close(): void {
    this.release();
    if (!this.conn.ended) void this.conn.destroy(DEDICATED_CLOSED);
  }
}

/** The node's CLIENT ID for `conn`, as a decimal string; undefined when it will not tell (an ACL, a renamed CLIENT). */
function clientIdOf(conn: RedisConnection): Promise<string | undefined> {
  return new Promise((resolve) => {
    conn.send(CLIENT_ID, (reply) => {
      const text = reply instanceof RawReply ? reply.bytes.toString('latin1') : '';
      resolve(/^:\d+\r\n$/.test(text) ? text.slice(1, -2) : undefined);
    });
  });
}

const CLIENT_ID = encodeCommand([Buffer.from('CLIENT'), Buffer.from('ID')]);

const DEDICATED_CLOSED = hsError(ErrorCode.ShardUnavailable, 'dedicated connection closed by hotshard');

/**
 * Teaches the command table the commands this node knows and it does not (a
 * newer Redis or Valkey), from the node's COMMAND INFO, before the connection
 * carries traffic. A node that will not tell (ACL, an old server) is served
 * with the checked-in table.
 */
function learnFrom(conn: RedisConnection): Promise<void> {
  return new Promise((resolve) => {
    conn.send(encodeCommand([COMMAND, INFO]), (reply) => {
      try {
        const v = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
        if (Array.isArray(v))
          learnCommands(v.filter((c) => Array.isArray(c)).map((c) => parseCommandInfo(c)));
      } catch {
        // Not Redis 7's shape: the checked-in table stays the whole table.
      }
      resolve();
    });
  });
}
const COMMAND = Buffer.from('COMMAND');
const INFO = Buffer.from('INFO');

/** The hotshard code of a ReplyError this backend made; one without a code means the node is unreachable. */
function codeOf(reply: ReplyError): ErrorCode {
  return reply.code ?? ErrorCode.ShardUnavailable;
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${field} must be a positive number of milliseconds, got ${value}`);
  }
  return value;
}
