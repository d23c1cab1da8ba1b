/**
 * Per-key heavy hitters of one router: for reads, writes and bytes separately a
 * Count-Min sketch (conservative update) and a SpaceSaving summary, plus a
 * HyperLogLog of distinct keys — kept per second in a small ring of epochs.
 * A fourth Count-Min sketch counts the writes that are a counter's increments
 * (INCR, INCRBY, DECR, DECRBY), so a hot key's command mix can be read
 * (`increments`): it needs no ranking of its own, only a lookup of a key the
 * others found.
 *
 * Windowing: one epoch per second; a window of the last N whole seconds sums
 * its epochs (Count-Min cell sums, SpaceSaving merges, HLL register max) and
 * an epoch older than the ring is dropped outright. Chosen over exponential
 * decay because the detector wants rates over an exact window, the bounds
 * below are in terms of that window's own total, and per-second epochs are
 * exactly the deltas a router ships to the control plane.
 *
 * Bounds for a window with total weight N_w (per metric), for every key x:
 *   f(x) ≤ estimate(x) ≤ f(x) + min(N_w / m, ε·N_w [with probability 1 − δ])
 * where m = capacity (default 1024), ε = e / width (0.066 %), δ = e^−depth
 * (1.8 %); and every key with f(x) > N_w / m is among the candidates topKeys
 * ranks, so with the defaults every key above 0.1 % of a window is reported
 * (given a large enough limit). Under sampling f is the sampled, weighted
 * count: an unbiased estimate of the true count (see sampler.ts).
 *
 * Distinct keys are counted from the sampled requests: a lower bound under
 * sampling, close for keys seen more often than the sampling factor.
 */
import { ConfigError } from '../../errors.js';
import { AdaptiveSampler } from './sampler.js';
import {
  decodeSketch,
  encodeSketch,
  type EpochState,
  type MetricState,
  type SketchShape,
  type SketchState,
} from './codec.js';
import { CountMinSketch } from './count-min.js';
import { HyperLogLog } from './hyperloglog.js';
import { keyHash, remix } from './key-hash.js';
import { SpaceSaving, mergeSummaries, scaleSummary, truncateSummary, type Summary } from './space-saving.js';
import {
  candidatesFor,
  keyEstimate,
  rankKeys,
  summedEstimate,
  type KeyEstimate,
  type RankBy,
} from './top-keys.js';

export type { KeyEstimate, RankBy } from './top-keys.js';

/** How far ahead of this ring another router's second may be and still be merged. */
export const MAX_AHEAD_SECONDS = 60;

/** The three things counted per key. */
export const Metric = { Reads: 0, Writes: 1, Bytes: 2 } as const;
/** One of reads, writes, bytes. */
export type Metric = (typeof Metric)[keyof typeof Metric];

/** Sketch configuration. Every router that merges with another must use the same shape. */
export interface HeavyHittersOptions {
  /** Whole seconds of epochs kept: the longest window (default 10). */
  readonly seconds?: number;
  /** Count-Min columns, a power of two (default 4096). */
  readonly width?: number;
  /** Count-Min rows (default 4). */
  readonly depth?: number;
  /** Conservative update (default true). */
  readonly conservative?: boolean;
  /** SpaceSaving counters per metric per epoch (default 1024). */
  readonly capacity?: number;
  /** Key bytes kept per counter (default 128). */
  readonly maxKeyBytes?: number;
  /** HyperLogLog precision (default 12). */
  readonly hllPrecision?: number;
  /** Sketch updates per second before sampling starts (default Infinity: never sample). */
  readonly budget?: number;
  /** Seed of the sampling randomness (default: random). */
  readonly seed?: number;
}

/** Totals over a window. */
export interface SketchTotals {
  /** Keyed requests seen (an estimate when the caller offers a weighted sample). */
  readonly requests: number;
  /** Weighted totals N of each metric (exact without sampling, unbiased with). */
  readonly reads: number;
  readonly writes: number;
  readonly bytes: number;
}

/** A merged summary of the completed epochs from..to, valid while the generation holds. */
interface MergeCache {
  readonly from: number;
  readonly to: number;
  readonly count: number;
  readonly generation: number;
  readonly summary: Summary;
  /** The summary keeps this many counters (see truncateSummary). */
  readonly top: number;
}

