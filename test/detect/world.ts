/**
 * Builders of synthetic TickSnapshots for the detector tests: a cluster of
 * shards on nodes with a base load, plus hot keys, load spread over many keys
 * of one shard, tenant shares and per-entity overrides (latency, queues).
 * Nodes and tenants are derived from the shards, so every snapshot is
 * internally consistent.
 */
import type { Detector } from '../../src/detect/detector.js';
import type { DetectorEvent } from '../../src/detect/hotspot.js';
import type { EntityLoad, KeyLoad, ShardLoad, TickSnapshot } from '../../src/detect/snapshot.js';

/** Start of every test's time line. */
export const T0 = 1_700_000_000_000;
/** Tick period the defaults are tuned for. */
export const TICK_MS = 250;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One heavy key. */
export interface HotKeySpec {
  readonly key: string;
  readonly shard: number;
  readonly reads: number;
  readonly writes: number;
  readonly error?: number;
  /** Its rates over the last tick, when they differ from the window's (a key whose traffic just turned). */
  readonly recent?: { readonly reads: number; readonly writes: number };
}

/** Extra load on one shard, spread evenly over many keys (a hot range). */
export interface SpreadSpec {
  readonly shard: number;
  readonly rate: number;
  readonly keys: number;
  readonly readShare?: number;
}

/** What a snapshot looks like; everything but `now` has a default. */
export interface WorldSpec {
  readonly now: number;
  /** Default 16 shards on 4 nodes; shard i lives on node floor(i / (shards / nodes)). */
  readonly shards?: number;
  readonly nodes?: number;
  /** Ops/s of every shard before scaling. Default 1000. */
  readonly baseRate?: number;
  /** Share of reads in the base load. Default 0.8. */
  readonly readShare?: number;
  /** Per-shard multiplier of the base load. */
  readonly scale?: readonly number[];
  readonly hotKeys?: readonly HotKeySpec[];
  readonly spread?: readonly SpreadSpec[];
  /** Tenants' shares of every shard's load. Default four equal tenants. */
  readonly tenantShares?: readonly number[];
  /** Distinct keys of the base load. Default 100,000. */
  readonly distinctKeys?: number;
  /** Multipliers of the 20 ordinary top keys' rates (4x the mean base key). */
  readonly keyScale?: readonly number[];
  /** Default 50. */
  readonly sloP99Ms?: number;
  /** p99 of every entity. Default 5. */
  readonly p99Ms?: number;
  /** Ops/s one node serves (utilization = ops / capacity); null = unknown. Default 100,000 (an idle cluster). */
  readonly capacity?: number | null;
  /** Field overrides by entity id (shard `s<i>`, node `n<i>`, tenant `t<i>`), applied last. */
  readonly set?: Readonly<Record<string, Partial<Mutable<EntityLoad>>>>;
}

const ORDINARY_TOP_KEYS = 20;
const TOP_K = 32;

function entity(id: string, reads: number, writes: number, p99Ms: number): Mutable<EntityLoad> {
  return {
    id,
    reads,
    writes,
    bytes: (reads + writes) * 100,
    errors: 0,
    shed: 0,
    p99Ms,
    queueDepth: 0,
    utilization: null,
  };
}

