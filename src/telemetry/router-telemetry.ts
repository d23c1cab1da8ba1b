/**
 * The one object a router feeds on its hot path, and the detector's source:
 * per-shard, per-node and per-tenant counters in 1-second rings, and per-key
 * heavy-hitter sketches.
 *
 * Hot path: `count` for every request (exact reads and writes, no clock
 * read), then `sample` to decide whether to measure it in full, and for a
 * measured one `begin`, `end` and `measure` (bytes, outcome, latency, in-flight
 * gauges, sketches). Up to DEFAULT_SAMPLE_BUDGET requests/s every request is
 * measured; above, a weighted random sample. No allocation, no Map lookup: the
 * router resolves shard, node and tenant names to indexes once (when a routing
 * table is installed or a tenant authenticates) and passes integers. `measure`
 * reads the clock; the first call in a new second rotates the rings (zeroing
 * slots with `fill`, allocation-free).
 *
 * Read side (windows, series, top keys, export): allocates freely. Every read
 * first moves the rings to the clock's current second, and covers whole seconds
 * that ended before it, so a window of N seconds is exactly N complete seconds
 * and its rates are totals / N.
 */
import { systemClock, type Clock } from '../clock.js';
import { EntityCounters, Field } from './counters.js';
import { LOG_MAX_KEY_BYTES, MeasureLog, type MeasureSink } from './measure-log.js';
import { bucketOf, percentilesOf } from './histogram.js';
import { AdaptiveSampler } from './sketches/sampler.js';
import { TenantMix } from './tenant-mix.js';
import { TenantTable, type TenantTableOptions } from './tenant-table.js';
import {
  HeavyHitters,
  type HeavyHittersOptions,
  type KeyEstimate,
  type RankBy,
  type SketchTotals,
} from './sketches/heavy-hitters.js';

/**
 * Requests measured in full per second before sampling starts, unless
 * configured. Every request is counted exactly (reads and writes per shard,
 * node and tenant: a few array increments, ≈ 20 ns). Measuring one in full
 * (two clock reads, bytes, outcome, latency histogram, in-flight gauges and
 * the heavy-hitter sketches) cost ≈ 3.7 µs in a busy proxy when each was
 * folded in as its reply arrived, mostly cache misses; they are now written
 * to the measure log and folded a batch at a time (measure-log.ts). Up to
 * this rate every request is measured; above, each is measured with
 * probability 1/s and counted with weight s (s the smallest power of two
 * with rate / s ≤ budget; see sketches/sampler.ts), so bytes, errors, shed,
 * latency percentiles, in-flight gauges and per-key counts are unbiased
 * estimates (relative standard error √((s−1)/n) for n requests: 3 % for a
 * hot key's 35 k requests at s = 64). That caps measuring at well under 1 %
 * of a core at any rate (bench/telemetry/timing.ts). What telemetry costs
 * the proxy as a whole is measured by `npm run bench:proxy` (telemetry
 * on/off; docs/observability.md).
 */
export const DEFAULT_SAMPLE_BUDGET = 5_000;

/**
 * Of the measured requests, how many per second update the heavy-hitter
 * sketches before they keep a further weighted sample (nested: weights
 * multiply, estimates stay unbiased). The sketches are the costlier half of
 * measuring a request (Count-Min rows and SpaceSaving tables, mostly cache
 * misses), and per-key counts need fewer samples than latency percentiles:
 * at 450 k requests/s a key at 5 % is still seen ≈ 90 times a second
 * (≈ 10 % standard error per second).
 */
export const DEFAULT_SKETCH_BUDGET = 2_500;

/** The percentiles every window reports. */
const WINDOW_PERCENTILES = [50, 95, 99, 99.9] as const;

/** How a request ended. Shed requests count as demand but add no latency sample. */
export const Outcome = { Ok: 0, Error: 1, Shed: 2 } as const;
/** One outcome. */
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/**
 * Where each measured keyed request goes as well, a batch at a time as the
 * measure log is folded (the dashboard's keyspace heat): its key, bytes and
 * sampling weight, in the second `advanceTo` last named.
 */
