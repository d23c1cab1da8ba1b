/**
 * The cache overlay for read-hot keys (issue 13 §2.1) with request coalescing
 * (§2.2): a per-router cache of GET, HGET, HMGET and HGETALL replies of the
 * few keys that have a cache policy, coherent with writes.
 *
 * The promise (DESIGN.md "Semantics"): a read through the router never returns
 * a value older than a write acknowledged through the router before the read
 * was sent. How it is kept:
 * - Every write of the key (`spec.write` in the command table, whatever the
 *   command) is forwarded, and at its acknowledgement the key is invalidated:
 *   entries dropped, its generation bumped. Multi-key writes reach this stage
 *   one key at a time (DEL k1 k2 → DEL k1), so they are writes here too.
 * - A fill stores its reply only if the key's generation is still the one it
 *   began in: a GET in flight across a SET is answered, but never refills the
 *   cache with the old value. Reads join only a backend read of the current
 *   generation (coalesce.ts).
 * - Fills are read over the node's invalidation feed, so writes that bypass
 *   the router (another router, a client of Redis, expiry) invalidate too; a
 *   feed whose link is down stores nothing (cache-store.ts).
 * - An entry lives at most `maxStaleMs`, jittered to ×[1 − jitter, 1] so
 *   entries filled together do not expire together, and never past the key's
 *   own TTL: PTTL is read with every fill, and the TTL counted from the moment
 *   the fill was sent.
 * Errors (WRONGTYPE included) reach every waiter and are never stored; nor is
 * a reply larger than `maxValueBytes`.
 *
 * PTTL goes on the data path right after the tracked read, not on the feed's
 * connection: readTracked takes only the cached reads. A change between the two
 * is reported by the feed (the key is tracked from the read on), so the TTL
 * only bounds an expiry the node reports late.
 */
import type { ReplyCallback } from '../../backend/backend.js';
import type { NodeId } from '../../keyspace/ids.js';
import type { RoutingTable } from '../../keyspace/routing-table.js';
import type { Clock } from '../../clock.js';
import type { Command } from '../../protocol/command.js';
import {
  hsError,
  isErrorReply,
  ownedCopy,
  RawReply,
  SimpleString,
  type Reply,
} from '../../protocol/reply.js';
import { ErrorCode } from '../../errors.js';
import { commandSpec } from '../../router/command-table.js';
import type { KeyHandler, KeyRequest } from '../../router/key-policies.js';
import type { Session } from '../../router/session.js';
import type { Router } from '../../router/router.js';
import type { CacheSettings, KeyPolicy, MitigationContext, Remedy, RemedyStage } from '../policy.js';
import { CacheStore, type CacheEntry, type CachedKey, type NodeLink } from './cache-store.js';
import { Coalescer, Flight, readId } from './coalesce.js';

/** The reads whose replies are cached; other reads of the key are coalesced only. */
const CACHED_READS: ReadonlySet<string> = new Set(['get', 'hget', 'hmget', 'hgetall']);
/** A GET's arguments as readId sees them (the key does not take part). */
const GET_ARGS: readonly Buffer[] = [Buffer.from('get'), Buffer.alloc(0)];
const GET_SPEC = commandSpec('get')!;
/** Tracked reads behind write-throughs: at most one per this share of maxStaleMs (see KeyCache.#send). */
const REARM_SHARE = 1 / 20;

/** Per-router options of the cache, shared by every cached key of that router. */
export interface CacheOptions {
  /** Entries held at most, over all keys. Default 10,000. */
  readonly maxEntries?: number;
  /** Bytes of replies held at most, over all keys. Default 64 MiB. */
  readonly maxBytes?: number;
  /** A larger reply is not cached. Default 1 MiB. */
  readonly maxValueBytes?: number;
  /** An entry lives maxStaleMs × [1 − jitter, 1]. Default 0.2. */
  readonly jitter?: number;
  /** Where time comes from. Default the policy context's clock. */
  readonly clock?: Clock;
  /** Uniform in [0, 1), for the jitter. Default Math.random. */
  readonly random?: () => number;
}

