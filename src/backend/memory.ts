/**
 * The embedded storage node: a Redis-compatible in-process store, so hotshard
 * runs (and demos) with nothing installed, optionally behind a capacity model
 * that makes a hot node really slow down.
 */
import type {
  BackendStatus,
  DedicatedConnection,
  DedicatedPurpose,
  CancelBlocking,
  InvalidationFeed,
  InvalidationListener,
  KeyDump,
  KeyWrite,
  KeyspaceStats,
  NodeHealth,
  ReplyCallback,
  ShardBackend,
  TrackedReplyCallback,
  WriteListener,
  WriteWatch,
} from './backend.js';
import { CapacityModel, DEFAULT_MAX_QUEUE } from './capacity.js';
import { BlockedClients, realTimers, type BlockTimers } from './memory-blocking.js';
import {
  DEFAULT_MAX_TRACKED_KEYS,
  Keyspace,
  parseBlocking,
  runCommand,
  seededRandom,
  type KeyWatcher,
  type Value,
} from './memory-commands.js';
import { MemoryDedicated, type MemoryDedicatedHost } from './memory-dedicated.js';
import { MemoryScans, SCAN_COMMANDS } from './memory-keyscan.js';
import { decodeValue, encodeValue } from './memory-dump.js';
import { MemoryInvalidationFeed, type MemoryFeedHost } from './memory-tracking.js';
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, ErrorCode, HotshardError } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';
import type { Command } from '../protocol/command.js';
import { hsError, ReplyError, type Reply } from '../protocol/reply.js';

/** Options of a {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  readonly node: NodeId;
  /** Decides expiries. Default the wall clock. */
  readonly clock?: Clock;
  /** Operations per second the node serves; null or absent for unlimited. */
  readonly capacity?: number | null;
  /** Operations that may wait when over capacity. Default 10_000. */
  readonly maxQueue?: number;
  /** Largest string value, like Redis's proto-max-bulk-len. Default 512 MiB. */
  readonly maxValueBytes?: number;
  /** Keys tracked for invalidation feeds at most, like Redis's tracking-table-max-keys. Default 1,000,000. */
  readonly maxTrackedKeys?: number;
  /** Seeds the random choices of SPOP, SRANDMEMBER, ZRANDMEMBER and HRANDFIELD. Default 1. */
  readonly seed?: number;
  /** Timers of blocking pops' timeouts. Default the real ones. */
  readonly timers?: BlockTimers;
}

/** What a dedicated connection's step is counted as (the node's commands processed). */
const OP_COMMAND: Command = { name: 'exec', args: [], frame: undefined };

/** How often active expiry runs, as Redis's default `hz 10`. */
export const ACTIVE_EXPIRE_INTERVAL_MS = 100;
const DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024;
const DEFAULT_SCAN_BATCH = 1000;

/** Passed through the capacity model: one command waiting for its turn. */
interface Pending {
  readonly cmd: Command;
  readonly done: TrackedReplyCallback;
  /** A tracked read's feed and keys; undefined for plain commands. */
  readonly feed: MemoryInvalidationFeed | undefined;
  readonly keys: string[] | undefined;
  /** A whole step of a dedicated connection (WATCH, EXEC's block) instead of `cmd`. */
  readonly op: (() => Reply) | undefined;
}

/**
 * One embedded node implementing {@link ShardBackend}, with Redis 7 semantics
 * for the data commands hotshard routes (strings, counters, hashes, lists, sets,
 * sorted sets, TTLs) and blocking pops that park on the node (`sendBlocking`).
 * Without a capacity, `send` answers synchronously.
 *
 * @example
 * const node = new MemoryBackend({ node: nodeId('mem-0'), capacity: 50_000 });
 * node.send(makeCommand('SET', 'k', 'v'), (reply) => console.log(reply));
 */
