/**
 * Per-entity counters in 1-second buckets on ring buffers: one `EntityCounters`
 * per kind of entity (shards, nodes, tenants), each entity a small integer.
 *
 * Layout (struct of arrays, one block of typed arrays per entity, so a new
 * shard after a split adds a block and copies nothing):
 * - `scalars`: Float64Array, slot-major (`slot * FIELDS + field`, so a
 *   request's updates share one or two cache lines), `seconds + 1`
 *   slots: reads, writes, bytes in/out, errors, shed, latency sum, the peak
 *   in-flight gauge, and p50/p99/p999 of the second (filled when it completes).
 *   Reads and writes are exact counts (`count`); the rest may be weighted
 *   estimates from a sample of requests (`add`, `begin`, `end`).
 * - `fine`: one latency histogram per second for the last `histogramSeconds`
 *   (default 60) seconds, `Uint32Array` of `(histogramSeconds + 1) × 698`.
 * - `coarse`: one histogram per 10-second block over the whole ring, filled by
 *   folding each second's fine histogram in when that second completes.
 *
 * Why two tiers: a per-second histogram for 600 s would cost 1.7 MB per entity;
 * this layout costs ≈ 400 KB (scalars 53 KB, fine 170 KB, coarse 173 KB at the
 * defaults). Windows up to `histogramSeconds` long are exact to the second;
 * longer windows take whole 10-second blocks for their older part, so their
 * start is rounded down to a multiple of 10 s (at most 9 s more history).
 *
 * Time is given, never read: the caller passes whole seconds to `advanceTo`
 * and the hot-path `add` writes into the current second. Rotation zeroes the
 * slots it enters (with `fill`, no allocation), at most one ring's worth after
 * a long gap. A window covers whole seconds that ended before the current one.
 *
 * Over 300 lines: the hot-path `add` and the ring arithmetic it relies on stay
 * together.
 */
import { ConfigError } from '../errors.js';
import { HISTOGRAM_BUCKETS, bucketOf, bucketValue } from './histogram.js';

/** The scalar fields kept per entity per second. */
export const Field = {
  Reads: 0,
  Writes: 1,
  BytesIn: 2,
  BytesOut: 3,
  Errors: 4,
  Shed: 5,
  /** Sum of recorded latencies (µs), weighted when latencies are sampled. */
  LatencySum: 6,
  /** Peak in-flight gauge seen during the second. */
  InflightMax: 7,
  /**
   * Requests measured without a latency: a blocking command, whose wait for
   * an element is the application's, not the node's service time.
   */
  Untimed: 8,
  /** Percentiles of the second (µs), written when the second completes. */
  P50: 9,
  P99: 10,
  P999: 11,
} as const;
/** One scalar field. */
export type Field = (typeof Field)[keyof typeof Field];
const FIELDS = 12;

/** Seconds per coarse histogram block. */
export const COARSE_BLOCK_SECONDS = 10;

/** Ring geometry. */
export interface CountersOptions {
  /** Seconds of scalar history readable as whole seconds (default 600). */
  readonly seconds?: number;
  /** Seconds kept with a histogram per second (default 60, at most `seconds`). */
  readonly histogramSeconds?: number;
}

/** Totals over a window of whole seconds. */
export interface WindowTotals {
  reads: number;
  writes: number;
  bytesIn: number;
  bytesOut: number;
  errors: number;
  shed: number;
  /** Requests with a recorded latency (everything but shed and untimed requests). */
  timed: number;
  /** Requests measured without a latency (Field.Untimed). */
  untimed: number;
  latencySum: number;
  inflightMax: number;
}

class EntityBlock {
  readonly scalars: Float64Array;
  readonly fine: Uint32Array;
  readonly coarse: Uint32Array;
  inflight = 0;
  constructor(slots: number, fineSlots: number, coarseSlots: number) {
    this.scalars = new Float64Array(FIELDS * slots);
    this.fine = new Uint32Array(fineSlots * HISTOGRAM_BUCKETS);
    this.coarse = new Uint32Array(coarseSlots * HISTOGRAM_BUCKETS);
  }
}

