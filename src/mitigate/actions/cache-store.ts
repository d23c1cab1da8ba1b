/**
 * What the cached keys of one router share: the bound on entries and bytes,
 * and one invalidation feed per node (Redis's CLIENT TRACKING, or the embedded
 * node's equivalent) over which every fill is read, so a write that bypasses
 * the router reaches the cache as an invalidation.
 *
 * A feed that is not live (link down) flushes what came from its node and
 * keeps anything more from being stored until linkUp: a read served while the
 * link is down will never be reported changed.
 */
import type { InvalidationFeed, InvalidationListener, ShardBackend } from '../../backend/backend.js';
import type { NodeId } from '../../keyspace/ids.js';
import type { Reply } from '../../protocol/reply.js';

/** One cached reply of one key. */
export interface CacheEntry {
  readonly owner: CachedKey;
  /** Request identity within the key (see `readId`). */
  readonly id: string;
  readonly reply: Reply;
  /** Counted against the store's byte bound. */
  readonly bytes: number;
  readonly node: NodeId;
  /** Routing table version it was read under; a move makes it a miss. */
  readonly tableVersion: number;
  /** Past this (ms) a policy with stale-while-revalidate refreshes it while still serving it. */
  readonly freshUntil: number;
  /** Past this (ms) it is never served. */
  readonly expiresAt: number;
}

/** What the store needs of a key's cache stage. */
export interface CachedKey {
  /** The key as the store indexes it (latin1 of its bytes). */
  readonly name: string;
  /** The key changed, or may have (null node: any): drop entries, discard fills in flight. */
  invalidate(node: NodeId | null): void;
  /** The store evicted this entry for room. */
  evicted(entry: CacheEntry): void;
}

/** One node's invalidation link. */
class NodeLink implements InvalidationListener {
  readonly feed: InvalidationFeed;
  /** Bumped whenever the link goes down: a fill begun under an older epoch is not stored. */
  epoch = 0;
  #up = true;
  readonly #store: CacheStore;
  readonly #node: NodeId;

  constructor(store: CacheStore, backend: ShardBackend) {
    this.#store = store;
    this.#node = backend.node;
    // The listener may be called before trackInvalidations returns (an embedded node is live at once).
    this.feed = backend.trackInvalidations(this);
  }

  /** True while what is read over the feed may be stored. */
  get live(): boolean {
    return this.#up && this.feed.live;
  }

  invalidate(keys: readonly Buffer[] | null): void {
    this.#store.feedInvalidations++;
    if (keys === null) return this.#store.flushNode(this.#node);
    for (const key of keys) this.#store.keys.get(key.toString('latin1'))?.invalidate(null);
  }

  linkDown(): void {
    this.#up = false;
    this.epoch++;
    this.#store.flushNode(this.#node);
  }

  linkUp(): void {
    this.#up = true;
  }
}

/** Bounds of one router's cache. */
export interface CacheBounds {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** One router's cached keys, their entries (bounded), and the feeds they are read over. */
export class CacheStore {
  /** Cached keys by name; a feed's invalidation finds its key here. */
  readonly keys = new Map<string, CachedKey>();
  /**
   * Every entry, oldest first: eviction takes the oldest. Not LRU, on purpose:
   * a hit then costs no reordering, and no entry lives past maxStaleMs (1 s by
   * default), so the oldest is near the end of its life anyway.
   */
  readonly #entries = new Set<CacheEntry>();
  readonly #links = new Map<NodeId, NodeLink>();
  readonly #backends: ReadonlyMap<NodeId, ShardBackend>;
  readonly #bounds: CacheBounds;
  #bytes = 0;
  /** Invalidations received from the nodes' feeds. */
  feedInvalidations = 0;
  /** Entries evicted to stay within the bounds. */
  evictions = 0;

  constructor(backends: ReadonlyMap<NodeId, ShardBackend>, bounds: CacheBounds) {
    this.#backends = backends;
    this.#bounds = bounds;
  }

  /** The feed of `node`, subscribing on first use. */
  link(node: NodeId): NodeLink {
    let link = this.#links.get(node);
    if (link === undefined) {
      link = new NodeLink(this, this.#backends.get(node)!);
      this.#links.set(node, link);
    }
    return link;
  }

  /** The feed of `node` if subscribed (status looks without subscribing). */
  linkIfAny(node: NodeId): NodeLink | undefined {
    return this.#links.get(node);
  }

  /** Adds an entry, evicting the oldest while over the bounds. */
  add(entry: CacheEntry): void {
    this.#entries.add(entry);
    this.#bytes += entry.bytes;
    while (this.#entries.size > this.#bounds.maxEntries || this.#bytes > this.#bounds.maxBytes) {
      const oldest = this.#entries.values().next().value as CacheEntry;
      this.remove(oldest);
      this.evictions++;
      oldest.owner.evicted(oldest);
    }
  }

  /** Forgets an entry (its key dropped it). */
  remove(entry: CacheEntry): void {
    if (this.#entries.delete(entry)) this.#bytes -= entry.bytes;
  }

  /** Drops what came from `node` (its feed said everything changed, or its link went down); null: every node. */
  flushNode(node: NodeId | null): void {
    for (const key of [...this.keys.values()]) key.invalidate(node);
  }

  register(key: CachedKey): void {
    this.keys.set(key.name, key);
  }

  /** A key's policy ended; with no cached key left the feeds are closed (no tracking kept for nothing). */
  unregister(key: CachedKey): void {
    if (this.keys.get(key.name) === key) this.keys.delete(key.name);
    if (this.keys.size > 0) return;
    for (const link of this.#links.values()) link.feed.close();
    this.#links.clear();
  }

  /** Numbers for status: entries, bytes, evictions, and each node's feed. */
  status(): Record<string, unknown> {
    const feeds: Record<string, boolean> = {};
    for (const [node, link] of this.#links) feeds[node] = link.live;
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      maxEntries: this.#bounds.maxEntries,
      maxBytes: this.#bounds.maxBytes,
      evictions: this.evictions,
      feedInvalidations: this.feedInvalidations,
      feeds,
    };
  }
}

export type { NodeLink };