class Epoch {
  second = -1;
  requests = 0;
  readonly cms: readonly [CountMinSketch, CountMinSketch, CountMinSketch];
  readonly ss: readonly [SpaceSaving, SpaceSaving, SpaceSaving];
  /** The writes that were increments, at the same cells as `cms`. */
  readonly increments: CountMinSketch;
  readonly hll: HyperLogLog;
  constructor(o: HeavyHittersOptions) {
    const cms = (): CountMinSketch => new CountMinSketch(o);
    const ss = (): SpaceSaving => new SpaceSaving(o);
    this.cms = [cms(), cms(), cms()];
    this.increments = cms();
    this.ss = [ss(), ss(), ss()];
    this.hll = new HyperLogLog(o.hllPrecision ?? 12);
  }
  reset(second: number): void {
    this.second = second;
    this.requests = 0;
    for (const c of this.cms) c.reset();
    this.increments.reset();
    for (const s of this.ss) s.reset();
    this.hll.reset();
  }
  get empty(): boolean {
    return this.requests === 0 && this.cms.every((c) => c.total === 0);
  }
}

/**
 * Heavy-hitter sketches over a ring of 1-second epochs. Time is given: call
 * `advanceTo(second)` before offering requests of a new second.
 *
 * @example
 * const hh = new HeavyHitters();
 * hh.advanceTo(1000);
 * hh.offer(Buffer.from('user:42'), false, 120);
 * hh.advanceTo(1001);
 * hh.topKeys(1, 10)[0]?.reads // 1
 */
export class HeavyHitters {
  readonly seconds: number;
  readonly shape: SketchShape;
  readonly sampler: AdaptiveSampler;
  readonly #epochs: Epoch[] = [];
  #current: Epoch;
  #second = -1;
  readonly #at: Int32Array;
  /** Bumped whenever a completed epoch changes (a merge from another router). */
  #generation = 0;
  readonly #mergeCache: (MergeCache | undefined)[] = [undefined, undefined, undefined];
  /** The oldest second of a sliding window, read out (see #readOut). */
  readonly #oldestCache: (MergeCache | undefined)[] = [undefined, undefined, undefined];

