/**
 * Where to split one hot shard, from its measured load: a port of CockroachDB's
 * load-based split finder (pkg/kv/kvserver/split/unweighted_finder.go). A
 * reservoir of request positions is kept as candidate split points; every
 * request recorded afterwards is counted against each candidate as left of it,
 * right of it, or spanning it (a multi-key request with keys on both sides).
 * A candidate is accepted when it divides the load evenly (the hotter side at
 * most `maxHotterShare`) and few requests span it (`maxSpanningShare`); the
 * best is the one with the lowest balance + spanning score, as CockroachDB's.
 *
 * Added to CockroachDB's: each candidate also counts the requests exactly at
 * its position, so when one key (or one hash tag / hash position) carries more
 * of the shard than any split could leave on one side, the finder says so
 * and names it, and the planner takes a key-level action instead.
 *
 * Cost: `record` runs for every sampled request of a watched shard: one
 * compare per candidate (20), no allocation except when a request enters the
 * reservoir (probability size / count, so rarely once warm).
 */
import type { Partitioner, Position } from '../keyspace/partitioner.js';
import { keyText } from '../telemetry/snapshot.js';

/** CockroachDB's splitKeySampleSize. */
export const DEFAULT_CANDIDATES = 20;

/** What a split point must achieve; the defaults are docs/planner.md's. */
export interface SplitCriteria {
  /** Most of the shard's load either side may carry (0.6: 60/40 at worst). CockroachDB: 0.625. */
  readonly maxHotterShare: number;
  /** Most of the requests that may span the point (multi-key commands split in two). CockroachDB: 0.5. */
  readonly maxSpanningShare: number;
  /** Requests a candidate must have seen before it is judged. CockroachDB: 100. */
  readonly minSamples: number;
}

/** Defaults of {@link SplitCriteria}. */
export const DEFAULT_SPLIT_CRITERIA: SplitCriteria = Object.freeze({
  maxHotterShare: 0.6,
  maxSpanningShare: 0.2,
  minSamples: 100,
});

/** Why no split point was found. */
export const SplitRefusal = {
  /** Not enough requests recorded yet. */
  TooFewSamples: 'too-few-samples',
  /** One key (position) carries more than any side may: only a key-level action helps. */
  DominantKey: 'dominant-key',
  /** Too many multi-key requests span every balanced point. */
  Spanning: 'spanning',
  /** No candidate divides the load well enough. */
  Unbalanced: 'unbalanced',
  /** The shard is not being sampled. */
  NotWatched: 'not-watched',
} as const;
/** One of {@link SplitRefusal}. */
export type SplitRefusal = (typeof SplitRefusal)[keyof typeof SplitRefusal];

/** The finder's verdict on a shard. */
export type SplitDecision =
  | {
      readonly ok: true;
      /** The split point: the new right-hand shard starts here. */
      readonly at: Position;
      /** `at` as the partitioner's text. */
      readonly atText: string;
      /** Share of the load left and right of `at` (requests spanning it count on neither side). */
      readonly leftShare: number;
      readonly rightShare: number;
      readonly spanningShare: number;
      /** Requests the chosen candidate was judged on. */
      readonly samples: number;
      readonly reason: string;
    }
  | {
      readonly ok: false;
      readonly code: SplitRefusal;
      readonly reason: string;
      /** DominantKey: the key, as text, and its share of the shard's load. */
      readonly key?: string;
      readonly share?: number;
      readonly samples: number;
    };

interface Candidate {
  readonly pos: Position;
  /** A key seen at `pos`, for the reason (a hash position names no key by itself). */
  key: Buffer;
  left: number;
  right: number;
  spanning: number;
  /** Requests exactly at `pos` (counted on the right as well: the point starts the right half). */
  at: number;
}

const pct = (x: number): string => `${Math.round(x * 100)} %`;

/**
 * Finds a load-based split point for one shard.
 *
 * @example
 * const f = new SplitFinder(hashPartitioner(), 0, 2 ** 31);
 * for (const key of requests) f.record(hashPartitioner().position(key), hashPartitioner().position(key), key);
 * const d = f.decide(); // { ok: true, at, leftShare, rightShare, ... } or { ok: false, code, reason }
 */
