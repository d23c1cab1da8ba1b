/**
 * SpaceSaving top-K (Metwally, Agrawal & El Abbadi 2005), weighted, on typed
 * arrays: m counters in a min-heap, an open-addressing table from key to
 * counter, and the keys' bytes copied into one slab. A measured hot path (two
 * of these run per sampled request), hence one file over 300 lines.
 *
 * Guarantees, for the weighted stream seen (or merged) so far, total weight N,
 * true weight f(x), and `base` = the smallest count when all m counters are in
 * use, else 0:
 * - a monitored key has lower(x) ≤ f(x) ≤ count(x), and count(x) − f(x) ≤ base;
 * - an unmonitored key has f(x) ≤ base;
 * - the counts sum to at most N, so base ≤ N / m: every key with f(x) > N / m
 *   is monitored, and every count overestimates by at most N / m.
 *
 * Merge (`mergeSummaries`) follows the mergeable-summaries construction of
 * Agarwal et al. 2012 (Misra–Gries merge; SpaceSaving with m counters is
 * Misra–Gries with m − 1 plus the minimum): a key absent from a summary is
 * charged that summary's base; the union is ranked by the sum and the top m
 * kept. A dropped key's sum is ≤ the m-th kept one, which becomes the new base,
 * and the kept counts still sum to ≤ N, so every guarantee above holds for the
 * merged summary with N = ΣN_j — whatever the number or order of merges.
 *
 * With a Count-Min bound offered alongside (see `add`), cold keys are not
 * admitted when they cannot beat the minimum; the guarantees are unchanged.
 *
 * Keys longer than `maxKeyBytes` are stored truncated; two such keys are the
 * same key when their length, hash and stored prefix agree (a false match needs
 * a 32-bit hash collision between two long keys sharing a prefix).
 */
import { ConfigError } from '../../errors.js';

/** Shape of a SpaceSaving summary. */
export interface SpaceSavingOptions {
  /** Counters (m, default 1024): every key above N/m of the weight is kept. */
  readonly capacity?: number;
  /** Key bytes stored per counter (default 128); longer keys are truncated. */
  readonly maxKeyBytes?: number;
}

/** One monitored key, as read out of a summary. */
export interface SummaryEntry {
  /** The key bytes (a copy; truncated to maxKeyBytes). */
  readonly key: Buffer;
  /** The sketch hash (key-hash.ts) of the full key. */
  readonly hash: number;
  /** Length of the full key. */
  readonly length: number;
  /** Upper bound of the key's weight. */
  count: number;
  /** Lower bound of the key's weight. */
  lower: number;
}

/** A SpaceSaving summary in plain form: what is encoded, merged and reported. */
export interface Summary {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  /** Total weight N. */
  total: number;
  entries: SummaryEntry[];
}

/** The bound on an unmonitored key's weight: the smallest count when full, else 0. */
export function summaryBase(s: Summary): number {
  if (s.entries.length < s.capacity) return 0;
  let min = Infinity;
  for (const e of s.entries) if (e.count < min) min = e.count;
  return min;
}

/** A key's identity across summaries: hash, full length and stored bytes. */
export function entryIdentity(e: { key: Buffer; hash: number; length: number }): string {
  return `${e.hash}:${e.length}:${e.key.toString('latin1')}`;
}

/** Keys have the same identity (see `entryIdentity`). */
function sameEntry(a: IdentityOf, b: IdentityOf): boolean {
  return a.hash === b.hash && a.length === b.length && a.key.equals(b.key);
}

type IdentityOf = { readonly key: Buffer; readonly hash: number; readonly length: number };

/**
 * Entries by key identity (read side). Keyed by the 32-bit hash, with a
 * string-keyed fallback for the rare entries whose hash collides with another
 * key's: building an identity string per entry dominated every detector
 * tick's merge (≈ 2 k strings for two full summaries).
 */
export class EntryIndex<T extends IdentityOf> {
  readonly #byHash = new Map<number, T>();
  #collided: Map<string, T> | undefined;