export interface KeySink {
  advanceTo(second: number): void;
  offer(key: Uint8Array, isWrite: boolean, bytes: number, weight: number): void;
}

/** The kinds of entity with counters. */
export type EntityKind = 'shard' | 'node' | 'tenant';

/** Telemetry configuration. */
export interface RouterTelemetryOptions {
  readonly clock?: Clock;
  /** Seconds of per-second counters kept (default 600). */
  readonly seconds?: number;
  /** Seconds with a latency histogram per second (default 60); older ones per 10 s. */
  readonly histogramSeconds?: number;
  /** Default number of top keys reported (default 64). */
  readonly topK?: number;
  /** Heavy-hitter sketch shape and window (the sketches see the measured requests). */
  readonly sketch?: Omit<HeavyHittersOptions, 'budget' | 'seed'>;
  /** Requests measured in full per second before sampling starts (default DEFAULT_SAMPLE_BUDGET; Infinity: all). */
  readonly sampleBudget?: number;
  /** Seed of the sampling randomness (default: random). */
  readonly sampleSeed?: number;
  /** Measured requests per second offered to the key sketches before they sample among them (default DEFAULT_SKETCH_BUDGET). */
  readonly sketchBudget?: number;
  /** Which tenants are kept by name (the rest are summed as `other`; see tenant-table.ts). */
  readonly tenants?: TenantTableOptions;
}

/** One entity in one whole second. Latencies in ms. */
export interface SecondStats {
  /** Start of the second, ms since the epoch. */
  readonly t: number;
  readonly reads: number;
  readonly writes: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly errors: number;
  readonly shed: number;
  readonly inflightMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

/** One entity over a window. Counts are rates per second; latencies in ms. */
export interface EntityWindow {
  readonly id: string;
  readonly seconds: number;
  /** Requests in the window (a total, not a rate). */
  readonly requests: number;
  /**
   * Requests sent per request measured (answered or shed, weighted) in the
   * window; 1 when nothing was measured. Measuring happens as a reply
   * arrives, so this is above 1 while a queue builds up (a node over its
   * capacity) and near 1 when replies keep up. The per-key sketches see
   * requests as they are measured: a key's count times its shard's
   * `sentPerMeasured` puts it on the same footing as `reads` and `writes`
   * here, which count requests as they are sent (telemetry/snapshot.ts).
   */
  readonly sentPerMeasured: number;
  readonly reads: number;
  readonly writes: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly errors: number;
  readonly shed: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** The in-flight gauge now. */
  readonly inflight: number;
  /** Peak in-flight gauge during the window. */
  readonly inflightMax: number;
}

/** A heavy key over a window. Rates per second. */
export interface TopKey {
  /** The key's bytes (a prefix of the key when `truncated`). */
  readonly key: Buffer;
  readonly truncated: boolean;
  readonly reads: number;
  readonly writes: number;
  readonly bytes: number;
  /** Upper bound of the overcount of reads + writes. */
  readonly error: number;
  readonly readsError: number;
  readonly writesError: number;
  readonly bytesError: number;
}

/**
 * Router telemetry.
 *
 * @example
 * const t = new RouterTelemetry({ clock });
 * const s = t.shardIndex('s0'), n = t.nodeIndex('n0'), ten = t.tenantIndex('acme');
 * t.count(s, n, ten, false); // every request
 * const w = t.sample(); // measure this one in full? (0: no)
 * if (w > 0) {
 *   t.begin(s, n, w);
 *   // ... the reply arrives 850 µs later:
 *   t.end(s, n, w);
 *   t.measure(s, n, ten, key, false, 24, 128, 850, Outcome.Ok, w);
 * }
 * t.window('shard', 5).get('s0')?.p99Ms
 */
export class RouterTelemetry {
  readonly topK: number;
  readonly #clock: Clock;
  readonly #shards: EntityCounters;
  readonly #nodes: EntityCounters;
  readonly #tenants: EntityCounters;
  /** Tenant names to counter indexes, bounded (see tenant-table.ts). */
  readonly tenants: TenantTable;
  readonly #keys: HeavyHitters;
  readonly #sampler: AdaptiveSampler;
  /** Per key (latin1 text), its current-second counts when `recentKeyRates` last remembered it. */
  readonly #recent = new Map<string, { second: number; reads: number; writes: number; at: number }>();
  /** Measured requests of the current second not yet folded in (see measure-log.ts). */
  readonly #log = new MeasureLog();
  readonly #folder: Folder;
  /** Which tenants send to which shard and node (tenant-mix.ts). */
  readonly #mix = new TenantMix();
  #second = -1;
  /** Inside `consistent`: the clock is not read again. */
  #frozen = false;