/**
 * Counters for one kind of entity.
 *
 * @example
 * const shards = new EntityCounters();
 * const s0 = shards.index('s0');
 * shards.advanceTo(100);
 * shards.count(s0, false);
 * shards.add(s0, 20, 200, 850, 0);
 * shards.advanceTo(101);
 * shards.totals(s0, 1).reads // 1
 */
export class EntityCounters {
  readonly seconds: number;
  readonly histogramSeconds: number;
  readonly #slots: number;
  readonly #fineSlots: number;
  readonly #coarseSlots: number;
  readonly #blocks: EntityBlock[] = [];
  /** By index; '' marks a released slot waiting for reuse. */
  readonly #names: string[] = [];
  readonly #byName = new Map<string, number>();
  readonly #free: number[] = [];
  /** The last second each entity had a request counted in (for idle eviction). */
  readonly #lastActive: number[] = [];
  /** Current second; -1 before the first. */
  #second = -1;
  #slot = 0;
  #fineBase = 0;
  /** Reused by window reads. */
  readonly #scratch = new Float64Array(HISTOGRAM_BUCKETS);
  /**
   * Reads and writes counted in the current second and not yet folded into
   * the ring, two per entity (`e * 2 + isWrite`). One flat array keeps
   * `count`, the one thing every request does, to a single increment in
   * memory the next request touches too, rather than a walk through the
   * entity's block (bench:sketch's "count" row, shard + node + tenant: 21 ns
   * against 26, loop included). Folded in when the second moves on and when
   * a window reads the current second.
   */
  #pending = new Float64Array(32);

  constructor(options: CountersOptions = {}) {
    this.seconds = positiveInt(options.seconds ?? 600, 'seconds');
    this.histogramSeconds = Math.min(
      positiveInt(options.histogramSeconds ?? 60, 'histogramSeconds'),
      this.seconds,
    );
    this.#slots = this.seconds + 1;
    this.#fineSlots = this.histogramSeconds + 1;
    this.#coarseSlots = Math.ceil(this.seconds / COARSE_BLOCK_SECONDS) + 2;
  }