  /** The entry with the same identity as `e`, if any. */
  get(e: IdentityOf): T | undefined {
    const hit = this.#byHash.get(e.hash);
    if (hit === undefined || sameEntry(hit, e)) return hit;
    return this.#collided?.get(entryIdentity(e));
  }

  /** Adds `e` (whose identity must not be present yet). */
  add(e: T): void {
    const hit = this.#byHash.get(e.hash);
    if (hit === undefined) this.#byHash.set(e.hash, e);
    else (this.#collided ??= new Map()).set(entryIdentity(e), e);
  }

  /** Every entry, in insertion order per tier. */
  *values(): IterableIterator<T> {
    yield* this.#byHash.values();
    if (this.#collided !== undefined) yield* this.#collided.values();
  }
}

/**
 * The heaviest `top` entries of a summary, as a summary of `top` counters: its
 * base becomes the smallest kept count, which bounds every dropped key too,
 * so every guarantee holds (with looser bounds near the cut).
 */
export function truncateSummary(s: Summary, top: number): Summary {
  if (s.entries.length <= top) return s;
  const ids = heaviest(
    Float64Array.from(s.entries, (e) => e.count),
    s.entries.length,
    top,
  );
  const entries = Array.from(ids, (i) => s.entries[i]!);
  return { capacity: top, maxKeyBytes: s.maxKeyBytes, total: s.total, entries };
}

/**
 * Indexes of the `top` largest of `counts[0, n)` (top < n), in index order:
 * the cut by a native numeric sort of a copy (a comparator sort of entries
 * cost a detector tick ≈ 1 ms a second), then every count above it and as
 * many at it as fit.
 */
function heaviest(counts: Float64Array, n: number, top: number): Int32Array {
  const cut = counts.slice(0, n).sort()[n - top]!;
  const ids = new Int32Array(top);
  let k = 0;
  for (let e = 0; e < n; e++) if (counts[e]! > cut) ids[k++] = e;
  for (let e = 0; e < n && k < top; e++) if (counts[e] === cut) ids[k++] = e;
  return ids;
}

/**
 * A summary with every count (bounds and total) multiplied by `weight`: the
 * part of a second a sliding window still covers. The bounds stay bounds of
 * the weighted counts.
 */
export function scaleSummary(s: Summary, weight: number): Summary {
  // A plain loop: this runs every detector tick (see rankKeys on closures).
  const entries: SummaryEntry[] = [];
  for (const e of s.entries) {
    entries.push({
      key: e.key,
      hash: e.hash,
      length: e.length,
      count: e.count * weight,
      lower: e.lower * weight,
    });
  }
  return { capacity: s.capacity, maxKeyBytes: s.maxKeyBytes, total: s.total * weight, entries };
}

/** Heaviest first: a comparator defined once, not made per call (see rankKeys). */
export function byCountDesc(a: SummaryEntry, b: SummaryEntry): number {
  return b.count - a.count;
}

/**
 * Merges summaries with the same key size (see the header for the guarantee);
 * the result has as many counters as the smallest part.
 *
 * @example
 * const union = mergeSummaries([a.summary(), b.summary()]);
 */
export function mergeSummaries(parts: readonly Summary[]): Summary {
  const first = parts[0];
  if (first === undefined) throw new ConfigError('space-saving merge: no summaries');
  const { maxKeyBytes } = first;
  // Parts may have different numbers of counters (a truncated read-out, see
  // `summary(top)`); the union keeps as many as the smallest part has.
  let capacity = first.capacity;
  const bases: number[] = [];
  let total = 0;
  let baseSum = 0;
  for (const p of parts) {
    if (p.maxKeyBytes !== maxKeyBytes)
      throw new ConfigError(`space-saving merge: keys of ${p.maxKeyBytes} bytes do not match ${maxKeyBytes}`);
    capacity = Math.min(capacity, p.capacity);
    const b = summaryBase(p);
    bases.push(b);
    baseSum += b;
    total += p.total;
  }
  // Each key starts at Σ bases; a summary that has it swaps its base for its count.
  // Plain loops and a module-level comparator: a detector tick merges every
  // time, and a closure made here would be compiled anew each tick (rankKeys).
  const union = new EntryIndex<SummaryEntry>();
  for (let j = 0; j < parts.length; j++) {
    const base = bases[j]!;
    for (const e of parts[j]!.entries) {
      let u = union.get(e);
      if (u === undefined) {
        u = { key: e.key, hash: e.hash, length: e.length, count: baseSum, lower: 0 };
        union.add(u);
      }
      u.count += e.count - base;
      u.lower += e.lower;
    }
  }
  let entries = [...union.values()];
  if (entries.length > capacity) {
    entries.sort(byCountDesc);
    entries = entries.slice(0, capacity);
  }
  return { capacity, maxKeyBytes, total, entries };
}

/**
 * A live SpaceSaving summary. `add` is allocation-free.
 *
 * @example
 * const ss = new SpaceSaving({ capacity: 256 });
 * ss.add(key, keyHash(key), 1);
 * ss.summary().entries // the monitored keys with their bounds
 */
export class SpaceSaving {
  readonly capacity: number;
  readonly maxKeyBytes: number;
  /** Total weight N. */
  total = 0;
  #size = 0;
  readonly #counts: Float64Array;
  readonly #lowers: Float64Array;
  readonly #hashes: Int32Array;
  readonly #lengths: Int32Array;
  readonly #keys: Uint8Array;
  /** Min-heap of entry ids by count, and each entry's heap position. */
  readonly #heap: Int32Array;
  readonly #pos: Int32Array;
  /** Open addressing, linear probing: entry id + 1, 0 = empty. */
  readonly #table: Int32Array;
  readonly #tableShift: number;
  readonly #tableMask: number;

  constructor(options: SpaceSavingOptions = {}) {
    const m = options.capacity ?? 1024;
    const kb = options.maxKeyBytes ?? 128;
    if (!Number.isInteger(m) || m < 1 || m > 1 << 20)
      throw new ConfigError(`sketch.capacity must be an integer in 1..2^20, got ${m}`);
    if (!Number.isInteger(kb) || kb < 1 || kb > 65535)
      throw new ConfigError(`sketch.maxKeyBytes must be an integer in 1..65535, got ${kb}`);
    this.capacity = m;
    this.maxKeyBytes = kb;
    this.#counts = new Float64Array(m);
    this.#lowers = new Float64Array(m);
    this.#hashes = new Int32Array(m);
    this.#lengths = new Int32Array(m);
    this.#keys = new Uint8Array(m * kb);
    this.#heap = new Int32Array(m);
    this.#pos = new Int32Array(m);
    // Load factor ≤ 1/4 keeps probe runs short.
    const bits = Math.max(4, Math.ceil(Math.log2(m * 4)));
    this.#table = new Int32Array(1 << bits);
    this.#tableShift = 32 - bits;
    this.#tableMask = (1 << bits) - 1;
  }

  /** Monitored keys. */
  get size(): number {
    return this.#size;
  }

  /**
   * The largest lower bound of any monitored key (0 when empty): weight the
   * key is guaranteed to have, without what it inherited from the counter it
   * took over. One pass, allocation-free.
   */
  get peakLower(): number {
    let max = 0;
    const lowers = this.#lowers;
    for (let e = 0; e < this.#size; e++) if (lowers[e]! > max) max = lowers[e]!;
    return max;
  }

  /** Bound on any unmonitored key's weight: the smallest count when full, else 0. */
  get base(): number {
    return this.#size < this.capacity ? 0 : this.#counts[this.#heap[0]!]!;
  }

  /**
   * Adds weight `w` to `key`, whose sketch hash is `h`. Allocation-free.
   *
   * `bound`, when given, must be an upper bound of the key's weight including
   * this update (a Count-Min estimate of the same stream). An unmonitored key
   * whose bound does not exceed `base` is then not admitted — every guarantee
   * still holds, since its weight is ≤ base — and an admitted key starts at
   * min(base + w, bound). This spares the evictions the long tail of cold keys
   * would otherwise cause on every request.
   */
  add(key: Uint8Array, h: number, w: number, bound = Infinity): void {
    this.total += w;
    let e = this.#find(key, h);
    if (e >= 0) {
      this.#counts[e]! += w;
      this.#lowers[e]! += w;
      this.#siftDown(this.#pos[e]!);
      return;
    }
    if (this.#size < this.capacity) {
      e = this.#size++;
      this.#store(e, key, h);
      this.#counts[e] = w;
      this.#lowers[e] = w;
      this.#heap[e] = e;
      this.#pos[e] = e;
      this.#siftUp(e);
      return;
    }
    // Evict the minimum: the newcomer may have had up to that much before.
    e = this.#heap[0]!;
    const base = this.#counts[e]!;
    if (bound <= base) return;
    this.#unlink(e);
    this.#store(e, key, h);
    this.#counts[e] = base + w < bound ? base + w : bound;
    this.#lowers[e] = w;
    this.#siftDown(0);
  }

  /** Upper bound of a key's weight: its count when monitored, else `base`. */
  upperBound(key: Uint8Array, h: number): number {
    const e = this.#find(key, h);
    return e >= 0 ? this.#counts[e]! : this.base;
  }

  /** Lower bound of a key's weight (0 when unmonitored). */
  lowerBound(key: Uint8Array, h: number): number {
    const e = this.#find(key, h);
    return e >= 0 ? this.#lowers[e]! : 0;
  }

  /** A copy of the summary (read side; allocates). */
  summary(top = Infinity): Summary {
    const entries: SummaryEntry[] = [];
    const kb = this.maxKeyBytes;
    // With `top`, only the heaviest `top` entries, as truncateSummary would
    // keep them, without reading out the rest (a detector tick reads the
    // current second this way).
    const size = this.#size;
    let ids: Int32Array;
    let capacity = this.capacity;
    if (top < size) {
      ids = heaviest(this.#counts, size, top);
      capacity = top;
    } else {
      ids = new Int32Array(size);
      for (let e = 0; e < size; e++) ids[e] = e;
    }
    // The keys packed into one buffer the entries view: a buffer per key was
    // half the cost of a detector tick.
    let bytes = 0;
    for (let i = 0; i < ids.length; i++) bytes += Math.min(this.#lengths[ids[i]!]!, kb);
    const packed = Buffer.allocUnsafeSlow(bytes);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const e = ids[i]!;
      const len = this.#lengths[e]!;
      const stored = Math.min(len, kb);
      packed.set(this.#keys.subarray(e * kb, e * kb + stored), at);
      at += stored;
      entries.push({
        key: packed.subarray(at - stored, at),
        hash: this.#hashes[e]! >>> 0,
        length: len,
        count: this.#counts[e]!,
        lower: this.#lowers[e]!,
      });
    }
    return { capacity, maxKeyBytes: kb, total: this.total, entries };
  }

  /** Replaces the state with a summary of the same shape (e.g. a merge result). */
  load(s: Summary): void {
    if (s.capacity !== this.capacity || s.maxKeyBytes !== this.maxKeyBytes)
      throw new ConfigError(
        `space-saving load: shape ${s.capacity}/${s.maxKeyBytes} does not match ${this.capacity}/${this.maxKeyBytes}`,
      );
    if (s.entries.length > this.capacity)
      throw new ConfigError(`space-saving load: ${s.entries.length} entries exceed ${this.capacity}`);
    this.reset();
    this.total = s.total;
    for (const en of s.entries) {
      const e = this.#size++;
      this.#storeRaw(e, en.key, en.hash, en.length);
      this.#counts[e] = en.count;
      this.#lowers[e] = en.lower;
      this.#heap[e] = e;
      this.#pos[e] = e;
    }
    for (let i = (this.#size >>> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /** Merges other summaries into this one (see `mergeSummaries`). */
  merge(...others: Summary[]): void {
    this.load(mergeSummaries([this.summary(), ...others]));
  }

  /** Forgets everything. */
  reset(): void {
    this.#table.fill(0);
    this.#size = 0;
    this.total = 0;
  }

  #find(key: Uint8Array, h: number): number {
    const len = key.length;
    const stored = len < this.maxKeyBytes ? len : this.maxKeyBytes;
    const hs = h | 0;
    const kb = this.maxKeyBytes;
    const keys = this.#keys;
    let i = (h >>> this.#tableShift) & this.#tableMask;
    for (;;) {
      const slot = this.#table[i]!;
      if (slot === 0) return -1;
      const e = slot - 1;
      if (this.#hashes[e] === hs && this.#lengths[e] === len) {
        const off = e * kb;
        let j = 0;
        while (j < stored && keys[off + j] === key[j]) j++;
        if (j === stored) return e;
      }
      i = (i + 1) & this.#tableMask;
    }
  }

  #store(e: number, key: Uint8Array, h: number): void {
    const len = key.length;
    const stored = len < this.maxKeyBytes ? len : this.maxKeyBytes;
    const off = e * this.maxKeyBytes;
    const keys = this.#keys;
    for (let j = 0; j < stored; j++) keys[off + j] = key[j]!;
    this.#hashes[e] = h | 0;
    this.#lengths[e] = len;
    this.#link(e, h);
  }

  #storeRaw(e: number, stored: Uint8Array, h: number, length: number): void {
    const n = Math.min(stored.length, this.maxKeyBytes);
    const off = e * this.maxKeyBytes;
    for (let j = 0; j < n; j++) this.#keys[off + j] = stored[j]!;
    this.#hashes[e] = h | 0;
    this.#lengths[e] = length;
    this.#link(e, h);
  }

  #link(e: number, h: number): void {
    let i = (h >>> this.#tableShift) & this.#tableMask;
    while (this.#table[i] !== 0) i = (i + 1) & this.#tableMask;
    this.#table[i] = e + 1;
  }

  // Backward-shift deletion keeps linear probing free of tombstones.
  #unlink(e: number): void {
    const mask = this.#tableMask;
    const t = this.#table;
    let i = (this.#hashes[e]! >>> this.#tableShift) & mask;
    while (t[i] !== e + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const slot = t[j]!;
      if (slot === 0) break;
      const ideal = (this.#hashes[slot - 1]! >>> this.#tableShift) & mask;
      // Move the entry at j back to the hole at i unless its ideal slot lies in (i, j].
      const stays = i <= j ? ideal > i && ideal <= j : ideal > i || ideal <= j;
      if (!stays) {
        t[i] = slot;
        i = j;
      }
    }
    t[i] = 0;
  }

  #siftDown(i: number): void {
    const heap = this.#heap;
    const pos = this.#pos;
    const counts = this.#counts;
    const n = this.#size;
    const e = heap[i]!;
    const c = counts[e]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let child = l;
      let cc = counts[heap[l]!]!;
      if (r < n) {
        const rc = counts[heap[r]!]!;
        if (rc < cc) {
          child = r;
          cc = rc;
        }
      }
      if (cc >= c) break;
      const ce = heap[child]!;
      heap[i] = ce;
      pos[ce] = i;
      i = child;
    }
    heap[i] = e;
    pos[e] = i;
  }

  #siftUp(i: number): void {
    const heap = this.#heap;
    const pos = this.#pos;
    const counts = this.#counts;
    const e = heap[i]!;
    const c = counts[e]!;
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      const pe = heap[parent]!;
      if (counts[pe]! <= c) break;
      heap[i] = pe;
      pos[pe] = i;
      i = parent;
    }
    heap[i] = e;
    pos[e] = i;
  }
}
