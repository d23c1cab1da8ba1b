import type { Command } from '../protocol/command.js';
import type { Reply } from '../protocol/reply.js';
import type { NodeId } from '../keyspace/ids.js';

/** Receives the reply to one command, exactly once. */
export type ReplyCallback = (reply: Reply) => void;

/**
 * One key as a live move copies it: an opaque, backend-specific payload (the
 * output of DUMP for Redis) plus its remaining time to live.
 */
export interface KeyDump {
  readonly payload: Buffer;
  /** Milliseconds left to live, or -1 when the key has no expiry. */
  readonly pttl: number;
}

/** What INFO keyspace shows of a node's db0. */
export interface KeyspaceStats {
  /** Keys held, as DBSIZE counts them. */
  readonly keys: number;
  /** Keys with an expiry (Redis counts one past its TTL until it is reclaimed). */
  readonly expires: number;
  /** Redis's sampled estimate of the mean TTL left, in ms; 0 when not estimated (embedded nodes). */
  readonly avgTtlMs: number;
}

/**
 * Hears of changes to keys read through {@link InvalidationFeed.readTracked},
 * by anyone: this router, another router, a client of the node, expiry,
 * FLUSHALL. What a per-router cache needs to stay coherent with writes that
 * bypass the router (Redis's client-side caching, issue 13).
 */
export interface InvalidationListener {
  /** These keys may have changed; null means every key (FLUSHALL, FLUSHDB, or tracking state lost). */
  invalidate(keys: readonly Buffer[] | null): void;
  /** The link is down: nothing read through readTracked may be trusted until linkUp. */
  linkDown(reason: string): void;
  /** The link is (again) up: tracked reads may be cached again. Also told the first time a feed comes up. */
  linkUp(): void;
}

/**
 * The reply to a tracked read. `tracked` is true when every later change of
 * the keys it read will be reported: the read was served under tracking and
 * the link did not go down between the read's sending and this reply. A reply
 * with `tracked` false (link down, feed closed) is still the right answer, but
 * must not be cached.
 */
export type TrackedReplyCallback = (reply: Reply, tracked: boolean) => void;

/**
 * One subscription to a node's invalidations (see
 * {@link ShardBackend.trackInvalidations}). The promise, as Redis's own: every
 * change of a key read through `readTracked`, made after that read was served,
 * is reported to the listener, before the link is reported down at the latest.
 * A key stays tracked from a read until its next invalidation (read it again
 * to go on hearing of it), so only the keys a cache fills are tracked.
 */
export interface InvalidationFeed {
  /** True while invalidations are delivered. */
  readonly live: boolean;
  /**
   * Sends a read (GET, MGET, HGET, HMGET, HGETALL; the keys on this node) so
   * that any later change to its keys is reported to the listener. Any other
   * command is answered HS_ERR_BAD_REQUEST. Failures arrive as replies, as
   * with `send`; while the link is down the read is served untracked.
   *
   * Ordering: the read sees every write acknowledged before it was sent. It is
   * not ordered with writes sent through `send` and not yet acknowledged (on
   * a Redis node it travels on a connection of its own), so a caller that
   * must read its own writes, a client's pipelined SET then GET, sends a key's
   * read here only while no write of its own to that key is in flight.
   */
  readTracked(cmd: Command, done: TrackedReplyCallback): void;
  /** Stops the subscription: the listener hears nothing more, not even linkDown. Idempotent. */
  close(): void;
}

/**
 * Hears of every key changed on a node, by anyone: this router, another
 * client of the node, expiry, eviction (see {@link ShardBackend.watchWrites}).
 */
export interface WriteListener {
  /** These keys changed (written, deleted, expired); null: any key may have (FLUSHALL, FLUSHDB). */
  changed(keys: readonly Buffer[] | null): void;
  /** The watch is lost: later changes go unreported. Told at most once; nothing follows it. */
  lost(reason: string): void;
}

