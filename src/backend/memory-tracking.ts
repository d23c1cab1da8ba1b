/**
 * An embedded node's invalidation feed: the Keyspace remembers the keys read
 * through the feed and queues their next change, which the node hands over
 * after the command (or expiry cycle, or flush) that made it and before that
 * command's reply. So a write on the node is reported before it is
 * acknowledged, which Redis, pushing invalidations over another connection,
 * cannot promise; readers must not rely on more than the feed's contract.
 */
import type { InvalidationFeed, InvalidationListener, TrackedReplyCallback } from './backend.js';
import type { KeyTracker, Keyspace } from './memory-commands.js';
import type { Command } from '../protocol/command.js';
import { notATrackedRead, tell, trackedReadKeys } from './tracked-reads.js';

/** What a feed needs of its node. */
export interface MemoryFeedHost {
  readonly keyspace: Keyspace;
  /** Runs `cmd` when the node's capacity allows; at that moment `feed.served(keys)` decides whether it is tracked. */
  submit(cmd: Command, done: TrackedReplyCallback, feed: MemoryInvalidationFeed, keys: string[]): void;
  /** The feed was closed by its owner. */
  release(feed: MemoryInvalidationFeed): void;
}

/** `live`: delivering; `down`: the link is cut (a fault injected by a test); `closed`: for good. */
export type FeedState = 'live' | 'down' | 'closed';

/** One subscription to an embedded node's invalidations. */
export class MemoryInvalidationFeed implements InvalidationFeed, KeyTracker {
  readonly #host: MemoryFeedHost;
  readonly #listener: InvalidationListener;
  #state: FeedState;

  /** `state`: where it starts, telling nothing (a node closed, or its links cut). */
  constructor(host: MemoryFeedHost, listener: InvalidationListener, state: FeedState) {
    this.#host = host;
    this.#listener = listener;
    this.#state = state;
    if (state === 'live') host.keyspace.addTracker(this);
  }

  get live(): boolean {
    return this.#state === 'live';
  }

  readTracked(cmd: Command, done: TrackedReplyCallback): void {
    const keys = trackedReadKeys(cmd);
    if (keys === null) return done(notATrackedRead(cmd), false);
    const names = new Array<string>(keys.length);
    for (let i = 0; i < keys.length; i++) names[i] = keys[i]!.toString('latin1');
    this.#host.submit(cmd, done, this, names);
  }

  /** Called by the node as it runs a tracked read: tracks its keys if live; true when it did. */
  served(keys: readonly string[]): boolean {
    if (this.#state !== 'live') return false;
    this.#host.keyspace.track(this, keys);
    return true;
  }

  /** From the Keyspace: keys this feed tracked changed. */
  changed(keys: string[] | null): void {
    if (this.#state !== 'live') return;
    const bufs = keys === null ? null : keys.map((k) => Buffer.from(k, 'latin1'));
    tell(() => this.#listener.invalidate(bufs));
  }

  /** The link is lost: what was tracked is forgotten, as Redis forgets a disconnected client's keys. */
  cut(reason: string): void {
    if (this.#state !== 'live') return;
    this.#state = 'down';
    this.#host.keyspace.removeTracker(this);
    tell(() => this.#listener.linkDown(reason));
  }

  /** The link is back; nothing is tracked until read again. */
  restore(): void {
    if (this.#state !== 'down') return;
    this.#state = 'live';
    this.#host.keyspace.addTracker(this);
    tell(() => this.#listener.linkUp());
  }

  /** The node closes: a live listener hears linkDown, then nothing more. */
  shutdown(reason: string): void {
    this.cut(reason);
    this.#state = 'closed';
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#host.keyspace.removeTracker(this);
    this.#host.release(this);
  }
}
