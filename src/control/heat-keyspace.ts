/**
 * Keyspace heat: where in the keyspace requests land, second by second, for
 * the dashboard's keyspace heatmap (position buckets × time, as TiDB's Key
 * Visualizer and Bigtable's Key Visualizer draw it).
 *
 * The keyspace is one axis from 0 to 1:
 * - hash tables: a key's hash position over the hash space (2^32), so the
 *   axis does not move when shards split or move;
 * - range tables: a key's place in key order. Each shard of the table in
 *   force takes an equal part of the axis, in table order, and a key sits
 *   inside its shard's part by its leading bytes (after the prefix its
 *   shard's bounds share) read as a fraction between them. Hash order means
 *   nothing to an operator of a range table, and byte values would crowd
 *   every `user:` key into one bucket; equal parts per shard give the split
 *   ranges the detail. A column is placed by the table in force when it was
 *   recorded.
 *
 * Fed by the telemetry's measured requests (RouterTelemetry.keySink), a batch
 * at a time: every request up to the sample budget, a weighted sample above
 * (each counted with its sampling weight). Each second's column is then
 * scaled so its buckets add up to the exact number of keyed requests the
 * telemetry counted in that second (`exact`): the sample says where requests
 * landed, the counters how many there were. So it costs a hash and a few adds
 * for at most a few thousand requests a second (≈ 120 ns each for hash
 * tables, 250 ns for range, measured), whatever the load, and nothing on the
 * path of a request that is not measured.
 *
 * Kept at FINE_BUCKETS (1,024) per second for `seconds` (600) seconds, 4.9 MB
 * of Float32Array; a view with fewer buckets spreads each fine bucket over
 * the view's buckets it overlaps, in proportion.
 */
import type { RoutingTable } from '../keyspace/routing-table.js';
import { Field } from '../telemetry/counters.js';
import type { KeySink, RouterTelemetry } from '../telemetry/router-telemetry.js';

/** Fine buckets kept per second: the most a view may ask for. */
export const FINE_BUCKETS = 1024;
const HASH_SPACE = 2 ** 32;
/** Leading bytes of a range key read as a fraction of its shard (48 bits: exact in a double). */
const FRACTION_BYTES = 6;

/** What a keyspace view counts. */
export type KeyspaceMetric = 'qps' | 'bytes';

/** A keyspace heatmap: values[bucket][column], rates per second. */
export interface KeyspaceView {
  readonly partitioner: 'hash' | 'range';
  readonly buckets: number;
  readonly stepMs: number;
  /** Column c covers [from + c × stepMs, + stepMs), ms since the epoch. */
  readonly from: number;
  readonly to: number;
  /** Where each shard's part of the axis starts, by the table in force. */
  readonly edges: { bucket: number; label: string }[];
  /** The shard of the table in force that owns the middle of each bucket. */
  readonly shardOfBucket: string[];
  readonly values: number[][];
}

/** Per-shard constants of a range table for placing keys on the axis. */
interface RangePart {
  readonly prefix: number;
  readonly low: number;
  readonly span: number;
}

/** The bytes of `b` from `at` as a fraction of 256^FRACTION_BYTES (missing bytes are 0). */
function fractionAt(b: Uint8Array, at: number): number {
  let v = 0;
  for (let i = 0; i < FRACTION_BYTES; i++) v = v * 256 + (b[at + i] ?? 0);
  return v / 256 ** FRACTION_BYTES;
}

function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Keyspace heat of one router.
 *
 * @example
 * const heat = new KeyspaceHeat(() => router.table);
 * telemetry.keySink = heat;
 * heat.view('qps', 1000, 600, telemetry.second).values[0]; // bucket 0, oldest second first
 */
export class KeyspaceHeat implements KeySink {
  readonly seconds: number;
  readonly #slots: number;
  readonly #table: () => RoutingTable;
  readonly #ops: Float32Array;
  readonly #bytes: Float32Array;
  /** Sampled weight per second (the column's sum before scaling). */
  readonly #weights: Float64Array;
  readonly #exact: ((second: number) => number) | undefined;
  #second = -1;
  #base = 0;
  /** The table the range parts were computed for. */
  #placed: RoutingTable | undefined;
  #parts: RangePart[] = [];

  /**
   * `exact(second)`: keyed requests counted in that whole second (the
   * telemetry's shard counters); without it columns are the weighted sample
   * as it is (unbiased, not exact).
   */
  constructor(table: () => RoutingTable, seconds = 600, exact?: (second: number) => number) {
    if (!Number.isInteger(seconds) || seconds < 1)
      throw new RangeError(`keyspace heat: seconds must be a positive integer, got ${seconds}`);
    this.#table = table;
    this.#exact = exact;
    this.#weights = new Float64Array(seconds + 1);
    this.seconds = seconds;
    this.#slots = seconds + 1;
    this.#ops = new Float32Array(this.#slots * FINE_BUCKETS);
    this.#bytes = new Float32Array(this.#slots * FINE_BUCKETS);
  }

  /** The current second (-1 before the first). */
  get second(): number {
    return this.#second;
  }