  constructor(options: RouterTelemetryOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const ring = { seconds: options.seconds ?? 600, histogramSeconds: options.histogramSeconds ?? 60 };
    this.#shards = new EntityCounters(ring);
    this.#nodes = new EntityCounters(ring);
    this.#tenants = new EntityCounters(ring);
    this.tenants = new TenantTable(this.#tenants, options.tenants);
    this.#keys = new HeavyHitters({
      ...options.sketch,
      budget: options.sketchBudget ?? DEFAULT_SKETCH_BUDGET,
      ...(options.sampleSeed === undefined ? {} : { seed: options.sampleSeed + 1 }),
    });
    this.topK = options.topK ?? 64;
    this.#sampler = new AdaptiveSampler(options.sampleBudget ?? DEFAULT_SAMPLE_BUDGET, options.sampleSeed);
    this.#folder = new Folder(this.#shards, this.#nodes, this.#tenants, this.#keys, this.#mix);
  }

  /** The stable index of a shard id (created on first sight; not for the hot path). */
  shardIndex(id: string): number {
    return this.#shards.index(id);
  }

  /** The id of a shard index (no clock read, unlike the read side). */
  shardId(index: number): string {
    return this.#shards.names[index]!;
  }

  /** The stable index of a node id. */
  nodeIndex(id: string): number {
    return this.#nodes.index(id);
  }

  /**
   * The index of a tenant name: its own, or that of `other` once the table is
   * full (-1: no tenant of a closed table). Valid while `tenants.epoch` stays
   * the same (see tenant-table.ts).
   */
  tenantIndex(name: string): number {
    return this.tenants.index(name);
  }

