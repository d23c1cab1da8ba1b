/**
 * The one object a router feeds on its hot path, and the detector's source:
 * per-shard, per-node and per-tenant counters in 1-second rings, and per-key
 * heavy-hitter sketches.
 *
 * Hot path (`record`, `begin`, `end`): no allocation, no Map lookup. The
 * router resolves shard, node and tenant names to indexes once (when a routing
 * table is installed or a tenant authenticates) and passes integers. `record`
 * reads the clock once when the request was timed; the first such call in a
 * new second rotates the rings (zeroing slots with `fill`, allocation-free).
 * Above DEFAULT_LATENCY_BUDGET requests/s only a sample is timed.
 *
 * Read side (windows, series, top keys, export): allocates freely. Every read
 * first moves the rings to the clock's current second, and covers whole seconds
 * that ended before it, so a window of N seconds is exactly N complete seconds
 * and its rates are totals / N.
 */
import { systemClock, type Clock } from '../clock.js';
import { EntityCounters, Field } from './counters.js';
import { bucketOf, percentileOf } from './histogram.js';
import { AdaptiveSampler } from './sketches/sampler.js';
import { HeavyHitters, type HeavyHittersOptions, type RankBy } from './sketches/heavy-hitters.js';

/**
 * Sketch updates per second before sampling starts, unless configured: at
 * ≈ 250 ns per update that is ≈ 0.5 % of a core. Counts are exact up to 20 k
 * requests/s; above, each request is kept with probability 1/s and weighted s
 * (unbiased, relative standard error √((s−1)/n) for a key with n requests),
 * which at a hot key's ≥ 1,000 ops/s stays well inside what detection needs.
 * Measured by `npm run bench:telemetry`: at 50 k the sketches alone cost the
 * proxy ~6 % of its CPU at 190 k req/s.
 */
export const DEFAULT_SKETCH_BUDGET = 20_000;

/**
 * Requests timed per second before latency sampling starts, unless configured.
 * Below it every request is timed; above, each is timed with probability 1/s
 * and its latency counted with weight s (the sketch sampler's scheme, see
 * sketches/sampler.ts), so percentiles stay unbiased while counts, bytes,
 * errors and in-flight gauges stay exact. s is the smallest power of two with
 * rate / s ≤ budget, so above the budget there are always more than 25 k
 * samples a second to split among the shards. Why sample at all: in a CPU
 * profile at ~230 k req/s (redis-benchmark -P 16), timing every request (two
 * `performance.now()` and a `Date.now()` each) was 3.6 % of the proxy's busy
 * time, before the histogram updates.
 */
export const DEFAULT_LATENCY_BUDGET = 50_000;

/** How a request ended. Shed requests count as demand but add no latency sample. */
export const Outcome = { Ok: 0, Error: 1, Shed: 2 } as const;
/** One outcome. */
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

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
  /** Heavy-hitter sketch shape, window and sampling budget (default budget: DEFAULT_SKETCH_BUDGET). */
  readonly sketch?: HeavyHittersOptions;
  /** Timed requests per second before latency sampling starts (default DEFAULT_LATENCY_BUDGET; Infinity: time all). */
  readonly latencyBudget?: number;
  /** Seed of the latency sampling randomness (default: random). */
  readonly latencySeed?: number;
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
 * t.begin(s, n);
 * // ... the reply arrives 850 µs later:
 * t.end(s, n);
 * t.record(s, n, ten, key, false, 24, 128, 850, Outcome.Ok);
 * t.window('shard', 5).get('s0')?.p99Ms
 */
export class RouterTelemetry {
  readonly topK: number;
  readonly #clock: Clock;
  readonly #shards: EntityCounters;
  readonly #nodes: EntityCounters;
  readonly #tenants: EntityCounters;
  readonly #keys: HeavyHitters;
  readonly #latencySampler: AdaptiveSampler;
  #second = -1;