/** Builds one consistent snapshot. */
export function snapshot(spec: WorldSpec): TickSnapshot {
  const nShards = spec.shards ?? 16;
  const nNodes = spec.nodes ?? 4;
  const perNode = Math.ceil(nShards / nNodes);
  const base = spec.baseRate ?? 1000;
  const readShare = spec.readShare ?? 0.8;
  const p99 = spec.p99Ms ?? 5;
  const capacity = spec.capacity === undefined ? 100_000 : spec.capacity;
  const distinct = spec.distinctKeys ?? 100_000;
  const set = spec.set ?? {};

  const shards: Array<Mutable<ShardLoad>> = [];
  for (let i = 0; i < nShards; i++) {
    const load = base * (spec.scale?.[i] ?? 1);
    shards.push({
      ...entity(`s${i}`, load * readShare, load * (1 - readShare), p99),
      node: `n${Math.floor(i / perNode)}`,
      range: [String(i).padStart(3, '0'), i === nShards - 1 ? null : String(i + 1).padStart(3, '0')],
    });
  }
  const shardAt = (i: number): Mutable<ShardLoad> => {
    const sh = shards[i];
    if (sh === undefined) throw new Error(`no shard ${i}`);
    return sh;
  };

  const baseTotal = shards.reduce((a, sh) => a + sh.reads + sh.writes, 0);
  const meanKey = baseTotal / distinct;
  const keys: KeyLoad[] = [];
  for (let j = 0; j < ORDINARY_TOP_KEYS; j++) {
    const sh = shardAt(j % nShards);
    const rate = 4 * meanKey * (spec.keyScale?.[j] ?? 1);
    keys.push({
      key: `k${j}`,
      shard: sh.id,
      node: sh.node,
      reads: rate * readShare,
      writes: rate * (1 - readShare),
      bytes: rate * 100,
      error: 0,
    });
  }
  let extraDistinct = 0;
  for (const h of spec.hotKeys ?? []) {
    const sh = shardAt(h.shard);
    sh.reads += h.reads;
    sh.writes += h.writes;
    sh.bytes += (h.reads + h.writes) * 100;
    keys.push({
      key: h.key,
      shard: sh.id,
      node: sh.node,
      reads: h.reads,
      writes: h.writes,
      bytes: (h.reads + h.writes) * 100,
      error: h.error ?? 0,
      ...(h.recent === undefined
        ? {}
        : { recent: h.recent.reads + h.recent.writes, recentReads: h.recent.reads }),
    });
    extraDistinct += 1;
  }
  for (const sp of spec.spread ?? []) {
    const sh = shardAt(sp.shard);
    const rs = sp.readShare ?? readShare;
    sh.reads += sp.rate * rs;
    sh.writes += sp.rate * (1 - rs);
    sh.bytes += sp.rate * 100;
    const per = sp.rate / sp.keys;
    for (let j = 0; j < Math.min(sp.keys, TOP_K); j++) {
      keys.push({
        key: `r${sp.shard}:${j}`,
        shard: sh.id,
        node: sh.node,
        reads: per * rs,
        writes: per * (1 - rs),
        bytes: per * 100,
        error: 0,
      });
    }
    extraDistinct += sp.keys;
  }
  const topKeys = keys.sort((a, b) => b.reads + b.writes - (a.reads + a.writes)).slice(0, TOP_K);

  const nodes: Array<Mutable<EntityLoad>> = [];
  for (let n = 0; n < nNodes; n++) {
    const mine = shards.filter((sh) => sh.node === `n${n}`);
    const node = entity(`n${n}`, 0, 0, p99);
    for (const sh of mine) {
      node.reads += sh.reads;
      node.writes += sh.writes;
      node.bytes += sh.bytes;
    }
    node.utilization = capacity === null ? null : (node.reads + node.writes) / capacity;
    nodes.push(node);
  }
  for (const sh of shards) {
    const ops = sh.reads + sh.writes;
    sh.utilization = capacity === null ? null : ops / (capacity / perNode);
  }

  const total = shards.reduce((a, sh) => ({ reads: a.reads + sh.reads, writes: a.writes + sh.writes }), {
    reads: 0,
    writes: 0,
  });
  const shares = spec.tenantShares ?? [0.25, 0.25, 0.25, 0.25];
  const shareSum = shares.reduce((a, b) => a + b, 0);
  const tenants = shares.map((s, i) =>
    entity(`t${i}`, (total.reads * s) / shareSum, (total.writes * s) / shareSum, p99),
  );

  for (const e of [...shards, ...nodes, ...tenants]) Object.assign(e, set[e.id] ?? {});
  return {
    now: spec.now,
    windowMs: 1000,
    shards,
    nodes,
    tenants,
    topKeys,
    distinctKeys: distinct + extraDistinct,
    totalKeyOps: total.reads + total.writes,
    sloP99Ms: spec.sloP99Ms ?? 50,
  };
}

/** Fraction of a load a 1 s window holds `tick - onsetTick` ticks after it began (it fills in 4 ticks). */
export function ramp(tick: number, onsetTick: number): number {
  return tick < onsetTick ? 0 : Math.min(1, (tick - onsetTick + 1) / 4);
}

/** An event with the tick it happened at. */
export type TickedEvent = DetectorEvent & { readonly tick: number };

/** Runs `ticks` ticks 250 ms apart, the spec of each from `world(tick)`; returns every event. */
export function run(
  detector: Detector,
  ticks: number,
  world: (tick: number) => Omit<WorldSpec, 'now'>,
): TickedEvent[] {
  const events: TickedEvent[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    for (const e of detector.tick(snapshot({ ...world(tick), now: T0 + tick * TICK_MS })))
      events.push({ ...e, tick });
  }
  return events;
}

/** The `now` of a tick. */
export const at = (tick: number): number => T0 + tick * TICK_MS;