export class MemoryBackend implements ShardBackend {
  readonly kind = 'memory' as const;
  readonly node: NodeId;
  readonly #clock: Clock;
  readonly #ks: Keyspace;
  readonly #model: CapacityModel<Pending> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #status: BackendStatus = 'up';
  readonly #createdAt = Date.now();
  readonly #feeds = new Set<MemoryInvalidationFeed>();
  readonly #feedHost: MemoryFeedHost;
  readonly #watches = new Set<MemoryWriteWatch>();
  /** Why invalidation links are cut (a fault injected by a test), or null. */
  #cutReason: string | null = null;
  readonly #dedicated = new Set<MemoryDedicated>();
  readonly #dedicatedHost: MemoryDedicatedHost;
  readonly #scans = new MemoryScans();
  readonly #blocked: BlockedClients;

  constructor(options: MemoryBackendOptions) {
    const { node, clock = systemClock, capacity = null, maxQueue = DEFAULT_MAX_QUEUE } = options;
    const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!Number.isSafeInteger(maxValueBytes) || maxValueBytes < 0) {
      throw new ConfigError(`maxValueBytes must be a non-negative integer (got ${String(maxValueBytes)})`);
    }
    const maxTrackedKeys = options.maxTrackedKeys ?? DEFAULT_MAX_TRACKED_KEYS;
    if (!Number.isSafeInteger(maxTrackedKeys) || maxTrackedKeys < 1) {
      throw new ConfigError(`maxTrackedKeys must be a positive integer (got ${String(maxTrackedKeys)})`);
    }
    this.node = node;
    this.#clock = clock;
    this.#ks = new Keyspace(maxValueBytes, maxTrackedKeys);
    this.#ks.random = seededRandom(options.seed ?? 1);
    this.#blocked = new BlockedClients(this.#ks, options.timers ?? realTimers, () =>
      this.#ks.deliverChanges(),
    );
    this.#feedHost = {
      keyspace: this.#ks,
      submit: (cmd, done, feed, keys) => this.#submit(cmd, done, feed, keys),
      release: (feed) => this.#feeds.delete(feed),
    };
    this.#dedicatedHost = {
      keyspace: this.#ks,
      submit: (op, done) => this.#submit(OP_COMMAND, done, undefined, undefined, op),
      send: (cmd, done) => this.send(cmd, done),
      release: (conn) => this.#dedicated.delete(conn),
    };
    this.#model =
      capacity === null
        ? undefined
        : new CapacityModel<Pending>({
            node,
            capacity,
            maxQueue,
            clock,
            serve: (p) => this.#execute(p.cmd, p.done, p.feed, p.keys, p.op),
          });
    this.#timer = setInterval(() => {
      this.#ks.now = this.#clock.now();
      this.#ks.activeExpireCycle();
      // an expired stream unblocks its XREADGROUP readers, as Redis's active expiry does
      this.#afterWrite();
    }, ACTIVE_EXPIRE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** 'up' until closed. */
  get status(): BackendStatus {
    return this.#status;
  }

  /** Embedded nodes live in this process: up from creation until closed. */
  health(): NodeHealth {
    const status = this.#status;
    return {
      status,
      since: this.#createdAt,
      reason: status === 'up' ? null : 'closed',
      latencyMs: null,
      address: null,
    };
  }

  /** Data commands executed so far (Redis's total_commands_processed, for data commands): what reached the node. */
  commandsProcessed = 0;

  /** Operations per second this node serves, or null when unlimited. */
  get capacity(): number | null {
    return this.#model?.capacity ?? null;
  }

  /** Commands waiting for capacity now. */
  get queueDepth(): number {
    return this.#model?.queueDepth ?? 0;
  }

  /** Keys removed so far because their TTL ran out (lazily or actively), like Redis's expired_keys. */
  get expiredKeys(): number {
    return this.#ks.expiredKeys;
  }

  send(cmd: Command, done: ReplyCallback): void {
    this.#submit(cmd, done, undefined, undefined);
  }

  /**
   * A session's own WATCH / MULTI state (see memory-dedicated.ts). Embedded
   * nodes have no blocking commands: 'blocking' is refused.
   */
  openDedicated(purpose: DedicatedPurpose): Promise<DedicatedConnection> {
    if (this.#status === 'down')
      return Promise.reject(new HotshardError(ErrorCode.ShardUnavailable, `node ${this.node} is closed`));
    if (purpose === 'blocking')
      return Promise.reject(
        new HotshardError(
          ErrorCode.NotAllowed,
          `embedded node ${this.node} serves no blocking commands; use Redis nodes (backend: redis)`,
        ),
      );
    const conn = new MemoryDedicated(this.#dedicatedHost, purpose);
    this.#dedicated.add(conn);
    return Promise.resolve(conn);
  }

  /**
   * Blocking pops skip the capacity model: a parked client is no load, and
   * one queued behind a full model could not be told apart from one parked.
   */
  sendBlocking(cmd: Command, done: ReplyCallback): CancelBlocking {
    if (this.#status === 'down') {
      done(this.#unavailable());
      return () => false;
    }
    this.commandsProcessed++;
    this.#ks.now = this.#clock.now();
    const call = parseBlocking(cmd.name, cmd.args);
    if (call instanceof ReplyError) {
      done(call);
      return () => false;
    }
    const reply = call.serve(this.#ks);
    if (reply === undefined) return this.#blocked.park(call, done);
    this.#afterWrite();
    done(reply);
    return () => false;
  }

  /** Clients parked by sendBlocking now. */
  get blockedClients(): number {
    return this.#blocked.size;
  }

  /** After a change: blocked clients a push can serve are served, then changes delivered. */
  #afterWrite(): void {
    if (this.#ks.ready !== null) this.#blocked.serveReady();
    if (this.#ks.hasChanges) this.#ks.deliverChanges();
  }

  /**
   * Tracked reads go through the capacity model like any command. A change is
   * delivered after the command that made it, before that command's reply.
   */
  trackInvalidations(listener: InvalidationListener): InvalidationFeed {
    const up = this.#status === 'up';
    const state = !up ? 'closed' : this.#cutReason === null ? 'live' : 'down';
    const feed = new MemoryInvalidationFeed(this.#feedHost, listener, state);
    if (up) this.#feeds.add(feed);
    return feed;
  }

  /**
   * Fault injection for tests of what sits on a feed, as killing a Redis
   * node's subscriber connection would do: every feed reports linkDown and
   * forgets what it tracked; feeds made meanwhile start down (not live).
   */
  cutInvalidationLinks(reason = 'invalidation link cut'): void {
    this.#cutReason = reason;
    for (const feed of this.#feeds) feed.cut(reason);
  }

  /** Ends {@link cutInvalidationLinks}: every feed reports linkUp, tracking nothing until read again. */
  restoreInvalidationLinks(): void {
    this.#cutReason = null;
    for (const feed of this.#feeds) feed.restore();
  }

  barrier(): Promise<void> {
    const model = this.#model;
    if (model === undefined || this.#status === 'down') return Promise.resolve();
    return new Promise((resolve) => model.afterQueued(resolve));
  }

  /** Changes are told synchronously, as they are made: the watch is live at once and its barrier immediate. */
  watchWrites(listener: WriteListener): Promise<WriteWatch> {
    try {
      this.#ensureUp();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const watch = new MemoryWriteWatch(this.#ks, listener, (w) => this.#watches.delete(w));
    this.#watches.add(watch);
    return Promise.resolve(watch);
  }

  /** Fault injection for tests of a live move: every write watch is lost, as a dropped subscriber would be. */
  cutWriteWatches(reason = 'write watch cut'): void {
    for (const w of [...this.#watches]) w.lose(reason);
  }

  dumpKeys(keys: readonly Buffer[]): Promise<(KeyDump | null)[]> {
    return this.#settleAfterTurn(() => keys.map((key) => this.#dumpNow(key)));
  }

  restoreKeys(writes: readonly KeyWrite[]): Promise<void> {
    return this.#settleAfterTurn(() => {
      this.#ks.now = this.#clock.now();
      // All checked before any is written: a bad payload fails the batch whole.
      const values = writes.map((w) => (w.dump === null ? null : checkedValue(w.dump)));
      writes.forEach(({ key, dump }, i) => {
        const name = key.toString('latin1');
        const value = values[i];
        if (dump === null || value === null || value === undefined) {
          this.#ks.delete(name);
          return;
        }
        this.#ks.set(name, value);
        if (dump.pttl > 0) this.#ks.setExpiresAt(name, this.#ks.now + dump.pttl);
      });
    });
  }

  #dumpNow(key: Buffer): KeyDump | null {
    const name = this.#touch(key);
    const value = this.#ks.get(name);
    if (value === undefined) return null;
    const when = this.#ks.expiresAt(name);
    // a live key has at least 1 ms left: 0 would read as "no expiry" to RESTORE
    const pttl = when === undefined ? -1 : Math.max(1, when - this.#ks.now);
    return { payload: encodeValue(value), pttl };
  }

  #submit(
    cmd: Command,
    done: TrackedReplyCallback,
    feed: MemoryInvalidationFeed | undefined,
    keys: string[] | undefined,
    op?: () => Reply,
  ): void {
    if (this.#status === 'down') {
      done(this.#unavailable(), false);
      return;
    }
    if (this.#model === undefined) this.#execute(cmd, done, feed, keys, op);
    else if (!this.#model.submit({ cmd, done, feed, keys, op })) done(this.#model.overloaded, false);
  }

  async *scanKeys(accept: (key: Buffer) => boolean, batchSize = DEFAULT_SCAN_BATCH): AsyncIterable<Buffer[]> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer (got ${String(batchSize)})`);
    }
    this.#ensureUp();
    // A snapshot of the names bounds the scan like SCAN's cursor does: keys
    // present throughout are returned once, keys added meanwhile may not be.
    const names = this.#ks.keyNames();
    let batch: Buffer[] = [];
    for (let i = 0; i < names.length; i++) {
      if (i % 1024 === 1023) {
        // do not hold the event loop on a large node whose keys are mostly refused
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      this.#ensureUp();
      this.#ks.now = this.#clock.now();
      const name = names[i]!;
      const live = this.#ks.get(name) !== undefined;
      this.#ks.deliverChanges(); // the look may have expired it
      if (!live) continue;
      const key = Buffer.from(name, 'latin1');
      if (!accept(key)) continue;
      batch.push(key);
      if (batch.length === batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  dump(key: Buffer): Promise<KeyDump | null> {
    return this.#settle(() => this.#dumpNow(key));
  }

  restoreIfAbsent(key: Buffer, dump: KeyDump): Promise<boolean> {
    return this.#settle(() => {
      const { pttl } = dump;
      if (pttl !== -1 && !(Number.isSafeInteger(pttl) && pttl > 0)) {
        throw new HotshardError(
          ErrorCode.BadRequest,
          `dump pttl must be -1 or a positive integer (got ${pttl})`,
        );
      }
      const value = decodeValue(dump.payload);
      const name = this.#touch(key);
      if (this.#ks.get(name) !== undefined) return false;
      this.#ks.set(name, value);
      if (pttl > 0) this.#ks.setExpiresAt(name, this.#ks.now + pttl);
      return true;
    });
  }

  deleteKeys(keys: readonly Buffer[]): Promise<number> {
    return this.#settle(() => {
      this.#ks.now = this.#clock.now();
      let n = 0;
      for (const key of keys) if (this.#ks.delete(key.toString('latin1'))) n++;
      return n;
    });
  }

  keyCount(): Promise<number> {
    return this.#settle(() => this.#ks.size());
  }

  /** Both counts are the sizes of maps kept as keys are written; nothing is scanned. */
  keyspaceStats(): Promise<KeyspaceStats> {
    return this.#settle(() => ({ keys: this.#ks.size(), expires: this.#ks.expiresCount(), avgTtlMs: 0 }));
  }

  flushAll(): Promise<void> {
    return this.#settle(() => this.#ks.clear());
  }

  close(): Promise<void> {
    if (this.#status === 'down') return Promise.resolve();
    this.#status = 'down';
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const feed of this.#feeds) feed.shutdown(`node ${this.node} is closed`);
    for (const w of [...this.#watches]) w.lose(`node ${this.node} is closed`);
    for (const d of [...this.#dedicated]) d.close();
    this.#feeds.clear();
    const waiting = this.#model?.close() ?? [];
    this.#ks.clear();
    const reply = hsError(ErrorCode.ShuttingDown, `node ${this.node} is shutting down`);
    this.#blocked.failAll(reply);
    for (const p of waiting) p.done(reply, false);
    return Promise.resolve();
  }

  /**
   * Bulk work (a move's copy, verify and cleanup batches) runs after a turn of
   * the event loop, where a remote node's reply would come: the batches then
   * take turns with client requests. As microtasks, a move's batches ran back
   * to back and held the loop for 30-50 ms at a time (celebrity-read's p99).
   */
  #settleAfterTurn<T>(op: () => T): Promise<T> {
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#settle(op));
  }

  /** Runs a move operation on a node that is up; its result or failure as a promise. */
  #settle<T>(op: () => T): Promise<T> {
    try {
      this.#ensureUp();
      return Promise.resolve(op());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#afterWrite();
    }
  }

  #execute(
    cmd: Command,
    done: TrackedReplyCallback,
    feed: MemoryInvalidationFeed | undefined,
    keys: string[] | undefined,
    op?: () => Reply,
  ): void {
    let reply: Reply;
    let tracked = false;
    this.commandsProcessed++;
    try {
      this.#ks.now = this.#clock.now();
      if (op !== undefined) reply = op();
      else if (SCAN_COMMANDS.has(cmd.name)) reply = this.#scans.run(this.#ks, cmd.name, cmd.args);
      else reply = runCommand(this.#ks, cmd.name, cmd.args);
      // Tracked after the read, as Redis does: its own lazy expiry is not news to it.
      if (feed !== undefined) tracked = feed.served(keys!);
    } catch (err) {
      // a bug here must still answer the client, exactly once
      reply = new ReplyError(`ERR internal error in memory node ${this.node}: ${(err as Error).message}`);
    }
    // Before the reply: a write is reported before it is acknowledged.
    this.#afterWrite();
    done(reply, tracked);
  }

  #touch(key: Buffer): string {
    this.#ks.now = this.#clock.now();
    return key.toString('latin1');
  }

  #unavailable(): ReplyError {
    return hsError(ErrorCode.ShardUnavailable, `node ${this.node} is closed`);
  }

  #ensureUp(): void {
    if (this.#status === 'down') {
      throw new HotshardError(ErrorCode.ShardUnavailable, `node ${this.node} is closed`);
    }
  }
}

/** A write watch on an embedded node: the keyspace tells it of each change as it is made. */
class MemoryWriteWatch implements WriteWatch, KeyWatcher {
  #live = true;
  constructor(
    readonly ks: Keyspace,
    readonly listener: WriteListener,
    readonly released: (w: MemoryWriteWatch) => void,
  ) {
    ks.watch(this);
  }

  get live(): boolean {
    return this.#live;
  }

  written(key: string | null): void {
    this.listener.changed(key === null ? null : [Buffer.from(key, 'latin1')]);
  }

  barrier(): Promise<void> {
    return this.#live ? Promise.resolve() : Promise.reject(new Error('write watch is not live'));
  }

  /** The watch is lost (node closed, fault injected): the listener hears it once. */
  lose(reason: string): void {
    if (!this.#live) return;
    this.close();
    this.listener.lost(reason);
  }

  close(): void {
    if (!this.#live) return;
    this.#live = false;
    this.ks.unwatch(this);
    this.released(this);
  }
}

/** A dump's value for restoring, its TTL checked first. */
function checkedValue(dump: KeyDump): Value {
  const { pttl } = dump;
  if (pttl !== -1 && !(Number.isSafeInteger(pttl) && pttl > 0)) {
    throw new HotshardError(ErrorCode.BadRequest, `dump pttl must be -1 or a positive integer (got ${pttl})`);
  }
  return decodeValue(dump.payload);
}
