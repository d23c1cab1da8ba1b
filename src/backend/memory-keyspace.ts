/**
 * The keyspace of one embedded node: values, expiries, tracking and write
 * watching, and the keys made ready for blocked clients. The commands that
 * run on it are memory-commands.ts and the per-type files beside it.
 */
import type { Deque } from './memory-deque.js';
import type { SortedSet } from './memory-sorted-set.js';
import type { Stream } from './memory-stream.js';

/**
 * A stored value: a string, a hash of field (latin1-decoded bytes) to value,
 * a list, a set of members (latin1-decoded bytes), a sorted set or a stream.
 */
export type Value = Buffer | Map<string, Buffer> | Deque | Set<string> | SortedSet | Stream;

/** Told of changes to the keys it tracks (see {@link Keyspace.track}). */
export interface KeyWatcher {
  /** `key` changed (null: every key, the keyspace was cleared); told synchronously, inside the change. */
  written(key: string | null): void;
}

/** Told of each change of the keys it tracks (an invalidation feed). */
export interface KeyTracker {
  /** Tracked keys that changed, each once, or null for every key (the keyspace was cleared). */
  changed(keys: string[] | null): void;
}

/** Redis's default tracking-table-max-keys: past it the oldest tracked key is reported changed and forgotten. */
export const DEFAULT_MAX_TRACKED_KEYS = 1_000_000;

/**
 * Keys and expiries of one node. Keys are the key bytes decoded as latin1,
 * which maps every byte sequence to a distinct string.
 *
 * Like Redis, expiries live in their own map beside the data (db->expires), a
 * key is expired once `now > expiresAt`, and expired keys go lazily on access
 * or actively through {@link Keyspace.activeExpireCycle}.
 *
 * Like Redis's client-side caching (tracking.c), a key read for a tracker is
 * remembered until its next change, which is queued for that tracker and
 * handed over by {@link Keyspace.deliverChanges}. Every change passes through
 * set, setExpiresAt, persist, #remove, clear or (a hash changed in place)
 * modified; each checks only the size of the tracking table, empty unless a
 * cache tracks keys, so the write path pays one comparison for it.
 */
export class Keyspace {
  readonly #data = new Map<string, Value>();
  readonly #expires = new Map<string, number>();
  #cursor: IterableIterator<[string, number]> | undefined;
  #expired = 0;
  /** Per tracked key, the trackers that read it since its last change. */
  readonly #tracked = new Map<string, KeyTracker[]>();
  readonly #trackers = new Set<KeyTracker>();
  /** Told of every change (a live move's dirty tracking); null while none, so writes pay one comparison. */
  #watchers: Set<KeyWatcher> | null = null;
  /** Changes not delivered yet, per tracker (null: everything). */
  #changes: Map<KeyTracker, string[] | null> | null = null;
  /** The time a whole command sees, like Redis's commandTimeSnapshot(); set before each command. */
  now = 0;
  /**
   * Lists and sorted sets pushed to since the node last looked, as Redis's
   * signalKeyAsReady: the node then serves clients blocked on them. Null while
   * none, so a push pays one comparison when nobody blocks.
   */
  ready: Set<string> | null = null;
  /** Where SPOP, SRANDMEMBER and friends draw from: [0, 1), seeded by the node so tests are exact. */
  random: () => number = seededRandom(1);
  /** Keys some client is blocked on (maintained by the node); pushes to others signal nothing. */
  readonly blockedOn = new Set<string>();

  constructor(
    readonly maxValueBytes: number,
    readonly maxTrackedKeys = DEFAULT_MAX_TRACKED_KEYS,
  ) {}

  /** How many keys have been removed because their time to live ran out. */
  get expiredKeys(): number {
    return this.#expired;
  }

  /** The live value of a key, removing it first when it has expired. */
  get(key: string): Value | undefined {
    if (this.#expires.size !== 0) {
      const when = this.#expires.get(key);
      if (when !== undefined && this.now > when) {
        this.#remove(key);
        this.#expired++;
        return undefined;
      }
    }
    return this.#data.get(key);
  }

  /** Stores a value; drops the key's expiry unless `keepTtl`. */
  set(key: string, value: Value, keepTtl = false): void {
    this.#data.set(key, value);
    if (!keepTtl) this.#expires.delete(key);
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
    if (this.blockedOn.size !== 0) this.signalReady(key);
  }

  /** Says that the value of `key` was changed in place (a field or element written or removed). */
  modified(key: string): void {
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
    if (this.blockedOn.size !== 0) this.signalReady(key);
  }

  /** Says that a list or sorted set at `key` may now serve a blocked client. */
  signalReady(key: string): void {
    if (this.blockedOn.has(key)) (this.ready ??= new Set()).add(key);
  }

  /** Deletes a live key; false when there was none. */
  delete(key: string): boolean {
    if (this.get(key) === undefined) return false;
    this.#remove(key);
    return true;
  }

  /** Absolute expiry (ms since epoch) of a key, or undefined when it has none. */
  expiresAt(key: string): number | undefined {
    return this.#expires.get(key);
  }

  /** Sets the absolute expiry of an existing key. */
  setExpiresAt(key: string, when: number): void {
    this.#expires.set(key, when);
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
  }

