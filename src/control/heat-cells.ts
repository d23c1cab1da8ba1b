/**
 * The heat history's cells: what one shard did in one second or one
 * 10-second block, read from the telemetry's per-shard rings (counters.ts),
 * or summed from the config store's rows of several routers; the absolute
 * colour scales; and the types GET /heat answers with. Pure functions of
 * their inputs (heat-history.ts keeps the state).
 */
import type { HeatSample } from '../store/store.js';
import { Field, type EntityCounters } from '../telemetry/counters.js';
import { percentilesOf } from '../telemetry/histogram.js';

/** What a heatmap colours. */
export const HEAT_METRICS = ['qps', 'p99', 'utilization', 'bytes'] as const;
/** One heat metric. */
export type HeatMetric = (typeof HEAT_METRICS)[number];
/** The unit of each metric. */
export const HEAT_UNITS = { qps: 'ops/s', p99: 'ms', utilization: 'ratio', bytes: 'bytes/s' } as const;

/** Seconds of a block in the stored history. */
export const BLOCK_SECONDS = 10;
/** Most columns a view beyond the rings has: more blocks than that share a column. */
export const MAX_COLUMNS = 1000;
/** The bytes/s scale's top: a 1 Gbit/s link, what one node's NIC commonly carries. */
export const BYTES_SCALE = 125_000_000;
/** The qps scale's top when no node capacity is known: a busy Redis node's order of magnitude. */
export const UNKNOWN_CAPACITY_QPS_SCALE = 100_000;

/** One shard in one column. p99 is null where nothing was measured; utilization where capacity is unknown. */
export interface HeatCell {
  readonly qps: number;
  readonly p99: number | null;
  readonly utilization: number | null;
  readonly bytes: number;
}

/** A row of the heatmap: a shard of the table in force, or one gone in the window (status `gone`). */
export interface HeatRow {
  readonly id: string;
  readonly node: string;
  readonly start: string | null;
  readonly end: string | null;
  readonly status: string;
}

/** An absolute colour scale: fixed by capacity and SLO, never by what the view holds. */
export interface HeatScale {
  readonly min: 0;
  readonly max: number;
  readonly why: string;
}

/** GET /heat. */
export interface HeatView {
  readonly metric: HeatMetric;
  readonly unit: (typeof HEAT_UNITS)[HeatMetric];
  readonly stepMs: number;
  readonly from: number;
  readonly to: number;
  readonly rows: HeatRow[];
  readonly values: (number | null)[][];
  readonly scale: HeatScale;
}

/** The absolute scale of a metric: fixed by the SLO, capacity and a link, never by the data. */
export function heatScale(metric: HeatMetric, slo: number, capacity: number | null): HeatScale {
  switch (metric) {
    case 'utilization':
      return {
        min: 0,
        max: 1,
        why: "1 = the shard's capacity (its node's ops/s): above it requests queue",
      };
    case 'p99':
      return { min: 0, max: 2 * slo, why: `twice the p99 SLO (sloP99Ms = ${slo} ms)` };
    case 'bytes':
      return { min: 0, max: BYTES_SCALE, why: 'a 1 Gbit/s link (125 MB/s)' };
    case 'qps':
      return capacity !== null && capacity > 0
        ? { min: 0, max: capacity, why: `a node's capacity (${capacity} ops/s)` }
        : {
            min: 0,
            max: UNKNOWN_CAPACITY_QPS_SCALE,
            why: `no node capacity is configured: ${UNKNOWN_CAPACITY_QPS_SCALE} ops/s, a busy Redis node`,
          };
  }
}

/** Entity `e`'s cell in one whole second (all zeros for an unknown entity). */
export function secondCell(
  c: EntityCounters,
  e: number | undefined,
  second: number,
  capacity: number | null,
): HeatCell {
  if (e === undefined) return { qps: 0, p99: null, utilization: utilization(0, capacity), bytes: 0 };
  const qps = c.value(e, Field.Reads, second) + c.value(e, Field.Writes, second);
  const bytes = c.value(e, Field.BytesIn, second) + c.value(e, Field.BytesOut, second);
  const p99 = qps > 0 ? c.value(e, Field.P99, second) / 1000 : null;
  return { qps, p99, utilization: utilization(qps, capacity), bytes };
}