  /**
   * The stable index of an entity, created on first sight (not for the hot
   * path). A released slot is reused, zeroed, before the table grows.
   */
  index(name: string): number {
    let i = this.#byName.get(name);
    if (i !== undefined) return i;
    i = this.#free.pop();
    if (i !== undefined) {
      const b = this.#blocks[i]!;
      b.scalars.fill(0);
      b.fine.fill(0);
      b.coarse.fill(0);
      b.inflight = 0;
      this.#names[i] = name;
    } else {
      i = this.#blocks.length;
      if (2 * i + 2 > this.#pending.length) {
        const grown = new Float64Array(this.#pending.length * 2);
        grown.set(this.#pending);
        this.#pending = grown;
      }
      this.#blocks.push(new EntityBlock(this.#slots, this.#fineSlots, this.#coarseSlots));
      this.#names.push(name);
    }
    // Counts sent to this index before it was handed out are not this entity's.
    this.#pending[2 * i] = this.#pending[2 * i + 1] = 0;
    this.#lastActive[i] = this.#second;
    this.#byName.set(name, i);
    return i;
  }

  /**
   * Forgets an entity: its name is free and its slot (with its memory) is
   * handed to the next new name. Whoever cached the index must stop using it.
   * With `into`, its history is added to that entity first, so totals over
   * all entities stay exact (the per-second percentiles already computed for
   * `into` are not redone; window percentiles, from the histograms, are exact).
   */
  release(e: number, into = -1): void {
    const name = this.#names[e];
    if (name === undefined || name === '' || e === into) return;
    const to = this.#blocks[into];
    if (to !== undefined) {
      this.#fold(e);
      const from = this.#blocks[e]!;
      for (let i = 0; i < from.scalars.length; i++) {
        const v = from.scalars[i]!;
        if (v === 0) continue;
        const f = i % FIELDS;
        if (f === Field.InflightMax) to.scalars[i] = Math.max(to.scalars[i]!, v);
        else if (f < Field.P50) to.scalars[i]! += v;
      }
      addInto(to.fine, from.fine, 0, from.fine.length);
      addInto(to.coarse, from.coarse, 0, from.coarse.length);
      to.inflight += from.inflight;
    }
    this.#byName.delete(name);
    this.#names[e] = '';
    this.#free.push(e);
  }

  /** Entities with a name (released slots excluded). */
  get size(): number {
    return this.#byName.size;
  }

  /** The last second in which entity `e` had a request counted (its creation second before any). */
  lastActive(e: number): number {
    return this.#lastActive[e] ?? -1;
  }

  /** The index of a known entity, or undefined. */
  find(name: string): number | undefined {
    return this.#byName.get(name);
  }

  /** Entity names by index ('' for a released slot). */
  get names(): readonly string[] {
    return this.#names;
  }

  /** The current second (-1 before the first `advanceTo`). */
  get second(): number {
    return this.#second;
  }

  /**
   * Moves the ring to `second`: completes the current second (percentiles,
   * coarse fold) and zeroes every slot entered. Earlier seconds are ignored.
   */
  advanceTo(second: number): void {
    const old = this.#second;
    if (second <= old) return;
    for (let e = 0; e < this.#blocks.length; e++) this.#fold(e);
    if (old >= 0) this.#complete(old);
    // Entities created before the first second are new as of it.
    else this.#lastActive.fill(second);
    const firstScalar = Math.max(old + 1, second - this.#slots + 1);
    const firstFine = Math.max(old + 1, second - this.#fineSlots + 1);
    const firstBlock = Math.max(
      old < 0 ? 0 : Math.floor(old / COARSE_BLOCK_SECONDS) + 1,
      Math.floor(second / COARSE_BLOCK_SECONDS) - this.#coarseSlots + 1,
    );
    const lastBlock = Math.floor(second / COARSE_BLOCK_SECONDS);
    for (const b of this.#blocks) {
      for (let s = firstScalar; s <= second; s++) {
        const slot = s % this.#slots;
        b.scalars.fill(0, slot * FIELDS, slot * FIELDS + FIELDS);
        // A second starts with whatever was in flight when it began.
        b.scalars[slot * FIELDS + Field.InflightMax] = b.inflight;
      }
      for (let s = firstFine; s <= second; s++) {
        const base = (s % this.#fineSlots) * HISTOGRAM_BUCKETS;
        b.fine.fill(0, base, base + HISTOGRAM_BUCKETS);
      }
      for (let k = firstBlock; k <= lastBlock; k++) {
        const base = (k % this.#coarseSlots) * HISTOGRAM_BUCKETS;
        b.coarse.fill(0, base, base + HISTOGRAM_BUCKETS);
      }
    }
    this.#second = second;
    this.#slot = second % this.#slots;
    this.#fineBase = (second % this.#fineSlots) * HISTOGRAM_BUCKETS;
  }

  // Percentiles of the finished second, and its histogram folded into its block.
  // Idle entities are skipped: their slot was zeroed when the second began.
  #complete(second: number): void {
    const n = this.#slots;
    const slot = second % n;
    const fineBase = (second % this.#fineSlots) * HISTOGRAM_BUCKETS;
    const coarseBase = (Math.floor(second / COARSE_BLOCK_SECONDS) % this.#coarseSlots) * HISTOGRAM_BUCKETS;
    for (const b of this.#blocks) {
      const s = b.scalars;
      if (
        s[slot * FIELDS + Field.Reads]! + s[slot * FIELDS + Field.Writes]! - s[slot * FIELDS + Field.Shed]! <=
        0
      )
        continue;
      // Ranks from the histogram's own total: with sampled latencies (weights)
      // it estimates the timed count rather than equalling it.
      let timed = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) timed += b.fine[fineBase + i]!;
      if (timed <= 0) continue;
      // One pass: fold into the block, and pick p50/p99/p999 by rank on the way.
      const r50 = Math.max(1, Math.ceil(0.5 * timed));
      const r99 = Math.max(1, Math.ceil(0.99 * timed));
      const r999 = Math.max(1, Math.ceil(0.999 * timed));
      let seen = 0;
      for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
        const c = b.fine[fineBase + i]!;
        if (c === 0) continue;
        b.coarse[coarseBase + i]! += c;
        const before = seen;
        seen += c;
        if (before < r50 && seen >= r50) s[slot * FIELDS + Field.P50] = bucketValue(i);
        if (before < r99 && seen >= r99) s[slot * FIELDS + Field.P99] = bucketValue(i);
        if (before < r999 && seen >= r999) s[slot * FIELDS + Field.P999] = bucketValue(i);
      }
    }
  }

  /**
   * Hot path, every request: one more read or write for entity `e` in the
   * current second. Request counts are always exact. Allocation-free; an
   * unknown index is ignored.
   */
  count(e: number, isWrite: boolean): void {
    this.#pending[2 * e + (isWrite ? 1 : 0)]! += 1;
  }

  // Moves entity e's pending counts into the current second.
  #fold(e: number): void {
    const p = this.#pending;
    const reads = p[2 * e]!;
    const writes = p[2 * e + 1]!;
    if (reads === 0 && writes === 0) return;
    this.#lastActive[e] = this.#second;
    const s = this.#blocks[e]!.scalars;
    s[this.#slot * FIELDS + Field.Reads]! += reads;
    s[this.#slot * FIELDS + Field.Writes]! += writes;
    p[2 * e] = p[2 * e + 1] = 0;
  }

  /**
   * Hot path, measured requests: the details of one completed request for
   * entity `e`, counted `weight` times (1 when every request is measured; the
   * sampling factor above the measuring budget, see RouterTelemetry), so
   * bytes, errors, shed and latency are unbiased estimates. `latencyBucket` is
   * `bucketOf(micros)`, or -1 for no latency sample (shed). `outcome`: 0 ok,
   * 1 error, 2 shed. The request itself is counted by `count`. Allocation-free.
   */
  add(
    e: number,
    bytesIn: number,
    bytesOut: number,
    latencyMicros: number,
    outcome: number,
    latencyBucket = outcome === 2 || latencyMicros < 0 ? -1 : bucketOf(latencyMicros),
    weight = 1,
  ): void {
    const b = this.#blocks[e];
    if (b === undefined) return;
    const s = b.scalars;
    const slot = this.#slot;
    s[slot * FIELDS + Field.BytesIn]! += bytesIn * weight;
    s[slot * FIELDS + Field.BytesOut]! += bytesOut * weight;
    if (outcome === 1) s[slot * FIELDS + Field.Errors]! += weight;
    else if (outcome === 2) s[slot * FIELDS + Field.Shed]! += weight;
    if (latencyBucket >= 0) {
      s[slot * FIELDS + Field.LatencySum]! += latencyMicros * weight;
      b.fine[this.#fineBase + latencyBucket]! += weight;
    } else if (outcome !== 2) s[slot * FIELDS + Field.Untimed]! += weight;
  }

  /** In-flight gauge up by `weight` (a measured request sent). */
  begin(e: number, weight = 1): void {
    const b = this.#blocks[e];
    if (b === undefined) return;
    const v = (b.inflight += weight);
    const i = this.#slot * FIELDS + Field.InflightMax;
    if (v > b.scalars[i]!) b.scalars[i] = v;
  }

  /** In-flight gauge down by `weight` (its reply received); never below 0. */
  end(e: number, weight = 1): void {
    const b = this.#blocks[e];
    if (b !== undefined) b.inflight = b.inflight > weight ? b.inflight - weight : 0;
  }

  /** The in-flight gauge now. */
  inflight(e: number): number {
    return this.#blocks[e]?.inflight ?? 0;
  }

  /** A scalar of one whole second, or 0 when that second is outside the ring or not complete. */
  value(e: number, field: Field, second: number): number {
    const b = this.#blocks[e];
    if (b === undefined || !this.#readable(second, this.seconds)) return 0;
    return b.scalars[(second % this.#slots) * FIELDS + field]!;
  }

  /**
   * Sums over the `seconds` whole seconds before the current one, and the
   * current (partial) second too when `withCurrent` (detection windows that
   * must see a spike before its second ends).
   */
  totals(e: number, seconds: number, withCurrent = false): WindowTotals {
    const t: WindowTotals = {
      reads: 0,
      writes: 0,
      bytesIn: 0,
      bytesOut: 0,
      errors: 0,
      shed: 0,
      timed: 0,
      untimed: 0,
      latencySum: 0,
      inflightMax: 0,
    };
    const b = this.#blocks[e];
    if (b === undefined || this.#second < 0) return t;
    if (withCurrent) this.#fold(e);
    const n = this.#slots;
    const from = this.#second - Math.min(seconds, this.seconds);
    const to = withCurrent ? this.#second + 1 : this.#second;
    for (let sec = Math.max(from, 0); sec < to; sec++) {
      const slot = sec % n;
      const s = b.scalars;
      t.reads += s[slot * FIELDS + Field.Reads]!;
      t.writes += s[slot * FIELDS + Field.Writes]!;
      t.bytesIn += s[slot * FIELDS + Field.BytesIn]!;
      t.bytesOut += s[slot * FIELDS + Field.BytesOut]!;
      t.errors += s[slot * FIELDS + Field.Errors]!;
      t.shed += s[slot * FIELDS + Field.Shed]!;
      t.untimed += s[slot * FIELDS + Field.Untimed]!;
      t.latencySum += s[slot * FIELDS + Field.LatencySum]!;
      t.inflightMax = Math.max(t.inflightMax, s[slot * FIELDS + Field.InflightMax]!);
    }
    t.timed = t.reads + t.writes - t.shed - t.untimed;
    return t;
  }

  /**
   * The latency histogram of the `seconds` whole seconds before the current
   * one, merged into a reused scratch array (valid until the next call).
   * Windows longer than `histogramSeconds` start at a 10-second boundary.
   */
  latency(e: number, seconds: number, withCurrent = false): Float64Array {
    const out = this.#scratch;
    out.fill(0);
    const b = this.#blocks[e];
    if (b === undefined || this.#second < 0) return out;
    const cur = this.#second;
    const from = cur - Math.min(seconds, this.seconds);
    let fineFrom = from;
    if (seconds > this.histogramSeconds) {
      // Older part from whole 10-second blocks, the rest from the fine ring.
      const split = COARSE_BLOCK_SECONDS * Math.ceil((cur - this.histogramSeconds) / COARSE_BLOCK_SECONDS);
      for (
        let k = Math.floor(Math.max(from, 0) / COARSE_BLOCK_SECONDS);
        k < split / COARSE_BLOCK_SECONDS;
        k++
      ) {
        addInto(out, b.coarse, (k % this.#coarseSlots) * HISTOGRAM_BUCKETS);
      }
      fineFrom = split;
    }
    const to = withCurrent ? cur + 1 : cur;
    for (let sec = Math.max(fineFrom, 0); sec < to; sec++) {
      addInto(out, b.fine, (sec % this.#fineSlots) * HISTOGRAM_BUCKETS);
    }
    return out;
  }

  // A whole second still in the ring.
  #readable(second: number, span: number): boolean {
    return second < this.#second && second >= this.#second - span && second >= 0;
  }
}

function addInto(
  out: Float64Array | Uint32Array,
  src: Uint32Array,
  base: number,
  n = HISTOGRAM_BUCKETS,
): void {
  for (let i = 0; i < n; i++) {
    const c = src[base + i]!;
    if (c !== 0) out[i]! += c;
  }
}

function positiveInt(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 1)
    throw new ConfigError(`telemetry: ${field} must be a positive integer, got ${v}`);
  return v;
}