  /** Moves to `second`, zeroing the slots it enters (earlier seconds are ignored). */
  advanceTo(second: number): void {
    const old = this.#second;
    if (second <= old) return;
    for (let s = Math.max(old + 1, second - this.#slots + 1); s <= second; s++) {
      const at = (s % this.#slots) * FINE_BUCKETS;
      this.#ops.fill(0, at, at + FINE_BUCKETS);
      this.#bytes.fill(0, at, at + FINE_BUCKETS);
      this.#weights[s % this.#slots] = 0;
    }
    this.#second = second;
    this.#base = (second % this.#slots) * FINE_BUCKETS;
  }

  /** One measured request on `key`, counted `weight` times, in the current second. */
  offer(key: Uint8Array, _isWrite: boolean, bytes: number, weight: number): void {
    if (this.#second < 0) return;
    const b = this.#bucketOf(key);
    this.#ops[this.#base + b]! += weight;
    this.#bytes[this.#base + b]! += bytes * weight;
    this.#weights[this.#second % this.#slots]! += weight;
  }

  /** The fine bucket of a key (0..FINE_BUCKETS-1) under the table in force. */
  #bucketOf(key: Uint8Array): number {
    const table = this.#table();
    const p = table.partitioner;
    if (p.kind === 'hash') return (p.position(key as Buffer) as number) >>> 22;
    if (this.#placed !== table) this.#place(table);
    const i = table.indexFor(key as Buffer);
    const part = this.#parts[i]!;
    let f = part.span > 0 ? (fractionAt(key, part.prefix) - part.low) / part.span : 0;
    f = f < 0 ? 0 : f >= 1 ? 0.999999 : f;
    const b = Math.floor(((i + f) / this.#parts.length) * FINE_BUCKETS);
    return b >= FINE_BUCKETS ? FINE_BUCKETS - 1 : b;
  }

  #place(table: RoutingTable): void {
    this.#placed = table;
    this.#parts = table.shards.map((s) => {
      const start = s.start as Buffer;
      if (s.end === null) return { prefix: 0, low: fractionAt(start, 0), span: 1 - fractionAt(start, 0) };
      const end = s.end as Buffer;
      const prefix = commonPrefix(start, end);
      const low = fractionAt(start, prefix);
      return { prefix, low, span: fractionAt(end, prefix) - low };
    });
  }

  /**
   * The last `seconds` whole seconds before `now` (a second, as the
   * telemetry counts them) in `buckets` buckets; seconds outside the ring
   * read 0.
   */
  view(metric: KeyspaceMetric, buckets: number, seconds: number, now: number): KeyspaceView {
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > FINE_BUCKETS)
      throw new RangeError(`buckets must be an integer from 1 to ${FINE_BUCKETS}, got ${buckets}`);
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > this.seconds)
      throw new RangeError(`seconds must be an integer from 1 to ${this.seconds}, got ${seconds}`);
    this.advanceTo(now);
    const src = metric === 'qps' ? this.#ops : this.#bytes;
    const values = Array.from({ length: buckets }, () => new Array<number>(seconds).fill(0));
    const first = this.#second - seconds;
    const ratio = buckets / FINE_BUCKETS;
    for (let c = 0; c < seconds; c++) {
      const sec = first + c;
      if (sec < 0 || sec < this.#second - this.seconds) continue;
      const base = (sec % this.#slots) * FINE_BUCKETS;
      // Requests are scaled to the exact count; bytes per request stay the sample's.
      const sampled = this.#weights[sec % this.#slots]!;
      const exact = this.#exact?.(sec);
      const scale = exact === undefined || sampled <= 0 ? 1 : exact / sampled;
      for (let i = 0; i < FINE_BUCKETS; i++) {
        const v = src[base + i]! * scale;
        if (v === 0) continue;
        // The fine bucket's share of each view bucket it overlaps.
        const lo = i * ratio;
        const hi = lo + ratio;
        for (let j = Math.floor(lo); j < hi && j < buckets; j++) {
          const overlap = Math.min(hi, j + 1) - Math.max(lo, j);
          if (overlap > 0) values[j]![c]! += (v * overlap) / ratio;
        }
      }
    }
    for (const row of values) for (let c = 0; c < row.length; c++) row[c] = round(row[c]!);
    const table = this.#table();
    return {
      partitioner: table.partitioner.kind,
      buckets,
      stepMs: 1000,
      from: first * 1000,
      to: this.#second * 1000,
      ...layout(table, buckets),
      values,
    };
  }
}

/**
 * The keyed requests the telemetry counted in a whole second (every shard's
 * reads and writes): what a KeyspaceHeat scales its columns to.
 */
export function keyedRequests(telemetry: RouterTelemetry): (second: number) => number {
  return (second) => {
    const c = telemetry.counters('shard');
    let n = 0;
    for (let e = 0; e < c.names.length; e++)
      n += c.value(e, Field.Reads, second) + c.value(e, Field.Writes, second);
    return n;
  };
}

/** Edges and owners of the buckets under `table`. */
function layout(
  table: RoutingTable,
  buckets: number,
): { edges: { bucket: number; label: string }[]; shardOfBucket: string[] } {
  const p = table.partitioner;
  const n = table.shards.length;
  const edges = table.shards.map((s, i) => ({
    bucket:
      p.kind === 'hash'
        ? Math.floor(((s.start as number) / HASH_SPACE) * buckets)
        : Math.floor((i / n) * buckets),
    label: p.format(s.start),
  }));
  const shardOfBucket: string[] = [];
  for (let j = 0; j < buckets; j++) {
    const mid = (j + 0.5) / buckets;
    shardOfBucket.push(
      p.kind === 'hash'
        ? table.shardAt(Math.floor(mid * HASH_SPACE)).id
        : table.shards[Math.min(n - 1, Math.floor(mid * n))]!.id,
    );
  }
  return { edges, shardOfBucket };
}

/** Rates to 3 decimals: the page draws colours, and 600,000 cells add up in JSON. */
function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
