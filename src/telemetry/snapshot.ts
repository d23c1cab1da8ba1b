/**
 * Builds the detector's per-tick input (detect/snapshot.ts) from router
 * telemetry plus what only the routing table and backends know: where each
 * shard lives, its key range and capacity, and backend queue depths.
 */
import type { EntityLoad, KeyLoad, ShardLoad, TickSnapshot } from '../detect/snapshot.js';
import type { EntityWindow, RouterTelemetry } from './router-telemetry.js';

/** Where a shard lives and what it covers, from the routing table. */
export interface ShardPlacement {
  readonly node: string;
  /** The key range as text [start, end); end null = end of keyspace. */
  readonly range: readonly [string, string | null];
  /** ops/s the shard can serve, when known. */
  readonly capacity?: number | null;
  /** Requests queued at the backend for this shard (default: the router's in-flight gauge). */
  readonly queueDepth?: number;
}

/** Capacity and queue of a node, when known. */
export interface NodePlacement {
  readonly capacity?: number | null;
  readonly queueDepth?: number;
}

/** What `buildSnapshot` needs besides the telemetry. */
export interface SnapshotOptions {
  /** Window length in whole seconds. Key data covers at most the sketch window. */
  readonly windowSeconds: number;
  /** The latency objective (ms) copied into the snapshot. */
  readonly sloP99Ms: number;
  /** The shards of the routing table in force; shards not listed are left out. */
  readonly shards: ReadonlyMap<string, ShardPlacement>;
  readonly nodes?: ReadonlyMap<string, NodePlacement>;
  /** Where a key lives now. */
  readonly locate: (key: Buffer) => { readonly shard: string; readonly node: string };
  /** Top keys to include (default: telemetry.topK). */
  readonly topKeys?: number;
  /**
   * Include the current, partial second (default false): the window then ends
   * now rather than at the last whole second and slides (still
   * `windowSeconds` long, see RouterTelemetry.window), so a spike shows
   * within its first second.
   */
  readonly withCurrent?: boolean;
}

/** How far back a node of unknown capacity's peak rate is looked for (EntityLoad.peakOps). */
const PEAK_SECONDS = 60;

/**
 * The detector's view of the last `windowSeconds` whole seconds.
 *
 * @example
 * const snap = buildSnapshot(telemetry, {
 *   windowSeconds: 5, sloP99Ms: 10, shards: placements,
 *   locate: (key) => { const s = table.shardFor(key); return { shard: s.id, node: s.node }; },
 * });
 */
export function buildSnapshot(telemetry: RouterTelemetry, options: SnapshotOptions): TickSnapshot {
  const seconds = Math.max(1, Math.floor(options.windowSeconds));
  const current = options.withCurrent ?? false;
  const now = current ? telemetry.now() : (telemetry.lastCompleteSecond + 1) * 1000;
  const shardWindows = telemetry.window('shard', seconds, current);
  const nodeWindows = telemetry.window('node', seconds, current);
  const tenantWindows = telemetry.window('tenant', seconds, current);

  const shards: ShardLoad[] = [];
  for (const [id, p] of options.shards) {
    const w = shardWindows.get(id);
    shards.push({ ...load(id, w, p.capacity ?? null, p.queueDepth), node: p.node, range: p.range });
  }
  const nodeIds = new Set<string>(nodeWindows.keys());
  for (const p of options.shards.values()) nodeIds.add(p.node);
  const nodes: EntityLoad[] = [...nodeIds].sort().map((id) => {
    const p = options.nodes?.get(id);
    const l = load(id, nodeWindows.get(id), p?.capacity ?? null, p?.queueDepth);
    return l.utilization !== null ? l : { ...l, peakOps: telemetry.peakRate('node', id, PEAK_SECONDS) };
  });
  const tenants: EntityLoad[] = [...tenantWindows.values()].map((w) => load(w.id, w, null, undefined));

  // The sketches count a request when it is measured, as its reply arrives;
  // shards, nodes and tenants count it when it is sent. While a node's queue
  // builds up the first lag the second (a key taking 3,500 of its shard's
  // 4,000 sent ops/s read as 3,000), so a hot key explained less of its
  // shard and tenant than it carried. Each key's estimate is put on the
  // sent footing with its shard's ratio of sent to measured requests (the
  // key's share of what its shard measured, times what the shard sent).
  const keySeconds = Math.min(seconds, telemetry.keys.seconds);
  let sent = 0;
  let measured = 0;
  for (const w of shardWindows.values()) {
    sent += w.requests;
    measured += w.requests / w.sentPerMeasured;
  }
  // A key's recent rate is put on the sent footing with its shard's ratio now.
  const lags = new Map<string, number>();
  const recentLag = (shard: string): number => {
    let lag = lags.get(shard);
    if (lag === undefined) lags.set(shard, (lag = telemetry.recentSentPerMeasured('shard', shard)));
    return lag;
  };
  const topKeys: KeyLoad[] = telemetry
    .topKeys(keySeconds, options.topKeys ?? telemetry.topK, 'ops', current)
    .map((k) => {
      const at = options.locate(k.key);
      const lag = shardWindows.get(at.shard)?.sentPerMeasured ?? 1;
      return {
        key: keyText(k.key, k.truncated),
        shard: at.shard,
        node: at.node,
        reads: k.reads * lag,
        writes: k.writes * lag,
        bytes: k.bytes * lag,
        error: k.error * lag,
        ...(current && !k.truncated ? recentOf(telemetry.recentKeyRates(k.key), recentLag(at.shard)) : {}),
      };
    });
  const totals = telemetry.keyTotals(keySeconds, current);
  return {
    now,
    windowMs: seconds * 1000,
    shards,
    nodes,
    tenants,
    topKeys,
    distinctKeys: telemetry.distinctKeys(keySeconds, current),
    totalKeyOps: (totals.requests / keySeconds) * (measured > 0 ? sent / measured : 1),
    sloP99Ms: options.sloP99Ms,
  };
}

function load(
  id: string,
  w: EntityWindow | undefined,
  capacity: number | null,
  queueDepth: number | undefined,
): EntityLoad {
  const ops = w === undefined ? 0 : w.reads + w.writes;
  return {
    id,
    reads: w?.reads ?? 0,
    writes: w?.writes ?? 0,
    bytes: w === undefined ? 0 : w.bytesIn + w.bytesOut,
    errors: w?.errors ?? 0,
    shed: w?.shed ?? 0,
    p99Ms: w?.p99Ms ?? 0,
    queueDepth: queueDepth ?? w?.inflight ?? 0,
    utilization: capacity !== null && capacity > 0 ? ops / capacity : null,
  };
}

/** A key's recent rates put on the sent footing (`lag`): its rate now and how much of it is reads. */
function recentOf(
  rates: { readonly reads: number; readonly writes: number },
  lag: number,
): Pick<KeyLoad, 'recent' | 'recentReads'> {
  return { recent: (rates.reads + rates.writes) * lag, recentReads: rates.reads * lag };
}

/**
 * A key as readable text: printable ASCII as is, a backslash doubled, other
 * bytes as \xNN; a truncated key ends in "…" (which escaping never produces).
 *
 * @example
 * keyText(Buffer.from('user:1\n')) // "user:1\\x0a"
 */
export function keyText(key: Uint8Array, truncated = false): string {
  let out = '';
  for (const b of key) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return truncated ? `${out}…` : out;
}