const q = [0];

/**
 * Entity `e`'s cell over the 10-second block starting at `block`, read at
 * second `now`: rates over the block, p99 from the block's own latency
 * histograms while they are in the fine ring (else the worst second's).
 */
export function blockCell(
  c: EntityCounters,
  e: number | undefined,
  block: number,
  now: number,
  capacity: number | null,
): HeatCell {
  if (e === undefined) return { qps: 0, p99: null, utilization: utilization(0, capacity), bytes: 0 };
  let ops = 0;
  let bytes = 0;
  let worst = 0;
  for (let s = block; s < block + BLOCK_SECONDS; s++) {
    ops += c.value(e, Field.Reads, s) + c.value(e, Field.Writes, s);
    bytes += c.value(e, Field.BytesIn, s) + c.value(e, Field.BytesOut, s);
    worst = Math.max(worst, c.value(e, Field.P99, s));
  }
  let p99: number | null = null;
  if (ops > 0) {
    if (now - block <= c.histogramSeconds) {
      // [block, now) less [block + 10, now): the block's own histogram.
      const all = Float64Array.from(c.latency(e, now - block));
      const after = c.latency(e, now - block - BLOCK_SECONDS);
      let total = 0;
      for (let i = 0; i < all.length; i++) total += all[i]! -= after[i]!;
      percentilesOf(all, 0, total, [99], q);
      p99 = q[0]! / 1000;
    } else p99 = worst / 1000;
  }
  const qps = ops / BLOCK_SECONDS;
  return { qps, p99, utilization: utilization(qps, capacity), bytes: bytes / BLOCK_SECONDS };
}

/** A stored row added to what other routers measured of the same shard and block. */
export function addSample(had: HeatCell | undefined, s: HeatSample): HeatCell {
  if (had === undefined)
    return { qps: s.qps, p99: s.qps > 0 ? s.p99Ms : null, utilization: s.utilization, bytes: s.bytes };
  return {
    qps: had.qps + s.qps,
    // The worst router's: a p99 of a sum cannot be had from the parts.
    p99: s.qps > 0 ? Math.max(had.p99 ?? 0, s.p99Ms) : had.p99,
    utilization:
      had.utilization === null && s.utilization === null
        ? null
        : (had.utilization ?? 0) + (s.utilization ?? 0),
    bytes: had.bytes + s.bytes,
  };
}

export function utilization(qps: number, capacity: number | null): number | null {
  return capacity === null || capacity <= 0 ? null : qps / capacity;
}

/**
 * `n` blocks a column: rates averaged over the blocks the shard was there
 * for, p99 the worst block's; utilization averaged where known.
 */
export function coarsen(row: readonly (HeatCell | null)[], n: number): (HeatCell | null)[] {
  const out: (HeatCell | null)[] = [];
  for (let c = 0; c * n < row.length; c++) {
    let count = 0;
    let qps = 0;
    let bytes = 0;
    let p99: number | null = null;
    let util = 0;
    let utilCount = 0;
    for (const cell of row.slice(c * n, c * n + n)) {
      if (cell === null) continue;
      count++;
      qps += cell.qps;
      bytes += cell.bytes;
      if (cell.p99 !== null) p99 = Math.max(p99 ?? 0, cell.p99);
      if (cell.utilization !== null) {
        util += cell.utilization;
        utilCount++;
      }
    }
    out.push(
      count === 0
        ? null
        : {
            qps: qps / count,
            p99,
            utilization: utilCount === 0 ? null : util / utilCount,
            bytes: bytes / count,
          },
    );
  }
  return out;
}

/**
 * 3 decimals, or 4 significant digits below 1 (a utilization of 3e-5 is not
 * 0): the page draws colours, and 1,024 × 600 cells add up in JSON.
 */
export function round(v: number | null): number | null {
  if (v === null) return null;
  return Math.abs(v) >= 1 || v === 0 ? Math.round(v * 1000) / 1000 : Number(v.toPrecision(4));
}