  /**
   * Hot path, every request as it is sent: one read or write for its shard,
   * node and tenant (-1: none). Exact, allocation-free, no clock read: it
   * lands in the ring's current second, which the next measured request or
   * read moves on (at the rates where sampling starts, within tens of µs).
   */
  count(shard: number, node: number, tenant: number, isWrite: boolean): void {
    if (this.#second < 0) this.#sync();
    this.#shards.count(shard, isWrite);
    this.#nodes.count(node, isWrite);
    if (tenant >= 0) this.#tenants.count(tenant, isWrite);
  }

  /**
   * Hot path, before sending a request: whether to measure it in full. Returns
   * the weight to pass to `begin`/`end`/`measure`, or 0 for "not this one".
   * Every request is measured (weight 1) up to the sample budget per second.
   * Allocation-free.
   */
  sample(): number {
    return this.#sampler.sample();
  }

  /**
   * Hot path: the details of one measured, completed request (counted with
   * `count` when sent). `key` is `null` for a keyless command. Counts
   * `weight` times (what `sample` returned); `increment` marks a write that
   * is a counter's increment (CommandSpec.increment), which the key sketches
   * count too (`commandMix`). A negative `latencyMicros` measures it
   * untimed (a blocking command): counted, offered to the key sketches, no
   * latency sample. Reads the clock once: the first
   * call in a new second rotates the rings. Written to the measure log and
   * folded into counters and sketches a batch at a time (measure-log.ts);
   * every read folds what is pending first. Allocation-free.
   */
  measure(
    shard: number,
    node: number,
    tenant: number,
    key: Uint8Array | null,
    isWrite: boolean,
    bytesIn: number,
    bytesOut: number,
    latencyMicros: number,
    outcome: Outcome,
    weight: number,
    increment = false,
  ): void {
    const second = Math.floor(this.#clock.now() / 1000);
    if (second > this.#second) this.#advance(second);
    const keyBytes = key === null ? 0 : key.length;
    const log = this.#log;
    if (keyBytes > LOG_MAX_KEY_BYTES) {
      // Too long to log: fold it in now, after what came before it.
      log.drain(this.#folder);
      this.#folder.fold(
        shard,
        node,
        tenant,
        key,
        isWrite,
        bytesIn,
        bytesOut,
        latencyMicros,
        outcome,
        weight,
        increment,
      );
      return;
    }
    if (!log.fits(keyBytes)) log.drain(this.#folder);
    log.append(
      shard,
      node,
      tenant,
      key,
      isWrite,
      bytesIn,
      bytesOut,
      latencyMicros,
      outcome,
      weight,
      increment,
    );
  }

  /**
   * One completed request, counted and measured (weight 1): for callers that
   * see every request at a rate where measuring each is affordable
   * (simulations, tests). The router's hot path uses count/sample/measure.
   */
  record(
    shard: number,
    node: number,
    tenant: number,
    key: Uint8Array | null,
    isWrite: boolean,
    bytesIn: number,
    bytesOut: number,
    latencyMicros: number,
    outcome: Outcome,
    increment = false,
  ): void {
    // Measure first: it moves the rings to the clock's second, where the count then lands.
    this.measure(shard, node, tenant, key, isWrite, bytesIn, bytesOut, latencyMicros, outcome, 1, increment);
    this.count(shard, node, tenant, isWrite);
  }

  /** Hot path: a measured request was sent to a shard on a node (in-flight gauges up by its weight). */
  begin(shard: number, node: number, weight = 1): void {
    this.#shards.begin(shard, weight);
    this.#nodes.begin(node, weight);
  }

  /** Hot path: its reply arrived (in-flight gauges down by the same weight). */
  end(shard: number, node: number, weight = 1): void {
    this.#shards.end(shard, weight);
    this.#nodes.end(node, weight);
  }

  /** The current second (ms since the epoch / 1000, floored), after moving to the clock. */
  get second(): number {
    this.#sync();
    return this.#second;
  }

  /** The last whole second windows cover. */
  get lastCompleteSecond(): number {
    return this.second - 1;
  }

  /** The counters of one kind (read side). */
  counters(kind: EntityKind): EntityCounters {
    this.#sync();
    return kind === 'shard' ? this.#shards : kind === 'node' ? this.#nodes : this.#tenants;
  }

  /**
   * Also hands every measured keyed request to `sink` (see KeySink), or stops
   * with undefined. Measured requests are all of them up to the sample
   * budget and a weighted sample above, so a sink costs at most a few
   * thousand calls a second whatever the load.
   */
  set keySink(sink: KeySink | undefined) {
    this.#sync();
    this.#folder.sink = sink;
    sink?.advanceTo(this.#second);
  }

  /** The heavy-hitter sketches (read side). */
  get keys(): HeavyHitters {
    this.#sync();
    return this.#keys;
  }

  /** Per-second stats of one entity over the last `seconds` whole seconds, oldest first. */
  series(kind: EntityKind, id: string, seconds: number): SecondStats[] {
    const c = this.counters(kind);
    const e = c.find(id);
    const n = clamp(seconds, c.seconds);
    const out: SecondStats[] = [];
    for (let sec = this.#second - n; sec < this.#second; sec++) {
      const v = (f: Field): number => (e === undefined ? 0 : c.value(e, f, sec));
      out.push({
        t: sec * 1000,
        reads: v(Field.Reads),
        writes: v(Field.Writes),
        bytesIn: v(Field.BytesIn),
        bytesOut: v(Field.BytesOut),
        errors: v(Field.Errors),
        shed: v(Field.Shed),
        inflightMax: v(Field.InflightMax),
        p50Ms: v(Field.P50) / 1000,
        p99Ms: v(Field.P99) / 1000,
        p999Ms: v(Field.P999) / 1000,
      });
    }
    return out;
  }

  /**
   * The most requests `id` was sent in one whole second of the last
   * `seconds`, shed ones aside: for a node of unknown capacity, what it has
   * shown it can serve (src/mitigate/fair-share.ts).
   */
  peakRate(kind: EntityKind, id: string, seconds: number): number {
    const c = this.counters(kind);
    const e = c.find(id);
    if (e === undefined) return 0;
    let peak = 0;
    for (let sec = Math.max(0, this.#second - clamp(seconds, c.seconds)); sec < this.#second; sec++) {
      const ops = c.value(e, Field.Reads, sec) + c.value(e, Field.Writes, sec) - c.value(e, Field.Shed, sec);
      if (ops > peak) peak = ops;
    }
    return peak;
  }

  /** Per-second stats of one shard (see `series`). */
  shardSeries(id: string, seconds: number): SecondStats[] {
    return this.series('shard', id, seconds);
  }

  /**
   * Every entity of a kind over the last `seconds` whole seconds (at most the
   * ring). With `withCurrent` the window slides: it ends now and is still
   * `seconds` long, the current partial second in full and the oldest whole
   * second weighted by the part of it the window covers (1 − the elapsed
   * fraction; its requests taken as spread evenly over it). So a steady
   * rate reads the same at any point of a second, and a spike shows within
   * its first second at its share of the window, undiluted by time before
   * it (a window of `seconds` plus the elapsed fraction read a spike in its
   * first second at under half its rate). Latency percentiles cover the
   * whole seconds and the partial one, unweighted.
   */
  window(kind: EntityKind, seconds: number, withCurrent = false): Map<string, EntityWindow> {
    const c = this.counters(kind);
    const whole = clamp(seconds, c.seconds);
    const f = withCurrent ? this.#elapsedFraction() : 0;
    const oldest = this.#second - whole;
    const out = new Map<string, EntityWindow>();
    const q = [0, 0, 0, 0];
    // A loop, not names.forEach with a closure: this runs every detector tick
    // (see rankKeys on closures made per call).
    const names = c.names;
    for (let e = 0; e < names.length; e++) {
      const id = names[e]!;
      if (id === '') continue; // a released tenant slot
      const t = c.totals(e, whole, withCurrent);
      let timed = 0;
      if (t.reads + t.writes === 0 && t.latencySum === 0) {
        q.fill(0); // nothing sent or answered in the window: no histogram to read
      } else {
        // Ranks from the histogram's own count: a window longer than the fine
        // ring starts at a 10 s boundary, so it may hold a few seconds more.
        const h = c.latency(e, whole, withCurrent);
        for (let i = 0; i < h.length; i++) timed += h[i]!;
        percentilesOf(h, 0, timed, WINDOW_PERCENTILES, q);
      }
      // Less the part of the oldest second the sliding window no longer covers.
      const reads = t.reads - uncovered(c, e, Field.Reads, oldest, f);
      const writes = t.writes - uncovered(c, e, Field.Writes, oldest, f);
      const shed = t.shed - uncovered(c, e, Field.Shed, oldest, f);
      let measured = timed + shed + t.untimed - uncovered(c, e, Field.Untimed, oldest, f);
      if (f > 0 && timed > 0) {
        // The oldest second's latency samples: its histogram, as the window's.
        const inOldest =
          histogramCount(c.latency(e, whole)) - (whole > 1 ? histogramCount(c.latency(e, whole - 1)) : 0);
        measured -= f * inOldest;
      }
      const sentPerMeasured = measured > 0 && reads + writes > 0 ? (reads + writes) / measured : 1;
      out.set(id, {
        id,
        seconds: whole,
        requests: reads + writes,
        sentPerMeasured,
        reads: reads / whole,
        writes: writes / whole,
        bytesIn: (t.bytesIn - uncovered(c, e, Field.BytesIn, oldest, f)) / whole,
        bytesOut: (t.bytesOut - uncovered(c, e, Field.BytesOut, oldest, f)) / whole,
        errors: (t.errors - uncovered(c, e, Field.Errors, oldest, f)) / whole,
        shed: shed / whole,
        meanMs: t.timed === 0 ? 0 : t.latencySum / t.timed / 1000,
        p50Ms: q[0]! / 1000,
        p95Ms: q[1]! / 1000,
        p99Ms: q[2]! / 1000,
        p999Ms: q[3]! / 1000,
        inflight: c.inflight(e),
        inflightMax: t.inflightMax,
      });
    }
    return out;
  }

  /**
   * The heaviest keys over the last `seconds` whole seconds (at most the
   * sketch window), as rates per second, ranked by `by` (default reads +
   * writes). With `withCurrent` the window slides as in `window`.
   */
  topKeys(seconds: number, limit = this.topK, by: RankBy = 'ops', withCurrent = false): TopKey[] {
    const hh = this.keys;
    const whole = clamp(seconds, hh.seconds);
    const n = whole;
    // Sliding: the oldest whole second counts for the part of it still in the window.
    const oldestWeight = withCurrent ? 1 - this.#elapsedFraction() : 1;
    return hh.topKeys(whole, limit, by, withCurrent, oldestWeight).map((k) => ({
      key: k.key,
      truncated: k.truncated,
      reads: k.reads / n,
      writes: k.writes / n,
      bytes: k.bytes / n,
      error: (k.readsError + k.writesError) / n,
      readsError: k.readsError / n,
      writesError: k.writesError / n,
      bytesError: k.bytesError / n,
    }));
  }

  /**
   * A key's writes and, of them, a counter's increments (INCR, INCRBY, DECR,
   * DECRBY), per second over the last `seconds` (sliding, as `topKeys` with
   * `withCurrent`): whether a write-hot key is a counter, for the planner
   * (its `commandMix` input). null when no write of the key was seen. The
   * increments are a Count-Min estimate, at or above the truth, and never
   * read above the writes.
   */
  commandMix(key: Buffer, seconds: number): { increments: number; writes: number } | null {
    const hh = this.keys;
    const whole = clamp(seconds, hh.seconds);
    const oldestWeight = 1 - this.#elapsedFraction();
    const writes = hh.estimate(key, whole, true, oldestWeight).writes;
    if (!(writes > 0)) return null;
    const increments = Math.min(writes, hh.increments(key, whole, true, oldestWeight));
    return { increments: increments / whole, writes: writes / whole };
  }

  /**
   * A key's reads and writes per second now: its counts since the last call
   * that remembered it (200 ms to 1.1 s ago: the detector's previous tick),
   * else over the current partial second once it is 250 ms long, else over
   * the last 500 ms (the tail of the previous second taken as spread evenly
   * over it). The sliding 1-s window reads a key that began 500 ms ago at
   * half its rate, and a key written and then read as still mostly written
   * for most of a second; this reads it as it is, with more sampling noise.
   * Remembers the key's counts for the next call at least 200 ms later.
   */
  recentKeyRates(key: Buffer): { readonly reads: number; readonly writes: number } {
    const f = this.#elapsedFraction();
    const now = this.#clock.now();
    const hh = this.keys;
    const id = key.toString('latin1');
    const m = this.#recent.get(id);
    const dt = m === undefined ? 0 : (now - m.at) / 1000;
    let rates: { reads: number; writes: number };
    if (m !== undefined && dt >= 0.1 && dt <= 1.1 && this.#second - m.second < hh.seconds) {
      const since = hh.estimate(key, this.#second - m.second, true);
      rates = {
        reads: Math.max(0, since.reads - m.reads) / dt,
        writes: Math.max(0, since.writes - m.writes) / dt,
      };
    } else {
      const span = f >= 0.25 ? f : 0.5;
      const last = hh.estimate(key, 1, true, span - f);
      rates = { reads: last.reads / span, writes: last.writes / span };
    }
    if (m === undefined || dt >= 0.2 || dt < 0) {
      if (this.#recent.size >= 4 * this.topK) this.#forgetRecent(now);
      const current: KeyEstimate = hh.estimate(key, 0, true);
      this.#recent.set(id, { second: this.#second, reads: current.reads, writes: current.writes, at: now });
    }
    return rates;
  }

  /**
   * An entity's requests sent per request measured, now: over the current
   * partial second (with the second before it while the current one is under
   * 250 ms old). `EntityWindow.sentPerMeasured` is the 1-s window's, which
   * the time before a queue began building dilutes: 1.28 where a node
   * sent 7,500/s and answered 5,000/s since 430 ms.
   */
  recentSentPerMeasured(kind: EntityKind, id: string): number {
    const c = this.counters(kind);
    const e = c.find(id);
    if (e === undefined) return 1;
    // Measured: latency samples (recorded as replies arrive), shed and untimed requests.
    const both = c.totals(e, 1, true);
    let sent = both.reads + both.writes;
    let measured = histogramCount(c.latency(e, 1, true)) + both.shed + both.untimed;
    if (this.#elapsedFraction() >= 0.25) {
      const before = c.totals(e, 1);
      sent -= before.reads + before.writes;
      measured -= histogramCount(c.latency(e, 1)) + before.shed + before.untimed;
    }
    return measured > 0 && sent > 0 ? sent / measured : 1;
  }

  // Drops the remembered counts too old to use (keys no longer among the top).
  #forgetRecent(now: number): void {
    for (const [id, m] of this.#recent) if (now - m.at > 1100) this.#recent.delete(id);
    if (this.#recent.size >= 4 * this.topK) this.#recent.clear(); // bounded whoever calls
  }

  /**
   * The rate (ops/s) of the heaviest key in the current second so far, by the
   * sketches: its guaranteed weighted count over the time elapsed in the
   * second (at least `minElapsed` s, so a second's first few ms do not turn
   * one request into a rate). 0 until that key has been sampled about `minSamples` times,
   * so under heavy sampling a cold key seen once or twice, whose weighted
   * count is mostly its weight, does not read as hot. For the monitor's check
   * between quiet ticks (a pass over two SpaceSaving summaries, ≈ 1 µs); the
   * detector's own view is `topKeys`.
   */
  peakKeyRate(minSamples = 4, minElapsed = 0.25): number {
    const hh = this.keys;
    const count = hh.currentPeak();
    // What one sketch update weighs now: this sampler's factor times the sketches' own.
    if (count < minSamples * this.#sampler.factor * hh.sampler.factor) return 0;
    return count / Math.max(minElapsed, this.#elapsedFraction());
  }

  /**
   * Keyed requests, reads, writes and bytes the sketches saw over the last
   * `seconds` whole seconds (weighted estimates under sampling); with
   * `withCurrent` over a sliding window as in `window`. Totals, not rates.
   */
  keyTotals(seconds: number, withCurrent = false): SketchTotals {
    const hh = this.keys;
    return hh.totals(clamp(seconds, hh.seconds), withCurrent, withCurrent ? 1 - this.#elapsedFraction() : 1);
  }

  /** Estimated distinct keys touched in the last `seconds` whole seconds. */
  distinctKeys(seconds: number, withCurrent = false): number {
    const hh = this.keys;
    return hh.distinctKeys(clamp(seconds, hh.seconds), withCurrent);
  }

  /**
   * Which tenants sent the requests of a shard or node over the last
   * `seconds` (the current one included; at most TENANT_MIX_SECONDS), and
   * how many each sent in all: tenant name → { toEntity, total }, weighted
   * estimates from the measured requests (tenant-mix.ts). Tenants that sent
   * nothing to the entity are left out.
   */
  tenantsOf(
    kind: 'shard' | 'node',
    id: string,
    seconds: number,
  ): Map<string, { toEntity: number; total: number }> {
    this.#sync();
    const out = new Map<string, { toEntity: number; total: number }>();
    const entity = (kind === 'shard' ? this.#shards : this.#nodes).find(id);
    if (entity === undefined) return out;
    const to = this.#mix.counts(kind, entity, this.#second, seconds);
    const all = this.#mix.counts(kind, null, this.#second, seconds);
    const names = this.#tenants.names;
    for (let t = 0; t < to.length; t++) {
      const name = names[t];
      if (!(to[t]! > 0) || name === undefined || name === '') continue;
      out.set(name, { toEntity: to[t]!, total: all[t] ?? to[t]! });
    }
    return out;
  }

  /** ms since the epoch, from the telemetry's clock. */
  now(): number {
    return this.#clock.now();
  }

  // How far into the current second the clock is (0..1).
  #elapsedFraction(): number {
    this.#sync();
    return Math.min(1, Math.max(0, (this.#clock.now() - this.#second * 1000) / 1000));
  }

  /**
   * The sketches of the completed seconds ≥ `sinceSecond` (default: all kept),
   * in the binary format, for another router or the control plane to merge.
   * Ship each second once (e.g. remember `lastCompleteSecond` after each export).
   */
  exportSketch(sinceSecond?: number): Buffer {
    return this.keys.encode(sinceSecond);
  }

  /** Adds another router's exported sketches into the same seconds here. */
  mergeSketch(buf: Uint8Array): { merged: number; dropped: number } {
    return this.keys.merge(buf);
  }

  /**
   * Runs `read` on one reading of the clock: every window, series and rate
   * it asks for covers the same seconds, even when a second ends while it
   * runs. Without it, a /metrics scrape that crossed a second read its
   * per-shard ops from one second and its per-node ops from the next, and
   * the two disagreed. Nothing is counted meanwhile (`read` is synchronous).
   */
  consistent<T>(read: () => T): T {
    if (this.#frozen) return read();
    this.#sync();
    this.#frozen = true;
    try {
      return read();
    } finally {
      this.#frozen = false;
    }
  }

  #sync(): void {
    if (this.#frozen) return;
    const second = Math.floor(this.#clock.now() / 1000);
    if (second > this.#second) this.#advance(second);
    else if (this.#log.length > 0) this.#log.drain(this.#folder);
  }

  #advance(second: number): void {
    // What the log holds belongs to the second that is ending.
    if (this.#log.length > 0) this.#log.drain(this.#folder);
    // Choose this second's sampling factor from the requests of the last (one
    // step per second moved).
    for (let s = Math.max(this.#second + 1, second - 1); s <= second; s++) this.#sampler.nextSecond();
    this.#second = second;
    this.#shards.advanceTo(second);
    this.#nodes.advanceTo(second);
    this.#tenants.advanceTo(second);
    this.tenants.rebalance(second);
    this.#keys.advanceTo(second);
    this.#mix.advanceTo(second);
    this.#folder.sink?.advanceTo(second);
  }
}

/** Folds measured requests into the counters and sketches (the measure log's drain target). */
class Folder implements MeasureSink {
  sink: KeySink | undefined;
  constructor(
    readonly shards: EntityCounters,
    readonly nodes: EntityCounters,
    readonly tenants: EntityCounters,
    readonly keys: HeavyHitters,
    readonly mix: TenantMix,
  ) {}

  fold(
    shard: number,
    node: number,
    tenant: number,
    key: Uint8Array | null,
    isWrite: boolean,
    bytesIn: number,
    bytesOut: number,
    latencyMicros: number,
    outcome: number,
    weight: number,
    increment: boolean,
  ): void {
    // A negative latency: measured untimed (a blocking command's wait is not service time).
    const bucket = outcome === Outcome.Shed || latencyMicros < 0 ? -1 : bucketOf(latencyMicros);
    this.shards.add(shard, bytesIn, bytesOut, latencyMicros, outcome, bucket, weight);
    this.nodes.add(node, bytesIn, bytesOut, latencyMicros, outcome, bucket, weight);
    if (tenant >= 0) this.tenants.add(tenant, bytesIn, bytesOut, latencyMicros, outcome, bucket, weight);
    if (key !== null) {
      this.keys.offer(key, isWrite, bytesIn + bytesOut, weight, increment);
      this.sink?.offer(key, isWrite, bytesIn + bytesOut, weight);
    }
    this.mix.add(shard, node, tenant, weight);
  }
}

// Module-level, not closures in `window`'s loop (see rankKeys on closures
// made per call).

/** The fraction `f` of entity e's `field` in whole second `second`: what a sliding window leaves out of it. */
function uncovered(c: EntityCounters, e: number, field: Field, second: number, f: number): number {
  return f === 0 ? 0 : f * c.value(e, field, second);
}

/** Samples in a latency histogram. */
function histogramCount(h: Float64Array): number {
  let n = 0;
  for (let i = 0; i < h.length; i++) n += h[i]!;
  return n;
}

function clamp(seconds: number, max: number): number {
  return Math.max(1, Math.min(Math.floor(seconds), max));
}