  constructor(options: RouterTelemetryOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    const ring = { seconds: options.seconds ?? 600, histogramSeconds: options.histogramSeconds ?? 60 };
    this.#shards = new EntityCounters(ring);
    this.#nodes = new EntityCounters(ring);
    this.#tenants = new EntityCounters(ring);
    this.#keys = new HeavyHitters({ budget: DEFAULT_SKETCH_BUDGET, ...options.sketch });
    this.topK = options.topK ?? 64;
    this.#latencySampler = new AdaptiveSampler(
      options.latencyBudget ?? DEFAULT_LATENCY_BUDGET,
      options.latencySeed,
    );
  }

  /** The stable index of a shard id (created on first sight; not for the hot path). */
  shardIndex(id: string): number {
    return this.#shards.index(id);
  }

  /** The stable index of a node id. */
  nodeIndex(id: string): number {
    return this.#nodes.index(id);
  }

  /** The stable index of a tenant name. */
  tenantIndex(name: string): number {
    return this.#tenants.index(name);
  }

  /**
   * Hot path, before sending a request: whether to time it. Returns the
   * weight to pass to `record` with its latency, or 0 for "do not time it"
   * (then pass latency 0 and weight 0). Every request is timed (weight 1) up
   * to the latency budget per second. Allocation-free.
   */
  timeRequest(): number {
    return this.#latencySampler.sample();
  }

  /**
   * Hot path: one completed request. Pass -1 for an entity the request has
   * none of (e.g. no tenant) and `null` for a keyless command.
   * `latencyWeight` is what `timeRequest` returned (default 1: timed, not
   * sampled). Allocation-free.
   *
   * Only timed requests read the clock (a clock read per request was ~1.4 %
   * of the proxy's CPU): an untimed one (`latencyWeight` 0) counts in the
   * ring's current second, which the next timed request or read moves on, so
   * across a second boundary at most one sampling gap of requests (≈ s, tens
   * of µs at the rates where sampling starts) lands in the second before.
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
    latencyWeight = 1,
  ): void {
    let bucket = -1;
    if (latencyWeight > 0) {
      const second = Math.floor(this.#clock.now() / 1000);
      if (second > this.#second) this.#advance(second);
      if (outcome !== Outcome.Shed) bucket = bucketOf(latencyMicros);
    } else if (this.#second < 0) this.#sync();
    this.#shards.add(shard, isWrite, bytesIn, bytesOut, latencyMicros, outcome, bucket, latencyWeight);
    this.#nodes.add(node, isWrite, bytesIn, bytesOut, latencyMicros, outcome, bucket, latencyWeight);
    if (tenant >= 0)
      this.#tenants.add(tenant, isWrite, bytesIn, bytesOut, latencyMicros, outcome, bucket, latencyWeight);
    if (key !== null) this.#keys.offer(key, isWrite, bytesIn + bytesOut);
  }

  /** Hot path: a request was sent to a shard on a node (in-flight gauges up). */
  begin(shard: number, node: number): void {
    this.#shards.begin(shard);
    this.#nodes.begin(node);
  }

  /** Hot path: its reply arrived (in-flight gauges down). */
  end(shard: number, node: number): void {
    this.#shards.end(shard);
    this.#nodes.end(node);
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

  /** Per-second stats of one shard (see `series`). */
  shardSeries(id: string, seconds: number): SecondStats[] {
    return this.series('shard', id, seconds);
  }

  /**
   * Every entity of a kind over the last `seconds` whole seconds (at most the
   * ring). With `withCurrent`, the current partial second is included and
   * rates are over `seconds` plus the elapsed fraction: detection sees a
   * spike within its first second instead of after it.
   */
  window(kind: EntityKind, seconds: number, withCurrent = false): Map<string, EntityWindow> {
    const c = this.counters(kind);
    const whole = clamp(seconds, c.seconds);
    const n = withCurrent ? whole + this.#elapsedFraction() : whole;
    const out = new Map<string, EntityWindow>();
    c.names.forEach((id, e) => {
      const t = c.totals(e, whole, withCurrent);
      // Ranks from the histogram's own count: a window longer than the fine
      // ring starts at a 10 s boundary, so it may hold a few seconds more.
      const h = c.latency(e, whole, withCurrent);
      let timed = 0;
      for (let i = 0; i < h.length; i++) timed += h[i]!;
      const ms = (p: number): number => percentileOf(h, 0, timed, p) / 1000;
      out.set(id, {
        id,
        seconds: n,
        requests: t.reads + t.writes,
        reads: t.reads / n,
        writes: t.writes / n,
        bytesIn: t.bytesIn / n,
        bytesOut: t.bytesOut / n,
        errors: t.errors / n,
        shed: t.shed / n,
        meanMs: t.timed === 0 ? 0 : t.latencySum / t.timed / 1000,
        p50Ms: ms(50),
        p95Ms: ms(95),
        p99Ms: ms(99),
        p999Ms: ms(99.9),
        inflight: c.inflight(e),
        inflightMax: t.inflightMax,
      });
    });
    return out;
  }

  /**
   * The heaviest keys over the last `seconds` whole seconds (at most the
   * sketch window), as rates per second, ranked by `by` (default reads + writes).
   */
  topKeys(seconds: number, limit = this.topK, by: RankBy = 'ops', withCurrent = false): TopKey[] {
    const hh = this.keys;
    const whole = clamp(seconds, hh.seconds);
    const n = withCurrent ? whole + this.#elapsedFraction() : whole;
    return hh.topKeys(whole, limit, by, withCurrent).map((k) => ({
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

  /** Estimated distinct keys touched in the last `seconds` whole seconds. */
  distinctKeys(seconds: number, withCurrent = false): number {
    const hh = this.keys;
    return hh.distinctKeys(clamp(seconds, hh.seconds), withCurrent);
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

  #sync(): void {
    const second = Math.floor(this.#clock.now() / 1000);
    if (second > this.#second) this.#advance(second);
  }

  #advance(second: number): void {
    // Choose this second's latency sampling factor from the requests of the
    // last (one step per second moved, like the sketch sampler).
    for (let s = Math.max(this.#second + 1, second - 1); s <= second; s++) this.#latencySampler.nextSecond();
    this.#second = second;
    this.#shards.advanceTo(second);
    this.#nodes.advanceTo(second);
    this.#tenants.advanceTo(second);
    this.#keys.advanceTo(second);
  }
}

function clamp(seconds: number, max: number): number {
  return Math.max(1, Math.min(Math.floor(seconds), max));
}
