/**
 * Heat history: per shard, per second, its requests (qps), p99, utilization
 * and bytes, for the dashboard's shard × time heatmap.
 *
 * Nothing is counted twice: the last 10 minutes at 1 s are the telemetry's
 * own per-shard rings (counters.ts: exact request counts, bytes and each
 * second's p99), read when asked. What this adds:
 * - each shard's lifetime (seen in a table from, gone at), so a second in
 *   which a shard did not exist reads null, not 0, and shards a split or
 *   merge removed keep their rows;
 * - a longer history in the config store (`heat`, 10-second blocks, a day):
 *   each block is written once it is complete, from the same rings (its p99
 *   from the per-second histograms of the block, so exact to the bucket);
 * - the newest column once a second as the SSE event `heat`, so the page
 *   appends instead of re-fetching.
 *
 * What one cell holds, and the scales, are heat-cells.ts; this file keeps the
 * state (lifetimes, what is stored) and the timer. Over 300 lines: the view's
 * two paths (rings, store) and the lifetimes they both read stay together.
 *
 * Utilization is a shard's requests over its capacity: the shard's own, or
 * its node's (`--capacity`, embedded nodes), as GET /shards shows it; so it
 * is the share of its node a shard uses, and a node's shards add up to the
 * node's utilization. Unknown (Redis nodes without a capacity): null.
 */
import { systemClock, type Clock } from '../clock.js';
import type { RoutingTable } from '../keyspace/routing-table.js';
import { shardRow } from '../router/http-server.js';
import type { Router } from '../router/router.js';
import type { HeatSample, HeatStore } from '../store/store.js';
import type { EntityCounters } from '../telemetry/counters.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import type { EventBus } from './events.js';
import {
  addSample,
  BLOCK_SECONDS,
  blockCell,
  coarsen,
  HEAT_UNITS,
  heatScale,
  MAX_COLUMNS,
  round,
  secondCell,
  type HeatCell,
  type HeatMetric,
  type HeatRow,
  type HeatScale,
  type HeatView,
} from './heat-cells.js';

export {
  BLOCK_SECONDS,
  BYTES_SCALE,
  HEAT_METRICS,
  HEAT_UNITS,
  MAX_COLUMNS,
  UNKNOWN_CAPACITY_QPS_SCALE,
  type HeatCell,
  type HeatMetric,
  type HeatRow,
  type HeatScale,
  type HeatView,
} from './heat-cells.js';

/** How long the stored history is kept. */
export const HEAT_RETENTION_MS = 24 * 3600 * 1000;

/** What the history knows of a shard: its place, and when it was in the table (seconds, end exclusive). */
interface Lifetime {
  row: HeatRow;
  capacity: number | null;
  from: number;
  to: number | null;
}

/** How a {@link HeatHistory} is set up. */
export interface HeatHistoryOptions {
  readonly router: Router;
  readonly telemetry: RouterTelemetry;
  readonly sloP99Ms: number;
  /** The capacity of embedded nodes (ops/s), for the qps scale; null when unknown. */
  readonly nodeCapacity: number | null;
  /** Where the 10-second blocks go; none: the history is the last 10 minutes only. */
  readonly store?: HeatStore | undefined;
  /** This router's name in the store (several routers may share one). */
  readonly source?: string;
  /** Where the `heat` column is broadcast each second. */
  readonly bus?: EventBus | undefined;
  readonly clock?: Clock;
  readonly retentionMs?: number;
  /** Told of a failed store write (the block is then missing from the history, not retried). */
  readonly onError?: (err: unknown) => void;
}

/**
 * The heat history of one router.
 *
 * @example
 * const heat = new HeatHistory({ router, telemetry, sloP99Ms: 20, nodeCapacity: 5000, store: store.heat, bus });
 * heat.start(); // a tick a second: lifetimes, the SSE column, stored blocks
 * (await heat.view('utilization', 600)).values[0]; // the first shard's last 600 seconds
 */
