/**
 * The router's side of load-based splitting: a SplitFinder for each watched
 * shard (one the planner flagged hot), fed from the request path by
 * Instrumentation. A shard nobody watches costs one array read per request;
 * a watched one, a position and one compare per candidate for each sampled
 * request. Above `budget` requests/s per shard only every `stride`-th request
 * is recorded (a power of two, re-chosen at each `tick`): a split point needs
 * a few hundred requests per candidate, not every one of 100k/s.
 *
 * Finders are per shard and range: a new routing table keeps the finder of a
 * shard whose range is unchanged and drops the rest (a split or merge makes
 * the old counts meaningless).
 *
 * One router's view: several routers each keep their own, and each one's
 * decision is on its share of the traffic (a control plane merging them is
 * for later).
 */
import type { Clock } from '../clock.js';
import type { ShardId } from '../keyspace/ids.js';
import type { Partitioner, Position } from '../keyspace/partitioner.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { SplitFinder, SplitRefusal, type SplitCriteria, type SplitDecision } from './split-finder.js';

/** Recorded requests per second per watched shard before striding starts. */
export const DEFAULT_SPLIT_SAMPLE_BUDGET = 2_000;

/** Options of {@link SplitSampler}. */
export interface SplitSamplerOptions {
  readonly clock: Clock;
  /** Candidates per shard (default 20, as CockroachDB). */
  readonly candidates?: number;
  /** Recorded requests per second per shard before striding (default DEFAULT_SPLIT_SAMPLE_BUDGET). */
  readonly budget?: number;
  /** Randomness of the reservoirs (default Math.random). */
  readonly random?: () => number;
}

/** A watched shard's finder and its stride. */
class Watch {
  /** Requests seen since the last tick (recorded or not). */
  seen = 0;
  stride = 1;
  #skip = 1;
  constructor(
    readonly finder: SplitFinder,
    readonly since: number,
  ) {}

  /** True when this request is one to record (every stride-th). */
  take(): boolean {
    this.seen++;
    if (--this.#skip > 0) return false;
    this.#skip = this.stride;
    return true;
  }
}

/**
 * Samples request keys of watched shards for split points.
 *
 * @example
 * const sampler = new SplitSampler({ clock: systemClock });
 * instrumentation.splitSampler = sampler; // Instrumentation records into it
 * sampler.watchOnly([shardId('s3')]);     // what the range planner asks for each tick
 * sampler.decide(shardId('s3'));          // { ok: true, at, ... } once it has seen enough
 */
export class SplitSampler {
  readonly #clock: Clock;
  readonly #size: number;
  readonly #budget: number;
  readonly #random: () => number;
  #table: RoutingTable | null = null;
  #p: Partitioner | null = null;
  /** Watched shards by id. */
  readonly #watches = new Map<ShardId, Watch>();
  readonly #wanted = new Set<ShardId>();
  /** By the shard's place in the table in force; null when nothing is watched (the hot path's only test). */
  #byIndex: (Watch | undefined)[] | null = null;
  #lastTick: number;

  constructor(options: SplitSamplerOptions) {
    const budget = options.budget ?? DEFAULT_SPLIT_SAMPLE_BUDGET;
    if (!(budget > 0)) throw new RangeError(`budget must be > 0, got ${budget}`);
    this.#clock = options.clock;
    this.#size = options.candidates ?? 20;
    this.#budget = budget;
    this.#random = options.random ?? Math.random;
    this.#lastTick = options.clock.now();
  }

  /** The routing table in force changed: keep finders of shards whose range is unchanged. */
  setTable(table: RoutingTable): void {
    const p = table.partitioner;
    this.#table = table;
    this.#p = p;
    for (const [id, w] of this.#watches) {
      const s = table.shard(id);
      const { start, end } = w.finder;
      const same =
        s !== undefined &&
        p.compare(s.start, start) === 0 &&
        (s.end === null || end === null ? s.end === end : p.compare(s.end, end) === 0);
      if (!same) this.#watches.delete(id);
    }
    this.#apply();
  }