/** The cache remedy, with a view of each router's shared store. */
export interface CacheRemedy extends Remedy<'cache'> {
  /** The store of `router` (entries, bytes, evictions, feeds), or undefined before its first cached key. */
  storeStatus(router: Router): Record<string, unknown> | undefined;
}

/**
 * Builds the cache remedy; one call per router (its bounds are that router's).
 *
 * @example
 * const manager = new PolicyManager(ctx, [cacheRemedy({ maxEntries: 1_000 })]);
 * await manager.set(Buffer.from('celebrity'), {
 *   consistency: 'bounded',
 *   cache: { maxStaleMs: 1_000, staleWhileRevalidate: false },
 * });
 */
export function cacheRemedy(options: CacheOptions = {}): CacheRemedy {
  const stores = new WeakMap<Router, CacheStore>();
  const maxValueBytes = options.maxValueBytes ?? 1 << 20;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  return {
    name: 'cache',
    build(policy: KeyPolicy, key: Buffer, next: KeyHandler, ctx: MitigationContext): RemedyStage {
      let store = stores.get(ctx.router);
      if (store === undefined) {
        store = new CacheStore(ctx.router.backends, {
          maxEntries: options.maxEntries ?? 10_000,
          maxBytes: options.maxBytes ?? 64 * 1024 * 1024,
        });
        stores.set(ctx.router, store);
        // FLUSHALL goes to every node, past the key-policy stage: its acknowledgement invalidates here.
        const flushed = store;
        ctx.router.onFlushAll.add(() => flushed.flushNode(null));
      }
      return new KeyCache(key, policy.cache!, policy.coalesce !== false, next, ctx.router, store, {
        clock: options.clock ?? ctx.clock,
        random,
        jitter,
        maxValueBytes,
      });
    },
    storeStatus: (router) => stores.get(router)?.status(),
  };
}

interface KeyCacheOptions {
  readonly clock: Clock;
  readonly random: () => number;
  readonly jitter: number;
  readonly maxValueBytes: number;
}

/** A write or a read of one session, in the order the session sent them (see KeyCache.#writing). */
interface SessionOrder {
  readonly write: boolean;
  acked: boolean;
  readonly run: (() => void) | undefined;
}

/** One key's cache stage. */
class KeyCache implements RemedyStage, CachedKey {
  readonly name: string;
  readonly #key: Buffer;
  readonly #settings: CacheSettings;
  readonly #next: KeyHandler;
  readonly #router: Router;
  readonly #store: CacheStore;
  readonly #options: KeyCacheOptions;
  readonly #coalescer: Coalescer | undefined;
  readonly #entries = new Map<string, CacheEntry>();
  #placedIn: RoutingTable | undefined;
  #placedOn: NodeId | undefined;
  readonly #pttl: Command;
  readonly #get: Command;
  /** Bumped at every invalidation; fills and joins must match it. */
  #generation = 0;
  /**
   * Per session with a write of the key not yet acknowledged, that session's
   * writes and reads of the key in the order it sent them. A read waits
   * until every write the session sent before it is acknowledged, then is
   * served as any read (a hit, often the write's own value): so a client
   * that pipelines SET then GET reads its own write, as from Redis, without
   * the read going to the node. Other clients' reads are served meanwhile:
   * a write not yet acknowledged may or may not be seen.
   */
  readonly #writing = new Map<Session, SessionOrder[]>();
  /**
   * Per session, its reads answered over the node's feed connection that are
   * still out, and what waits for them. The feed is not the connection writes
   * take, so a write the session sent after such a read could overtake it on
   * the node and the read would see it; the write waits instead.
   */
  readonly #reading = new Map<Session, { out: number; waiting: (() => void)[] }>();
  /** Until the barrier sent at creation returns: reads take the plain route. */
  #settling = true;
  /** When the last tracked read behind a write-through was sent. */
  #rearmedAt = -Infinity;
  /** Entries stored from a plain SET's acknowledgement (write-through). */
  #writeThroughs = 0;
  #closed = false;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  /** Reads this stage answered, and the reads it sent the node for them (fills, refreshes, coalesced flights). */
  #reads = 0;
  #backendReads = 0;
  #fillsDiscarded = 0;
  /** Fills answered with an error (WRONGTYPE included), or whose PTTL failed: never stored. */
  #errors = 0;
  #tooLarge = 0;
  #refreshes = 0;
  #invalidations = 0;