/** A live subscription to every write on a node. */
export interface WriteWatch {
  /** True until lost or closed. */
  readonly live: boolean;
  /**
   * Resolves once every change the node made before this call has been told
   * to the listener (a PING behind them on the subscriber connection); rejects
   * when the watch is lost first.
   */
  barrier(): Promise<void>;
  /** Ends the watch; the listener hears nothing more. Idempotent. */
  close(): void;
}

/** One key as a move writes it onto its new node: the dump to restore (replacing), or null to delete it. */
export interface KeyWrite {
  readonly key: Buffer;
  /** `pttl` is the time to live left now (-1 none): the caller ages it by the time since the dump. */
  readonly dump: KeyDump | null;
}

/**
 * A connection of one client's own to a node, for what cannot share the
 * pipelined data connection: WATCH (its state lives on the connection until
 * EXEC) and blocking commands (BLPOP holds its connection until it is served).
 */
export interface DedicatedConnection {
  /** What it was opened for; a blocking one never times out a silent node (BLPOP 0 waits forever). */
  readonly purpose: DedicatedPurpose;
  /** False once closed or lost: `send` then answers with an error at once. */
  readonly open: boolean;
  /** Runs one command on this connection, in order; failures arrive as replies, never as throws. */
  send(cmd: Command, done: ReplyCallback): void;
  /** Ends it; what is in flight is answered HS_ERR_SHARD_UNAVAILABLE. Idempotent. */
  close(): void;
  /**
   * Asks the node, over another connection, to end the blocking command this
   * one waits on, as CLIENT UNBLOCK does: that command is then answered as
   * Redis answers it (its timeout reply, or the UNBLOCKED error), and `done`
   * gets the node's 1, or 0 when nothing was blocked on this connection at
   * that moment. Absent when the node did not tell this connection's client id.
   */
  unblock?(how: UnblockHow, done: ReplyCallback): void;
}

/** CLIENT UNBLOCK's reason: answer the blocked command as if it timed out, or with the UNBLOCKED error. */
export type UnblockHow = 'timeout' | 'error';

/** Why a dedicated connection is opened. */
export type DedicatedPurpose = 'watch' | 'blocking';

/** Whether a node currently takes requests. */
export type BackendStatus = 'up' | 'down';

/** What an operator wants to know about a node now (GET /nodes). */
export interface NodeHealth {
  readonly status: BackendStatus;
  /** When the status last changed (or the backend was created), ms since the epoch. */
  readonly since: number;
  /** Why the node is down (the last failure); null while up. */
  readonly reason: string | null;
  /** Round trip of the latest health check in ms; null without one (embedded nodes, nodes down). */
  readonly latencyMs: number | null;
  /** `host:port` of a Redis node; null for an embedded one. */
  readonly address: string | null;
}

/**
 * Ends a parked blocking command. Without `answer` its callback is not called
 * after this (the client went away); with one it is answered as CLIENT UNBLOCK
 * makes Redis answer it. True when it was still parked; idempotent.
 */
export type CancelBlocking = (answer?: UnblockHow) => boolean;

/**
 * One storage node: a redis-server, or an embedded in-memory store. Keys of
 * several shards may live on one node, as they do on a Redis node; the router
 * decides which node a key belongs to.
 *
 * Every implementation runs the conformance suite in test/backend/backend.case.ts.
 */
export interface ShardBackend {
  readonly node: NodeId;
  readonly kind: 'memory' | 'redis';
  readonly status: BackendStatus;
  /** Status with its reason, since when, and latency. */
  health(): NodeHealth;

  /**
   * Runs one data command (GET, SET, MGET over keys of this node, ...). The
   * callback is called exactly once, possibly before `send` returns; failures
   * arrive as a ReplyError, never as a throw, and never as silence: a node that
   * is down or stalled answers with HS_ERR_SHARD_UNAVAILABLE / HS_ERR_BACKEND_TIMEOUT.
   */
  send(cmd: Command, done: ReplyCallback): void;