  /** Samples exactly these shards from now on (unknown ids are ignored); others stop and forget. */
  watchOnly(shards: Iterable<ShardId>): void {
    this.#wanted.clear();
    for (const s of shards) this.#wanted.add(s);
    for (const id of this.#watches.keys()) if (!this.#wanted.has(id)) this.#watches.delete(id);
    this.#apply();
  }

  /** The shards being sampled. */
  watched(): ShardId[] {
    return [...this.#watches.keys()];
  }

  /** How long (ms) a shard has been sampled, or null when it is not. */
  watchedFor(shard: ShardId): number | null {
    const w = this.#watches.get(shard);
    return w === undefined ? null : this.#clock.now() - w.since;
  }

  /** What a watched shard's sampling has done: requests recorded, its stride, how long it has been watched (ms); null when not watched. */
  stats(shard: ShardId): { recorded: number; stride: number; watchedMs: number } | null {
    const w = this.#watches.get(shard);
    if (w === undefined) return null;
    return { recorded: w.finder.count, stride: w.stride, watchedMs: this.#clock.now() - w.since };
  }

  /** Re-chooses each shard's stride from the requests it saw since the last tick. */
  tick(): void {
    const now = this.#clock.now();
    const elapsed = now - this.#lastTick;
    if (elapsed <= 0) return;
    this.#lastTick = now;
    for (const w of this.#watches.values()) {
      const rate = (w.seen * 1000) / elapsed;
      let stride = 1;
      while (rate / stride > this.#budget) stride *= 2;
      w.stride = stride;
      w.seen = 0;
    }
  }

  /** The split point of a watched shard, or why there is none (yet). */
  decide(shard: ShardId, criteria: Partial<SplitCriteria> = {}): SplitDecision {
    const w = this.#watches.get(shard);
    if (w === undefined)
      return {
        ok: false,
        code: SplitRefusal.NotWatched,
        reason: `shard ${shard} is not being sampled`,
        samples: 0,
      };
    return w.finder.decide(criteria);
  }

  /**
   * Hot path: a single-key request for the shard at `index` of the table in force. Call only
   * when `watching` is non-null and has an entry at `index`.
   */
  recordKey(w: Watch, key: Buffer): void {
    if (!w.take()) return;
    const pos = this.#p!.position(key);
    w.finder.record(pos, pos, key);
  }

  /**
   * Hot path: a multi-key request; `at[i]` is the shard place of its i-th key, `args[1 + i·step]`
   * the key. Each watched shard it touches records one request spanning its keys there.
   */
  recordKeys(at: Int32Array, args: readonly Buffer[], step: number): void {
    const watching = this.#byIndex;
    if (watching === null) return;
    const p = this.#p!;
    for (let i = 0; i < at.length; i++) {
      const w = watching[at[i]!];
      if (w === undefined) continue;
      // Only the first key of each shard in the request starts its span.
      let first = true;
      for (let j = 0; j < i; j++) if (at[j] === at[i]) first = false;
      if (!first || !w.take()) continue;
      const key = args[1 + i * step]!;
      let lo: Position = p.position(key);
      let hi: Position = lo;
      let loKey = key;
      for (let j = i + 1; j < at.length; j++) {
        if (at[j] !== at[i]) continue;
        const k = args[1 + j * step]!;
        const pos = p.position(k);
        if (p.compare(pos, lo) < 0) [lo, loKey] = [pos, k];
        if (p.compare(pos, hi) > 0) hi = pos;
      }
      w.finder.record(lo, hi, loKey);
    }
  }

  /** Watches by the shard's place in the table in force, or null when none: the hot path's test. */
  get watching(): readonly (Watch | undefined)[] | null {
    return this.#byIndex;
  }

  #apply(): void {
    const table = this.#table;
    if (table === null) {
      this.#byIndex = null;
      return;
    }
    for (const id of this.#wanted) {
      const s = table.shard(id);
      if (s === undefined || this.#watches.has(id)) continue;
      const finder = new SplitFinder(table.partitioner, s.start, s.end, {
        size: this.#size,
        random: this.#random,
      });
      this.#watches.set(id, new Watch(finder, this.#clock.now()));
    }
    if (this.#watches.size === 0) {
      this.#byIndex = null;
      return;
    }
    this.#byIndex = table.shards.map((s) => this.#watches.get(s.id));
  }
}

export type { Watch as SplitWatch };