  constructor(
    key: Buffer,
    settings: CacheSettings,
    coalesce: boolean,
    next: KeyHandler,
    router: Router,
    store: CacheStore,
    options: KeyCacheOptions,
  ) {
    this.#key = Buffer.from(key);
    this.name = key.toString('latin1');
    this.#settings = settings;
    this.#next = next;
    this.#router = router;
    this.#store = store;
    this.#options = options;
    this.#coalescer = coalesce ? new Coalescer() : undefined;
    this.#pttl = { name: 'pttl', args: [Buffer.from('PTTL'), this.#key], frame: undefined };
    this.#get = { name: 'get', args: [Buffer.from('GET'), this.#key], frame: undefined };
    store.register(this);
    // A barrier: its reply on the plain route comes after every write to the key
    // sent before this stage was installed (each node runs its connection in order).
    router.forward(this.#pttl, () => (this.#settling = false));
  }

  run(req: KeyRequest, done: ReplyCallback): void {
    if (req.spec.write) return this.#write(req, done);
    if (this.#writing.size !== 0) {
      const order = this.#writing.get(req.session);
      if (order !== undefined)
        return void order.push({ write: false, acked: false, run: () => this.#read(req, done) });
    }
    this.#read(req, done);
  }

  /** The key's node in `table`, found once per table rather than hashed per write. */
  #nodeIn(table: RoutingTable): NodeId {
    if (this.#placedIn !== table) {
      this.#placedIn = table;
      this.#placedOn = table.shards[table.indexFor(this.#key)]!.node;
    }
    return this.#placedOn!;
  }

  #read(req: KeyRequest, done: ReplyCallback): void {
    // Closed: its feeds are gone (a read released late must not reopen them).
    // Settling: writes sent before this stage existed may still be in flight on
    // the plain route; a read there queues behind them, a hit or a fill could not.
    if (this.#closed || this.#settling) return this.#next.run(req, done);
    this.#reads++;
    const name = req.spec.name;
    if (this.#settings.maxStaleMs > 0 && CACHED_READS.has(name)) return this.#cachedRead(req, done);
    const co = this.#coalescer;
    if (co === undefined) {
      this.#backendReads++;
      return this.#next.run(req, done);
    }
    // Other reads (LRANGE, SMEMBERS, STRLEN, TTL ...), and every read with maxStaleMs 0: coalesced only.
    const id = readId(name, req.cmd.args);
    const generation = this.#generation;
    if (co.join(id, generation, done)) return;
    this.#backendReads++;
    const flight = co.begin(id, generation, 0);
    flight.waiters.push(done);
    this.#next.run(req, (reply) => {
      co.end(id, flight);
      flight.answer(reply);
    });
  }

  // Invalidated at the acknowledgement, not the sending: a read sent between
  // the two may see either value, but one sent after must see the write, and a
  // fill that began before the acknowledgement may hold the value before it.
  #write(req: KeyRequest, done: ReplyCallback): void {
    const session = req.session;
    // Read only by a plain SET's write-through (#send): other writes skip the clock.
    const sentAt = req.spec.name === 'set' ? this.#options.clock.now() : 0;
    const table = this.#router.table;
    const tableVersion = table.version;
    const node = this.#nodeIn(table);
    const link = this.#store.link(node);
    const epoch = link.epoch;
    let order = this.#writing.get(session);
    if (order === undefined) this.#writing.set(session, (order = []));
    const mine: SessionOrder = { write: true, acked: false, run: undefined };
    order.push(mine);
    const sent = order;
    const reading = this.#reading.get(session);
    if (reading !== undefined) {
      // The session's earlier reads of this key are out on the feed connection: sent now, the write could land first.
      reading.waiting.push(() => {
        try {
          this.#send(req, done, mine, sent, session, sentAt, tableVersion, node, link, epoch);
        } catch (err) {
          mine.acked = true;
          this.#release(session, sent);
          done(hsError(ErrorCode.Internal, `the policy of this key failed: ${(err as Error).message}`));
        }
      });
      return;
    }
    try {
      this.#send(req, done, mine, sent, session, sentAt, tableVersion, node, link, epoch);
    } catch (err) {
      // The request is answered with the error (runPolicy); the session's later reads must not wait for it.
      mine.acked = true;
      this.#release(session, sent);
      throw err;
    }
  }