export class HeatHistory {
  readonly #o: HeatHistoryOptions;
  readonly #clock: Clock;
  readonly #shards = new Map<string, Lifetime>();
  /** Nodes of stored shards this process never saw (another router's, or before a restart). */
  readonly #storedNodes = new Map<string, string>();
  /** The first second this history watched (earlier columns are null). */
  readonly #started: number;
  #version = -1;
  /** The last second broadcast and the last block stored (its start second). */
  #broadcast: number;
  #stored: number;
  #prunedAt = -Infinity;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<void> | undefined;
  readonly #onTable = (table: RoutingTable): void => this.#observe(table, this.#o.telemetry.second);

  constructor(options: HeatHistoryOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#started = options.telemetry.second;
    this.#broadcast = this.#started - 1;
    this.#stored = Math.floor(this.#started / BLOCK_SECONDS) * BLOCK_SECONDS - BLOCK_SECONDS;
    this.#observe(options.router.table, this.#started);
    // At the change, not at the next tick: a shard gone mid-second is gone from the next second on.
    options.router.onTable.add(this.#onTable);
  }

  /** Ticks once a second until `stop`; the timer does not hold the process. */
  start(intervalMs = 1000): void {
    if (this.#timer !== undefined) return;
    this.#o.router.onTable.add(this.#onTable);
    this.#observe(this.#o.router.table, this.#o.telemetry.second);
    // A throw here must not end the process: it is reported, and the next tick tries again.
    this.#timer = setInterval(() => {
      try {
        void this.tick();
      } catch (err) {
        this.#o.onError?.(err);
      }
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops ticking and following the table, and waits for a tick in progress (its store write). */
  async stop(): Promise<void> {
    this.#o.router.onTable.delete(this.#onTable);
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
  }

  /**
   * Notes table changes, broadcasts the columns completed since the last
   * tick (at most 10), and stores the blocks completed since the last one.
   * Never rejects: a store failure goes to `onError`.
   */
  tick(): Promise<void> {
    const now = this.#o.telemetry.second;
    this.#observe(this.#o.router.table, now);
    const bus = this.#o.bus;
    for (let s = Math.max(this.#broadcast + 1, now - 10); s < now; s++) {
      if (bus !== undefined) bus.broadcast('heat', { shards: this.column(s) }, s * 1000);
    }
    this.#broadcast = Math.max(this.#broadcast, now - 1);
    if (this.#ticking !== undefined) return this.#ticking;
    const due = this.#dueBlocks(now);
    if (due.length === 0) return Promise.resolve();
    this.#ticking = this.#store(due, now).finally(() => (this.#ticking = undefined));
    return this.#ticking;
  }

  /** Every shard with a value in `second`: the `heat` event's body. */
  column(second: number): Record<string, HeatCell> {
    const out: Record<string, HeatCell> = {};
    const counters = this.#o.telemetry.counters('shard');
    for (const [id, life] of this.#shards) {
      const cell = this.#cell(counters, id, life, second);
      if (cell !== null)
        out[id] = {
          qps: round(cell.qps)!,
          p99: round(cell.p99),
          utilization: round(cell.utilization),
          bytes: round(cell.bytes)!,
        };
    }
    return out;
  }

  /** The absolute scale of a metric. */
  scale(metric: HeatMetric): HeatScale {
    return heatScale(metric, this.#o.sloP99Ms, this.#o.nodeCapacity);
  }

  /**
   * The heatmap of the last `seconds`: at 1 s from the telemetry's rings up
   * to their length (600 s), else from the stored 10-second blocks (those
   * not stored yet from the rings), several blocks a column when there would
   * be more than MAX_COLUMNS (a day at 10 s is 8,640 columns a shard).
   */
  async view(metric: HeatMetric, seconds: number): Promise<HeatView> {
    const now = this.#o.telemetry.second;
    this.#observe(this.#o.router.table, now);
    const counters = this.#o.telemetry.counters('shard');
    const fine = seconds <= counters.seconds;
    const blocks = Math.ceil(seconds / BLOCK_SECONDS);
    const perColumn = fine ? 1 : Math.max(1, Math.ceil(blocks / MAX_COLUMNS));
    const stepSeconds = fine ? 1 : perColumn * BLOCK_SECONDS;
    const columns = fine ? seconds : Math.ceil(blocks / perColumn);
    const first = fine
      ? now - seconds
      : Math.floor(now / BLOCK_SECONDS) * BLOCK_SECONDS - columns * stepSeconds;
    const cells = new Map<string, (HeatCell | null)[]>();
    const rowOf = (id: string, length: number): (HeatCell | null)[] => {
      let row = cells.get(id);
      if (row === undefined) cells.set(id, (row = new Array<HeatCell | null>(length).fill(null)));
      return row;
    };
    if (fine) {
      for (const [id, life] of this.#shards) {
        for (let c = 0; c < columns; c++) {
          const cell = this.#cell(counters, id, life, first + c);
          if (cell !== null) rowOf(id, columns)[c] = cell;
        }
      }
    } else {
      const all = columns * perColumn;
      const stored = await this.#stored10(first, all);
      for (const [key, cell] of stored) {
        const [b, id] = splitKey(key);
        rowOf(id, all)[b] = cell;
      }
      // Blocks not in the store yet (the last one or two): from the rings.
      for (let b = 0; b < all; b++) {
        const block = first + b * BLOCK_SECONDS;
        if (block <= this.#stored || block + BLOCK_SECONDS > now || block < now - counters.seconds) continue;
        for (const [id, life] of this.#shards) {
          const cell = this.#block(counters, id, life, block, now);
          if (cell !== null) rowOf(id, all)[b] = cell;
        }
      }
      if (perColumn > 1) for (const [id, row] of cells) cells.set(id, coarsen(row, perColumn));
    }
    const table = this.#o.router.table;
    const ids = table.shards.map((s) => s.id as string);
    const current = new Set(ids);
    for (const id of cells.keys()) if (!current.has(id)) ids.push(id);
    const rows = ids.map(
      (id) =>
        this.#shards.get(id)?.row ?? {
          id,
          node: this.#storedNodes.get(id) ?? '',
          start: null,
          end: null,
          status: 'gone',
        },
    );
    const values = ids.map((id) => {
      const row = cells.get(id);
      return row === undefined
        ? new Array<number | null>(columns).fill(null)
        : row.map((cell) => (cell === null ? null : round(cell[metric])));
    });
    return {
      metric,
      unit: HEAT_UNITS[metric],
      stepMs: stepSeconds * 1000,
      from: first * 1000,
      to: (first + columns * stepSeconds) * 1000,
      rows,
      values,
      scale: this.scale(metric),
    };
  }

  /** The stored blocks of the window, summed over routers: "block index,shard" → cell. */
  async #stored10(first: number, columns: number): Promise<Map<string, HeatCell>> {
    const out = new Map<string, HeatCell>();
    const store = this.#o.store;
    if (store === undefined) return out;
    const samples = await store.list({ from: first * 1000, to: (first + columns * BLOCK_SECONDS) * 1000 });
    for (const s of samples) {
      const c = Math.floor((s.at / 1000 - first) / BLOCK_SECONDS);
      const key = `${c},${s.shard}`;
      if (!this.#shards.has(s.shard)) this.#storedNodes.set(s.shard, s.node);
      out.set(key, addSample(out.get(key), s));
    }
    return out;
  }

  /**
   * Records the shards of a table not seen before (from the current second:
   * requests counted in it before the change show anyway, as counts), and
   * the end of those it no longer has (after the current second).
   */
  #observe(table: RoutingTable, second: number): void {
    if (table.version === this.#version) return;
    this.#version = table.version;
    const present = new Set<string>();
    for (const s of table.shards) {
      present.add(s.id);
      const r = shardRow(this.#o.router, s);
      const row: HeatRow = {
        id: s.id,
        node: s.node,
        start: r.key_range[0],
        end: r.key_range[1],
        status: s.status,
      };
      const life = this.#shards.get(s.id);
      if (life === undefined || life.to !== null)
        this.#shards.set(s.id, { row, capacity: r.capacity, from: life?.from ?? second, to: null });
      else {
        life.row = row;
        life.capacity = r.capacity;
      }
    }
    for (const [id, life] of this.#shards) {
      // Gone past the rings: the stored rows keep its node; its lifetime is no longer needed.
      if (
        life.to !== null &&
        life.to < second - this.#o.telemetry.counters('shard').seconds - BLOCK_SECONDS
      ) {
        this.#storedNodes.set(id, life.row.node);
        this.#shards.delete(id);
        continue;
      }
      if (present.has(id) || life.to !== null) continue;
      life.to = second + 1;
      life.row = { ...life.row, status: 'gone' };
    }
  }

  /** A shard's cell in one whole second, or null when it was not there and nothing was counted. */
  #cell(counters: EntityCounters, id: string, life: Lifetime, second: number): HeatCell | null {
    const cell = secondCell(counters, counters.find(id), second, life.capacity);
    return cell.qps === 0 && !this.#alive(life, second, second + 1) ? null : cell;
  }

  /** A shard's cell over the block starting at `block`, or null as #cell. */
  #block(counters: EntityCounters, id: string, life: Lifetime, block: number, now: number): HeatCell | null {
    const cell = blockCell(counters, counters.find(id), block, now, life.capacity);
    return cell.qps === 0 && !this.#alive(life, block, block + BLOCK_SECONDS) ? null : cell;
  }

  /** Whether the shard was in the table for any of the seconds [from, to) this history watched. */
  #alive(life: Lifetime, from: number, to: number): boolean {
    return to > this.#started && to > life.from && (life.to === null || from < life.to);
  }

  /** Starts of the blocks complete by `now` and not stored yet (within the fine histograms' reach). */
  #dueBlocks(now: number): number[] {
    if (this.#o.store === undefined) return [];
    const due: number[] = [];
    const last = Math.floor(now / BLOCK_SECONDS) * BLOCK_SECONDS - BLOCK_SECONDS;
    for (let b = Math.max(this.#stored + BLOCK_SECONDS, last - 50); b <= last; b += BLOCK_SECONDS)
      due.push(b);
    return due;
  }

  async #store(blocks: number[], now: number): Promise<void> {
    const store = this.#o.store!;
    const counters = this.#o.telemetry.counters('shard');
    const source = this.#o.source ?? 'local';
    const samples: HeatSample[] = [];
    for (const block of blocks) {
      for (const [id, life] of this.#shards) {
        const cell = this.#block(counters, id, life, block, now);
        if (cell === null) continue;
        samples.push({
          at: block * 1000,
          shard: id,
          node: life.row.node,
          source,
          qps: cell.qps,
          p99Ms: cell.p99 ?? 0,
          utilization: cell.utilization,
          bytes: cell.bytes,
        });
      }
    }
    // Marked stored before the write: a failed block is reported and left out, not retried forever.
    this.#stored = blocks.at(-1)!;
    try {
      if (samples.length > 0) await store.put(samples);
      const nowMs = this.#clock.now();
      if (nowMs - this.#prunedAt >= 60_000) {
        this.#prunedAt = nowMs;
        await store.prune(nowMs - (this.#o.retentionMs ?? HEAT_RETENTION_MS));
      }
    } catch (err) {
      this.#o.onError?.(err);
    }
  }
}

function splitKey(key: string): [number, string] {
  const comma = key.indexOf(',');
  return [Number(key.slice(0, comma)), key.slice(comma + 1)];
}