  /**
   * Runs a blocking pop (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
   * BZPOPMAX, BZMPOP) with Redis's semantics: answered at once when one of
   * its keys can serve it, else parked until a push serves it (waiters on a
   * key are served in the order they came) or its timeout runs out (the reply
   * Redis times out with; timeout 0 waits for ever). A parked command holds
   * up no other command. `done` is called exactly once unless cancelled
   * first. Absent on a backend that cannot block (the router refuses then).
   */
  sendBlocking?(cmd: Command, done: ReplyCallback): CancelBlocking;

  // What live moves need.

  /** Yields, in batches, the keys of this node for which `accept` is true. */
  scanKeys(accept: (key: Buffer) => boolean, batchSize?: number): AsyncIterable<Buffer[]>;
  /** Reads a key with its TTL, or null when it does not exist. */
  dump(key: Buffer): Promise<KeyDump | null>;
  /** Writes a key only if it is absent; true when written. */
  restoreIfAbsent(key: Buffer, dump: KeyDump): Promise<boolean>;
  /** Deletes keys; returns how many existed. */
  deleteKeys(keys: readonly Buffer[]): Promise<number>;
  /** Number of keys on the node. */
  keyCount(): Promise<number>;
  /**
   * Resolves once every command sent through `send` before the call has run
   * and its reply was delivered (a PING behind them on the data connection;
   * the capacity queue's tail on an embedded node). Never rejects: a node
   * that is down has nothing in flight.
   */
  barrier(): Promise<void>;
  /**
   * Starts telling `listener` of every key changed on the node (Redis:
   * `CLIENT TRACKING on BCAST` redirected to a subscriber of its own).
   * Resolves once live: every change made after that is told. Rejects when
   * the node cannot be watched.
   */
  watchWrites(listener: WriteListener): Promise<WriteWatch>;
  /**
   * Reads keys with their TTLs (null: absent), in one pipelined batch on a
   * connection of their own, so a large value does not hold up client traffic.
   */
  dumpKeys(keys: readonly Buffer[]): Promise<(KeyDump | null)[]>;
  /**
   * Writes keys as given (RESTORE ... REPLACE, or DEL for a null dump), in
   * order, in one pipelined batch on the same side connection as `dumpKeys`.
   */
  restoreKeys(writes: readonly KeyWrite[]): Promise<void>;
  /** Keys and keys with an expiry, for INFO keyspace; O(1) on embedded nodes. */
  keyspaceStats(): Promise<KeyspaceStats>;
  /** Removes every key on the node. */
  flushAll(): Promise<void>;

  /**
   * Subscribes to invalidations of keys read through the returned feed's
   * `readTracked`. The feed starts as its `live` says (an embedded node's at
   * once, a Redis node's once tracking is set up, then `linkUp`). Closing the
   * backend tells every live feed's listener linkDown.
   *
   * @example
   * const feed = backend.trackInvalidations({
   *   invalidate: (keys) => (keys === null ? cache.clear() : keys.forEach((k) => cache.delete(k))),
   *   linkDown: () => cache.clear(),
   *   linkUp: () => undefined,
   * });
   * feed.readTracked(makeCommand('GET', 'k'), (reply, tracked) => tracked && cache.set('k', reply));
   */
  trackInvalidations(listener: InvalidationListener): InvalidationFeed;

  /**
   * Opens a connection of the caller's own (see {@link DedicatedConnection});
   * the caller bounds how many it keeps. Rejects with a HotshardError when
   * the node is down, or HS_ERR_NOT_ALLOWED when the node cannot serve that
   * purpose (an embedded node has no blocking commands). Optional: a backend
   * without it serves no WATCH, embedded transaction or blocking command.
   */
  openDedicated?(purpose: DedicatedPurpose): Promise<DedicatedConnection>;

  /** Fails what is in flight with HS_ERR_SHUTTING_DOWN and releases connections and timers. */
  close(): Promise<void>;
}