  #send(
    req: KeyRequest,
    done: ReplyCallback,
    mine: SessionOrder,
    order: SessionOrder[],
    session: Session,
    sentAt: number,
    tableVersion: number,
    node: NodeId,
    link: NodeLink,
    epoch: number,
  ): void {
    this.#next.run(req, (reply) => {
      mine.acked = true;
      this.invalidate(null);
      // A plain `SET key value` acknowledged: the key now holds `value` and no TTL,
      // whatever it held before, and writes through this router are acknowledged
      // in the order the node ran them (one connection per node). So the value is
      // kept, as a fill would have read it: a key written hundreds of times a
      // second is still served from here, where every fill would race the next
      // write and be discarded. Only while the node's feed is live and was
      // throughout (a write that bypasses the router is then reported).
      if (
        req.spec.name === 'set' &&
        req.cmd.args.length === 3 &&
        this.#settings.writeThrough === true &&
        isOk(reply) &&
        this.#settings.maxStaleMs > 0 &&
        link.live &&
        link.epoch === epoch &&
        !this.#closed
      ) {
        this.#writeThroughs++;
        const id = readId('get', GET_ARGS);
        // Our own SET ended the node's tracking of the key (Redis untracks a key
        // once it reports it), so a write that bypasses the router right after it
        // would go unreported. A tracked read right behind the SET tracks the key
        // again, and its value (with its TTL) replaces the kept one unless a newer
        // write of ours came first. One such read per write would double the node's
        // work for a key written thousands of times a second, so they are sent at
        // most once per REARM_SHARE of maxStaleMs; a value kept without one lives
        // only that long. A write that bypasses the router is then unseen for at
        // most maxStaleMs × REARM_SHARE (50 ms by default) after one of our SETs.
        const now = this.#options.clock.now();
        const every = this.#settings.maxStaleMs * REARM_SHARE;
        const rearm = now - this.#rearmedAt >= every;
        this.#keep(id, req.cmd.args[2]!, rearm ? -1 : every, sentAt, node, tableVersion);
        if (rearm && this.#coalescer?.current(id, this.#generation) === undefined) {
          this.#rearmedAt = now;
          this.#fill({ ...req, spec: GET_SPEC, cmd: this.#get }, id, undefined);
        }
      }
      done(reply);
      this.#release(session, order);
    });
  }

  /** Runs a session's reads whose earlier writes are all acknowledged, in order. */
  #release(session: Session, order: SessionOrder[]): void {
    while (order.length > 0) {
      const head = order[0]!;
      if (head.write && !head.acked) return;
      order.shift();
      head.run?.();
    }
    if (this.#writing.get(session) === order) this.#writing.delete(session);
  }

  #cachedRead(req: KeyRequest, done: ReplyCallback): void {
    const id = readId(req.spec.name, req.cmd.args);
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      const now = this.#options.clock.now();
      if (now < entry.expiresAt && entry.tableVersion === this.#router.table.version) {
        this.#hits++;
        if (now >= entry.freshUntil) this.#refresh(req, id);
        return done(entry.reply);
      }
      this.#drop(entry);
    }
    this.#misses++;
    const generation = this.#generation;
    const session = req.session;
    let reading = this.#reading.get(session);
    if (reading === undefined) this.#reading.set(session, (reading = { out: 0, waiting: [] }));
    reading.out++;
    const answered: ReplyCallback = (reply) => {
      done(reply);
      if (--reading.out === 0) {
        this.#reading.delete(session);
        for (const go of reading.waiting) go();
      }
    };
    if (this.#coalescer?.join(id, generation, answered) === true) return;
    this.#fill(req, id, answered);
  }

  /** Stale-while-revalidate: one refresh per entry in flight, the entry served meanwhile. */
  #refresh(req: KeyRequest, id: string): void {
    if (this.#coalescer?.current(id, this.#generation) !== undefined) return;
    this.#refreshes++;
    this.#fill(req, id, undefined);
  }

  /** Reads `req` over the node's feed with the key's PTTL; answers the waiters, stores if still coherent. */
  #fill(req: KeyRequest, id: string, done: ReplyCallback | undefined): void {
    this.#backendReads++;
    const table = this.#router.table;
    const tableVersion = table.version;
    const node = table.shards[table.indexFor(this.#key)]!.node;
    const link = this.#store.link(node);
    const epoch = link.epoch;
    const generation = this.#generation;
    const sentAt = this.#options.clock.now();
    // Without coalescing a flight is still the fill's record, just never joined.
    const flight = this.#coalescer?.begin(id, generation, sentAt) ?? new Flight(generation, sentAt);
    if (done !== undefined) flight.waiters.push(done);
    let value: Reply | undefined;
    let tracked = false;
    let pttl: number | null | undefined;
    const settle = (): void => {
      if (value === undefined || pttl === undefined) return;
      if (isErrorReply(value) || pttl === null) {
        this.#errors++;
        return;
      }
      // Not stored when the key changed since the read was sent (or may have,
      // unreported: the link went down), or when the read was not tracked.
      const coherent =
        tracked && link.live && link.epoch === epoch && !this.#closed && this.#generation === generation;
      if (!coherent) {
        this.#fillsDiscarded++;
        return;
      }
      this.#keep(id, value, pttl, sentAt, node, tableVersion);
    };
    link.feed.readTracked(req.cmd, (reply, isTracked) => {
      // The routing changed while the read was out (a live move of the key's
      // range): the node it went to may have handed the range over and deleted
      // it by now, so the reply is neither kept nor given. The read goes again
      // by the router's own path, which a move holds and drains at its cutover,
      // and its answer is given, not kept. Table changes are rare.
      if (this.#router.table.version !== tableVersion && !this.#closed) {
        this.#fillsDiscarded++;
        this.#coalescer?.end(id, flight);
        req.forward(req.cmd, (again) => flight.answer(again));
        return;
      }
      value = reply;
      tracked = isTracked;
      this.#coalescer?.end(id, flight);
      settle();
      flight.answer(reply);
    });
    req.forward(this.#pttl, (reply) => {
      pttl = decodedInteger(reply);
      settle();
    });
  }

  #keep(id: string, reply: Reply, pttl: number, sentAt: number, node: NodeId, tableVersion: number): void {
    const bytes = replyBytes(reply);
    if (bytes > this.#options.maxValueBytes) {
      this.#tooLarge++;
      return;
    }
    const { maxStaleMs, staleWhileRevalidate } = this.#settings;
    let life = maxStaleMs * (1 - this.#options.jitter * this.#options.random());
    // -1: no TTL; -2: no key (a nil reply, bounded by maxStaleMs alone).
    if (pttl >= 0) life = Math.min(life, pttl);
    if (life <= 0) return;
    const expiresAt = sentAt + life;
    const entry: CacheEntry = {
      owner: this,
      id,
      reply: owned(reply),
      bytes: bytes + id.length + this.name.length + ENTRY_OVERHEAD,
      node,
      tableVersion,
      freshUntil: staleWhileRevalidate ? sentAt + life / 2 : expiresAt,
      expiresAt,
    };
    const old = this.#entries.get(id);
    if (old !== undefined) this.#drop(old);
    this.#entries.set(id, entry);
    this.#bytes += entry.bytes;
    this.#store.add(entry);
  }

  #drop(entry: CacheEntry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    this.#bytes -= entry.bytes;
    this.#store.remove(entry);
  }

  invalidate(node: NodeId | null): void {
    this.#generation++;
    this.#invalidations++;
    // Most writes of a write-heavy key find nothing kept: no copy of nothing.
    if (this.#entries.size === 0) return;
    for (const entry of [...this.#entries.values()])
      if (node === null || entry.node === node) this.#drop(entry);
  }

  wrote(): void {
    this.invalidate(null);
  }

  afterReads(session: Session, go: () => void): void {
    const reading = this.#reading.get(session);
    if (reading === undefined) go();
    else reading.waiting.push(go);
  }

  evicted(entry: CacheEntry): void {
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    this.#bytes -= entry.bytes;
  }

  status(): Record<string, unknown> {
    const table = this.#router.table;
    const link = this.#store.linkIfAny(table.shards[table.indexFor(this.#key)]!.node);
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      hits: this.#hits,
      misses: this.#misses,
      reads: this.#reads,
      backendReads: this.#backendReads,
      fillsDiscarded: this.#fillsDiscarded,
      writeThroughs: this.#writeThroughs,
      errors: this.#errors,
      tooLarge: this.#tooLarge,
      refreshes: this.#refreshes,
      coalesced: this.#coalescer?.joined ?? 0,
      invalidations: this.#invalidations,
      liveFeed: link?.live ?? false,
      maxStaleMs: this.#settings.maxStaleMs,
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.invalidate(null);
    this.#store.unregister(this);
    return Promise.resolve();
  }
}

/** Bookkeeping per entry counted against maxBytes besides the reply (maps, object, strings). */
const ENTRY_OVERHEAD = 128;

/** PTTL's integer, from a Redis node's raw reply or an embedded node's number; else null (not storable). */
function decodedInteger(reply: Reply): number | null {
  if (typeof reply === 'number') return reply;
  if (reply instanceof RawReply && reply.type === 0x3a /* ':' */) {
    const n = Number(reply.bytes.toString('latin1', 1).trim());
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/**
 * What an entry keeps of a reply: its bytes in a buffer of their own, so the
 * byte bound counts what the cache holds (a node's reply shares a 64 KB read
 * buffer, a SET's value the client's read).
 */
function owned(reply: Reply): Reply {
  if (reply instanceof RawReply) return reply.owned();
  if (Buffer.isBuffer(reply)) return ownedCopy(reply);
  return reply;
}

/** Size of a reply's payload in bytes (what the byte bound counts). */
function replyBytes(reply: Reply): number {
  if (reply === null) return 0;
  if (Buffer.isBuffer(reply)) return reply.length;
  if (reply instanceof RawReply) return reply.length;
  if (typeof reply === 'string') return Buffer.byteLength(reply);
  if (Array.isArray(reply)) {
    let n = 0;
    for (const r of reply as readonly Reply[]) n += replyBytes(r) + 8;
    return n;
  }
  return 16;
}

const OK_BYTES = Buffer.from('+OK\r\n');

/** `+OK`, as an embedded node answers it or as a Redis node's bytes. */
function isOk(reply: Reply): boolean {
  if (reply instanceof SimpleString) return reply.value === 'OK';
  return reply instanceof RawReply && reply.length === OK_BYTES.length && reply.bytes.equals(OK_BYTES);
}