export class SplitFinder {
  readonly #p: Partitioner;
  /** The shard's range, [start, end); only points strictly inside can split it. */
  readonly start: Position;
  readonly end: Position | null;
  readonly #size: number;
  readonly #random: () => number;
  // Candidates as parallel arrays, so recording walks typed arrays, not objects: hash positions
  // as numbers (one subtraction per candidate), range positions as Buffers.
  readonly #posNum: Float64Array;
  readonly #posBuf: Buffer[] = [];
  readonly #keys: Buffer[] = [];
  readonly #left: Float64Array;
  readonly #right: Float64Array;
  readonly #spanning: Float64Array;
  readonly #at: Float64Array;
  /** Range positions only: candidate slots sorted by position. */
  readonly #order: Int32Array;
  #filled = 0;
  /** Requests recorded. */
  count = 0;

  constructor(
    partitioner: Partitioner,
    start: Position,
    end: Position | null,
    options: { size?: number; random?: () => number } = {},
  ) {
    const size = options.size ?? DEFAULT_CANDIDATES;
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`size must be an integer >= 1, got ${size}`);
    this.#p = partitioner;
    this.start = start;
    this.end = end;
    this.#size = size;
    this.#random = options.random ?? Math.random;
    this.#posNum = new Float64Array(size);
    this.#left = new Float64Array(size);
    this.#right = new Float64Array(size);
    this.#spanning = new Float64Array(size);
    this.#at = new Float64Array(size);
    this.#order = new Int32Array(size);
  }

  /**
   * One request whose keys in this shard lie at positions `lo`..`hi` (the same value for a
   * single key); `key` is one of them (the one at `lo`). `key` and `lo` may be the caller's
   * reused buffers: what is kept is copied.
   */
  record(lo: Position, hi: Position, key: Buffer): void {
    const n = ++this.count;
    const filled = this.#filled;
    const left = this.#left;
    const right = this.#right;
    if (typeof lo === 'number') {
      const h = hi as number;
      const pos = this.#posNum;
      if (h === lo) {
        for (let i = 0; i < filled; i++) {
          const d = lo - pos[i]!;
          if (d < 0) left[i]!++;
          else {
            right[i]!++;
            if (d === 0) this.#at[i]!++;
          }
        }
      } else {
        for (let i = 0; i < filled; i++) {
          if (h < pos[i]!) left[i]!++;
          else if (lo >= pos[i]!) right[i]!++;
          else this.#spanning[i]!++;
        }
      }
    } else {
      const p = this.#p;
      const pos = this.#posBuf;
      const order = this.#order;
      if (hi === lo || p.compare(hi, lo) === 0) {
        // Key compares are the cost here: binary search the sorted candidates (5 compares for 20, not 20).
        let a = 0;
        let b = filled;
        while (a < b) {
          const m = (a + b) >>> 1;
          if (p.compare(pos[order[m]!]!, lo) <= 0) a = m + 1;
          else b = m;
        }
        for (let k = 0; k < a; k++) right[order[k]!]!++;
        for (let k = a; k < filled; k++) left[order[k]!]!++;
        for (let k = a - 1; k >= 0 && p.compare(pos[order[k]!]!, lo) === 0; k--) this.#at[order[k]!]!++;
      } else {
        for (let i = 0; i < filled; i++) {
          if (p.compare(hi, pos[i]!) < 0) left[i]!++;
          else if (p.compare(lo, pos[i]!) >= 0) right[i]!++;
          else this.#spanning[i]!++;
        }
      }
    }
    // Reservoir sampling (Vitter's algorithm R): every request so far is a candidate with equal chance.
    let slot = filled;
    if (slot >= this.#size) {
      slot = Math.floor(this.#random() * n);
      if (slot >= this.#size) return;
    } else this.#filled++;
    if (typeof lo === 'number') this.#posNum[slot] = lo;
    else {
      this.#posBuf[slot] = Buffer.from(lo);
      this.#sortOrder();
    }
    this.#keys[slot] = Buffer.from(key);
    left[slot] = right[slot] = this.#spanning[slot] = this.#at[slot] = 0;
  }

  /** Candidate slots by position (range positions only); redone when one enters, which is rare once warm. */
  #sortOrder(): void {
    const p = this.#p;
    const pos = this.#posBuf;
    const slots = Array.from({ length: this.#filled }, (_, i) => i).sort((a, b) =>
      p.compare(pos[a]!, pos[b]!),
    );
    this.#order.set(slots);
  }

  /** The candidates as objects, for deciding (rare: once per planner tick). */
  #candidates(): Candidate[] {
    const out: Candidate[] = [];
    for (let i = 0; i < this.#filled; i++) {
      out.push({
        pos: this.#p.kind === 'hash' ? this.#posNum[i]! : this.#posBuf[i]!,
        key: this.#keys[i]!,
        left: this.#left[i]!,
        right: this.#right[i]!,
        spanning: this.#spanning[i]!,
        at: this.#at[i]!,
      });
    }
    return out;
  }

  /** The best split point, or why there is none. */
  decide(criteria: Partial<SplitCriteria> = {}): SplitDecision {
    const c = { ...DEFAULT_SPLIT_CRITERIA, ...criteria };
    const p = this.#p;
    const all = this.#candidates();
    const judged = all.filter((x) => x.left + x.right + x.spanning >= c.minSamples);
    const samples = Math.max(0, ...all.map((x) => x.left + x.right + x.spanning));
    if (judged.length === 0) {
      return {
        ok: false,
        code: SplitRefusal.TooFewSamples,
        reason: `${this.count} requests sampled; a candidate needs ${c.minSamples} before it is judged`,
        samples,
      };
    }
    // One key heavier than a side may be: no point can divide the load (the key lands on one side).
    let dominant: Candidate | null = null;
    let dominantShare = 0;
    for (const x of judged) {
      const share = x.at / (x.left + x.right + x.spanning);
      if (share > dominantShare) [dominant, dominantShare] = [x, share];
    }
    if (dominant !== null && dominantShare > c.maxHotterShare) {
      const key = keyText(dominant.key);
      const where = p.kind === 'hash' ? ` (hash position ${p.format(dominant.pos)})` : '';
      return {
        ok: false,
        code: SplitRefusal.DominantKey,
        reason: `key ${JSON.stringify(key)}${where} carries ${pct(dominantShare)} of the shard's load: split cannot divide it; take a key-level action`,
        key,
        share: dominantShare,
        samples,
      };
    }
    let best: { x: Candidate; score: number } | null = null;
    let inside = 0;
    let spanned = 0;
    for (const x of judged) {
      // The range's own start cannot be a split point: the left half would be empty.
      if (p.compare(x.pos, this.start) <= 0 || (this.end !== null && p.compare(x.pos, this.end) >= 0))
        continue;
      inside++;
      const sides = x.left + x.right;
      const spanning = x.spanning / (sides + x.spanning);
      if (spanning > c.maxSpanningShare) spanned++;
      if (sides === 0) continue;
      const balance = Math.abs(x.left - x.right) / sides;
      // Hotter side ≤ maxHotterShare  ⇔  balance ≤ 2·maxHotterShare − 1.
      if (balance > 2 * c.maxHotterShare - 1 || spanning > c.maxSpanningShare) continue;
      const score = balance + spanning;
      if (best === null || score < best.score) best = { x, score };
    }
    if (best === null) {
      // Spans make a side look light (they count on neither): when most candidates are spanned, that is the reason.
      const code = inside > 0 && spanned * 2 > inside ? SplitRefusal.Spanning : SplitRefusal.Unbalanced;
      const heaviest =
        dominant === null
          ? ''
          : `; the heaviest key, ${JSON.stringify(keyText(dominant.key))}, carries ${pct(dominantShare)}`;
      // Nearly every request after every candidate: new keys keep arriving past all of them.
      const appending = judged.every((x) => x.right > 0.95 * (x.left + x.right + x.spanning));
      const reason =
        code === SplitRefusal.Spanning
          ? `most sampled points are spanned by more than ${pct(c.maxSpanningShare)} of requests (multi-key commands with keys on both sides)`
          : appending
            ? `the load keeps landing after every sampled point: keys arrive in increasing order (an append-only tail), which no split divides; move the range whole`
            : `no sampled point leaves at most ${pct(c.maxHotterShare)} of the load on either side${heaviest}`;
      return { ok: false, code, reason, samples };
    }
    const { x } = best;
    const total = x.left + x.right + x.spanning;
    const leftShare = x.left / total;
    const rightShare = x.right / total;
    return {
      ok: true,
      at: x.pos,
      atText: p.format(x.pos),
      leftShare,
      rightShare,
      spanningShare: x.spanning / total,
      samples: total,
      reason: `split at ${JSON.stringify(p.format(x.pos))} divides the load ${pct(leftShare)} / ${pct(rightShare)}, ${pct(x.spanning / total)} of requests span it`,
    };
  }
}