  /** Removes a key's expiry; true when it had one. */
  persist(key: string): boolean {
    if (!this.#expires.delete(key)) return false;
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
    return true;
  }

  /**
   * Keys held, in O(1): like Redis's DBSIZE (the size of its key dict), a key
   * past its TTL counts until a lookup or active expiry reclaims it.
   */
  size(): number {
    return this.#data.size;
  }

  /**
   * Keys with an expiry, in O(1), counted as Redis's INFO keyspace `expires`
   * (the size of db->expires): every write goes through set / setExpiresAt /
   * persist / #remove / clear, which keep `#expires` in step with the keys.
   */
  expiresCount(): number {
    return this.#expires.size;
  }

  /** A snapshot of the stored key names (may include keys that expire meanwhile). */
  keyNames(): string[] {
    return Array.from(this.#data.keys());
  }

  /** Removes every key. */
  clear(): void {
    this.#data.clear();
    this.#expires.clear();
    this.#cursor = undefined;
    for (const key of this.blockedOn) this.signalReady(key);
    if (this.#watchers !== null) for (const w of this.#watchers) w.written(null);
    if (this.#trackers.size === 0) return;
    // As Redis: a flush tells every tracking client, whatever it read.
    this.#tracked.clear();
    const changes = (this.#changes ??= new Map<KeyTracker, string[] | null>());
    for (const tracker of this.#trackers) changes.set(tracker, null);
  }

  /** Tells `watcher` of every change from now on, until {@link unwatch}. */
  watch(watcher: KeyWatcher): void {
    (this.#watchers ??= new Set()).add(watcher);
  }

  /** Stops telling `watcher`. */
  unwatch(watcher: KeyWatcher): void {
    if (this.#watchers?.delete(watcher) === true && this.#watchers.size === 0) this.#watchers = null;
  }

  /** Starts queueing changes for `tracker` (of the keys it then tracks, and flushes). */
  addTracker(tracker: KeyTracker): void {
    this.#trackers.add(tracker);
  }

  /** Forgets `tracker`: its keys and its undelivered changes. O(tracked keys). */
  removeTracker(tracker: KeyTracker): void {
    if (!this.#trackers.delete(tracker)) return;
    for (const [key, who] of this.#tracked) {
      const at = who.indexOf(tracker);
      if (at === -1) continue;
      if (who.length === 1) this.#tracked.delete(key);
      else who.splice(at, 1);
    }
    this.#changes?.delete(tracker);
    if (this.#changes?.size === 0) this.#changes = null;
  }

  /** Remembers that `tracker` read `keys`: their next change is queued for it. */
  track(tracker: KeyTracker, keys: readonly string[]): void {
    if (!this.#trackers.has(tracker)) return;
    for (const key of keys) {
      const who = this.#tracked.get(key);
      if (who === undefined) this.#tracked.set(key, [tracker]);
      else if (!who.includes(tracker)) who.push(tracker);
    }
    // Bounded as Redis bounds its tracking table: the oldest key is reported
    // changed (its reader must forget it) rather than kept for ever.
    while (this.#tracked.size > this.maxTrackedKeys) {
      this.#changed(this.#tracked.keys().next().value!);
    }
  }

  /** Whether changes wait for {@link deliverChanges}. */
  get hasChanges(): boolean {
    return this.#changes !== null;
  }

  /** Hands each tracker the changes queued for it since the last call. */
  deliverChanges(): void {
    const changes = this.#changes;
    if (changes === null) return;
    this.#changes = null;
    for (const [tracker, keys] of changes) tracker.changed(keys);
  }

  /** Queues a change of `key` for whoever tracks it, who then no longer does. */
  #changed(key: string): void {
    if (this.#watchers !== null) for (const w of this.#watchers) w.written(key);
    const who = this.#tracked.get(key);
    if (who === undefined) return;
    this.#tracked.delete(key);
    const changes = (this.#changes ??= new Map<KeyTracker, string[] | null>());
    for (const tracker of who) {
      if (!changes.has(tracker)) changes.set(tracker, [key]);
      else changes.get(tracker)?.push(key); // undefined-safe: null means "everything" already
    }
  }

  /**
   * One pass of active expiry, after Redis's activeExpireCycle: look at keys
   * with a TTL 20 at a time, continuing from where the last pass stopped, and
   * keep going while more than a quarter of a round had expired. Work is
   * bounded by a key budget rather than a time budget so tests are exact.
   * Returns how many keys were removed.
   */
  activeExpireCycle(budget = 10_000): number {
    let removed = 0;
    let examined = 0;
    const limit = Math.min(budget, this.#expires.size);
    while (examined < limit) {
      let roundExpired = 0;
      let round = 0;
      for (; round < 20 && examined < limit; round++, examined++) {
        let next = this.#cursor?.next();
        if (next === undefined || next.done === true) {
          this.#cursor = this.#expires.entries();
          next = this.#cursor.next();
          if (next.done === true) break;
        }
        const [key, when] = next.value;
        if (this.now > when) {
          this.#remove(key);
          roundExpired++;
        }
      }
      removed += roundExpired;
      if (roundExpired * 4 <= round) break;
    }
    this.#expired += removed;
    return removed;
  }

  #remove(key: string): void {
    this.#data.delete(key);
    this.#expires.delete(key);
    if (this.#tracked.size !== 0 || this.#watchers !== null) this.#changed(key);
    // signalDeletedKeyAsReady: an XREADGROUP blocked on a stream that goes is unblocked
    if (this.blockedOn.size !== 0) this.signalReady(key);
  }
}

/** mulberry32: a small, fast generator whose sequence a seed fixes. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