  constructor(options: HeavyHittersOptions = {}) {
    const seconds = options.seconds ?? 10;
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600)
      throw new ConfigError(`sketch.seconds must be an integer in 1..3600, got ${seconds}`);
    this.seconds = seconds;
    for (let i = 0; i <= seconds; i++) this.#epochs.push(new Epoch(options));
    this.#current = this.#epochs[0]!;
    const c = this.#current;
    this.shape = {
      width: c.cms[0].width,
      depth: c.cms[0].depth,
      conservative: c.cms[0].conservative,
      capacity: c.ss[0].capacity,
      maxKeyBytes: c.ss[0].maxKeyBytes,
      hllPrecision: c.hll.precision,
    };
    this.#at = new Int32Array(this.shape.depth);
    this.sampler = new AdaptiveSampler(options.budget ?? Infinity, options.seed);
  }

  /** The current second (-1 before the first `advanceTo`). */
  get second(): number {
    return this.#second;
  }

  /** Starts `second` as the current epoch, dropping epochs that leave the ring. */
  advanceTo(second: number): void {
    if (second <= this.#second) return;
    const first = this.#second < 0 ? second : Math.max(this.#second + 1, second - this.seconds);
    for (let s = first; s <= second; s++) {
      this.#epochs[s % this.#epochs.length]!.reset(s);
      this.sampler.nextSecond();
    }
    this.#second = second;
    this.#current = this.#epochs[second % this.#epochs.length]!;
  }

  /**
   * Hot path: one keyed request in the current second, counted `weight` times
   * (1, or the caller's own sampling factor), and sampled here above the
   * budget: a kept request updates the sketches with weight × this sampler's
   * factor, so every estimate stays unbiased. `increment`: a write that is a
   * counter's increment. Allocation-free.
   */
  offer(key: Uint8Array, isWrite: boolean, bytes: number, weight = 1, increment = false): void {
    this.#current.requests += weight;
    // Decide before hashing: above the budget most requests cost one counter
    // and one comparison.
    const w = this.sampler.sample();
    if (w !== 0) this.#update(key, isWrite, bytes, weight * w, increment);
  }

  // The sketch updates of one kept request. The distinct-key estimate comes
  // from the kept keys: under sampling a lower bound that stays close for keys
  // seen more than `weight` times per window (the detector only uses it for
  // the mean key rate).
  #update(key: Uint8Array, isWrite: boolean, bytes: number, weight: number, increment: boolean): void {
    const ep = this.#current;
    const h1 = keyHash(key);
    const h2 = remix(h1);
    ep.hll.add(h1, h2);
    const at = this.#at;
    ep.cms[0].locate(h1, h2, at);
    const m = isWrite ? Metric.Writes : Metric.Reads;
    ep.ss[m].add(key, h1, weight, ep.cms[m].addAt(at, weight));
    if (increment) ep.increments.addAt(at, weight);
    if (bytes > 0) {
      const wb = weight * bytes;
      ep.ss[Metric.Bytes].add(key, h1, wb, ep.cms[Metric.Bytes].addAt(at, wb));
    }
  }

  /**
   * The largest guaranteed count of one key (reads or writes, weighted: the
   * SpaceSaving lower bound) in the current second so far. A pass over two
   * summaries' counters, allocation-free.
   */
  currentPeak(): number {
    const ep = this.#current;
    return Math.max(ep.ss[Metric.Reads].peakLower, ep.ss[Metric.Writes].peakLower);
  }

  /**
   * Totals over the last `seconds` whole seconds (and the current one when
   * `withCurrent`), the oldest second counted `oldestWeight` times (see
   * `topKeys`).
   */
  totals(seconds: number, withCurrent = false, oldestWeight = 1): SketchTotals {
    let requests = 0;
    const n = [0, 0, 0];
    const epochs = this.#window(seconds, withCurrent);
    const weights = this.#weights(epochs, seconds, withCurrent, oldestWeight);
    for (let i = 0; i < epochs.length; i++) {
      const ep = epochs[i]!;
      const w = weights[i]!;
      requests += ep.requests * w;
      for (let m = 0; m < 3; m++) n[m]! += ep.cms[m]!.total * w;
    }
    return { requests, reads: n[0]!, writes: n[1]!, bytes: n[2]! };
  }

  /** Estimated distinct keys over the last `seconds` whole seconds. */
  distinctKeys(seconds: number, withCurrent = false): number {
    const union = new HyperLogLog(this.shape.hllPrecision);
    for (const ep of this.#window(seconds, withCurrent)) union.merge(ep.hll);
    return union.estimate();
  }

  /**
   * One key's estimate over the last `seconds` whole seconds (and the
   * current one when `withCurrent`, the oldest second weighted as in `topKeys`).
   */
  estimate(key: Buffer, seconds: number, withCurrent = false, oldestWeight = 1): KeyEstimate {
    const h = keyHash(key);
    const epochs = this.#window(seconds, withCurrent);
    const weights = this.#weights(epochs, seconds, withCurrent, oldestWeight);
    const est = [0, 0, 0];
    const err = [0, 0, 0];
    for (let m = 0; m < 3; m++) {
      let upper = 0;
      let lower = 0;
      for (let i = 0; i < epochs.length; i++) {
        upper += epochs[i]!.ss[m]!.upperBound(key, h) * weights[i]!;
        lower += epochs[i]!.ss[m]!.lowerBound(key, h) * weights[i]!;
      }
      const cells = epochs.map((ep) => ep.cms[m]!.cells);
      const e = Math.min(upper, summedEstimate(cells, h, this.shape, weights));
      est[m] = e;
      err[m] = e - lower;
    }
    return keyEstimate(Buffer.from(key), false, est, err);
  }

  /**
   * A key's increments (weighted, as `estimate` counts its writes) over the
   * same window: the Count-Min estimate, so at or above the true count by at
   * most ε × the window's increments (see the bounds above); 0 where no
   * increment was seen.
   */
  increments(key: Uint8Array, seconds: number, withCurrent = false, oldestWeight = 1): number {
    const epochs = this.#window(seconds, withCurrent);
    if (epochs.every((ep) => ep.increments.total === 0)) return 0;
    const weights = this.#weights(epochs, seconds, withCurrent, oldestWeight);
    const cells = epochs.map((ep) => ep.increments.cells);
    return summedEstimate(cells, keyHash(key), this.shape, weights);
  }

  /**
   * The heaviest keys over the last `seconds` whole seconds, by `by`
   * (default reads + writes), at most `limit`. With `withCurrent` the
   * current, partial second is in the window too, and `oldestWeight` (in
   * [0, 1]) scales the oldest whole second: 1 − the elapsed fraction of the
   * current one makes a window that slides, always `seconds` long, so a
   * steady key's count is its rate × `seconds` at any point of the second
   * and a new one's is not diluted by the second before it began
   * (RouterTelemetry.topKeys). Bounds then hold for the weighted counts.
   */
  topKeys(
    seconds: number,
    limit: number,
    by: RankBy = 'ops',
    withCurrent = false,
    oldestWeight = 1,
  ): KeyEstimate[] {
    const epochs = this.#window(seconds, withCurrent);
    if (epochs.length === 0 || limit <= 0) return [];
    const weights = this.#weights(epochs, seconds, withCurrent, oldestWeight);
    // Only the summaries that rank are merged (the merge dominates this call,
    // which runs every detector tick); the other metrics are bounded by
    // Count-Min alone.
    const ranked = by === 'ops' ? [0, 1] : by === 'reads' ? [0] : by === 'writes' ? [1] : [2];
    // Summaries are truncated to what ranking looks at (the top
    // candidatesFor(limit) per metric, see rankKeys) before merging: reading out and merging every
    // counter was most of a detector tick.
    const top = candidatesFor(limit);
    const merged = [0, 1, 2].map((m) => (ranked.includes(m) ? this.#merged(epochs, weights, m, top) : null));
    // A metric with nothing in the window (reads only: no writes) needs no lookups (null).
    const cells = [0, 1, 2].map((m) =>
      epochs.every((ep) => ep.cms[m]!.total === 0) ? null : epochs.map((ep) => ep.cms[m]!.cells),
    );
    return rankKeys(merged, cells, this.shape, limit, by, weights);
  }

  /**
   * Encodes the completed epochs with seconds in [from, to] (default: all
   * kept) into the binary format (codec.ts). Ship each second once: merging
   * the same epoch twice counts it twice.
   */
  encode(from = -Infinity, to = this.#second - 1): Buffer {
    return encodeSketch(this.state(from, to));
  }

  /** The completed epochs in [from, to], as plain data (views on live arrays). */
  state(from = -Infinity, to = this.#second - 1): SketchState {
    const epochs: EpochState[] = [];
    const last = Math.min(to, this.#second - 1);
    for (let s = Math.max(from, this.#second - this.seconds, 0); s <= last; s++) {
      const ep = this.#epochs[s % this.#epochs.length]!;
      if (ep.second !== s || ep.empty) continue;
      const metric = (m: Metric): MetricState => ({
        total: ep.cms[m].total,
        cells: ep.cms[m].cells,
        summary: ep.ss[m].summary(),
      });
      epochs.push({
        second: s,
        requests: ep.requests,
        registers: ep.hll.registers,
        metrics: [metric(Metric.Reads), metric(Metric.Writes), metric(Metric.Bytes)],
        increments: { total: ep.increments.total, cells: ep.increments.cells },
      });
    }
    return { shape: this.shape, epochs };
  }

  /**
   * Adds sketches from another router (encoded or decoded) into the epochs of
   * the same seconds. Seconds ahead of this ring (by at most MAX_AHEAD_SECONDS)
   * advance it; seconds older than the ring, or further ahead, are dropped.
   * The shapes must match (conservative or not may differ).
   */
  merge(input: Uint8Array | SketchState): { merged: number; dropped: number } {
    const state = input instanceof Uint8Array ? decodeSketch(input) : input;
    const a = state.shape;
    const b = this.shape;
    if (
      a.width !== b.width ||
      a.depth !== b.depth ||
      a.capacity !== b.capacity ||
      a.maxKeyBytes !== b.maxKeyBytes ||
      a.hllPrecision !== b.hllPrecision
    )
      throw new ConfigError(
        `sketch merge: shape ${JSON.stringify(a)} does not match this router's ${JSON.stringify(b)}`,
      );
    let merged = 0;
    let dropped = 0;
    for (const ep of state.epochs) {
      if (!Number.isInteger(ep.second) || ep.second < 0)
        throw new ConfigError(`sketch merge: bad second ${ep.second}`);
      // A second far ahead of ours is a broken clock (or input), not skew: it
      // would drag this ring into the future.
      const ahead = this.#second >= 0 && ep.second > this.#second + MAX_AHEAD_SECONDS;
      if (!ahead && ep.second > this.#second) this.advanceTo(ep.second);
      if (ahead || ep.second < this.#second - this.seconds) {
        dropped++;
        continue;
      }
      const mine = this.#epochs[ep.second % this.#epochs.length]!;
      // A slot in range not yet used since start-up still holds an older second.
      if (mine.second !== ep.second) mine.reset(ep.second);
      this.#generation++;
      mine.requests += ep.requests;
      mine.hll.merge(ep.registers);
      for (let m = 0; m < 3; m++) {
        const src = ep.metrics[m]!;
        mine.cms[m]!.mergeCells(src.cells, src.total, a.width, a.depth);
        mine.ss[m]!.merge(src.summary);
      }
      const inc = ep.increments;
      if (inc !== undefined) mine.increments.mergeCells(inc.cells, inc.total, a.width, a.depth);
      merged++;
    }
    return { merged, dropped };
  }

  // The merged summary of metric `m` over `epochs`. Completed seconds change
  // only by `merge`, so their merge is kept between calls: a detector tick
  // then reads out and merges just the current second. Only the merge, cut to
  // `top`, is kept: full read-outs of every second in the ring (objects and
  // key views by the thousand, each living ten seconds) made the heap 3 MB
  // larger, and every major GC of a busy proxy (one every ≈ 500 ms under
  // redis-benchmark -P 16 with V8's default young generation; rare with the
  // server's 32 MB, src/cli/node-flags.ts) marked them all.
  // A whole second weighted below 1 (the oldest one of a sliding window) is
  // scaled on its own, outside the cache: its weight changes every tick.
  #merged(epochs: readonly Epoch[], weights: readonly number[], m: number, top: number): Summary {
    const parts: Summary[] = [];
    const done: Epoch[] = [];
    for (let i = 0; i < epochs.length; i++) {
      const ep = epochs[i]!;
      if (ep.second >= this.#second) continue;
      if (weights[i] === 1) done.push(ep);
      else parts.push(scaleSummary(this.#readOut(ep, m, top), weights[i]!));
    }
    if (done.length > 0) {
      const c = this.#mergeCache[m];
      const valid =
        c !== undefined &&
        c.from === done[0]!.second &&
        c.to === done[done.length - 1]!.second &&
        c.generation === this.#generation &&
        c.count === done.length &&
        c.top === top;
      if (valid) parts.push(c.summary);
      else {
        const summary =
          done.length === 1
            ? done[0]!.ss[m]!.summary(top)
            : truncateSummary(mergeSummaries(done.map((ep) => ep.ss[m]!.summary())), top);
        this.#mergeCache[m] = {
          from: done[0]!.second,
          to: done[done.length - 1]!.second,
          count: done.length,
          generation: this.#generation,
          top,
          summary,
        };
        parts.push(summary);
      }
    }
    for (const ep of epochs) if (ep.second >= this.#second) parts.push(ep.ss[m]!.summary(top));
    return parts.length === 1 ? parts[0]! : mergeSummaries(parts);
  }

  // One completed second's summary of metric m cut to `top`, kept between
  // calls like the merge of the others (#merged).
  #readOut(ep: Epoch, m: number, top: number): Summary {
    const c = this.#oldestCache[m];
    if (c !== undefined && c.from === ep.second && c.generation === this.#generation && c.top === top)
      return c.summary;
    const summary = ep.ss[m]!.summary(top);
    this.#oldestCache[m] = {
      from: ep.second,
      to: ep.second,
      count: 1,
      generation: this.#generation,
      top,
      summary,
    };
    return summary;
  }

  // The weight of each of `epochs` (from #window): 1, but `oldestWeight` for
  // the oldest second of a window that includes the current one and reaches
  // back `seconds` whole seconds.
  #weights(epochs: readonly Epoch[], seconds: number, withCurrent: boolean, oldestWeight: number): number[] {
    const oldest = withCurrent ? this.#second - Math.min(seconds, this.seconds) : -1;
    const w = Math.min(1, Math.max(0, oldestWeight));
    return epochs.map((ep) => (ep.second === oldest ? w : 1));
  }

  // Epochs of the `seconds` whole seconds before the current one (and the
  // current, partial one when `withCurrent`).
  #window(seconds: number, withCurrent = false): Epoch[] {
    const out: Epoch[] = [];
    const from = this.#second - Math.min(seconds, this.seconds);
    const to = withCurrent ? this.#second + 1 : this.#second;
    for (let s = Math.max(from, 0); s < to; s++) {
      const ep = this.#epochs[s % this.#epochs.length]!;
      if (ep.second === s) out.push(ep);
    }
    return out;
  }
}
