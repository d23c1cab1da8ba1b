/**
 * What each planner action predicts, and how the planner measures it a few
 * seconds later (`verifyDelayMs`) to call the action effective or not.
 *
 * The router counts every request for a key as it arrives, before the key's
 * policy serves it (src/router/router.ts: instrumentation, then the policy),
 * so a cached, aggregated or throttled key's demand still shows in its shard's
 * and node's rates: a load share read from telemetry does not move when a
 * remedy works. What does move is latency (a hit is fast; the node has less
 * to do) and what the remedy reports of itself. So:
 *
 * | action       | metric                      | from                        | expected            |
 * |--------------|-----------------------------|-----------------------------|---------------------|
 * | any, impact  | shardP99Ms / nodeP99Ms      | snapshot, else the evidence | ≤ the SLO           |
 * | cache        | keyBackendReadShare         | status: backendReads / reads (else misses / (hits+misses)) | ≤ 0.2 |
 * | replicate    | keyBackendReadShare         | status: primary.reads / all | ≤ 1/(copies+1) + 0.1|
 * | aggregate    | backendWritesPerIncrement   | status: writesPerIncrement, else backendWrites / increments | ≤ 2 flushes' worth |
 * | quota-tenant | otherTenantsP99Ms           | snapshot                    | ≤ the SLO           |
 *
 * The status fields read are listed in {@link statusNumber}'s callers; a
 * remedy that names them otherwise can be measured through the planner's
 * `measure` input instead.
 */
import type { Hotspot } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import type { ActionKind, ActionRecord, Prediction } from './action.js';

/** What a measurement may read. */
export interface MeasureContext {
  readonly action: ActionRecord;
  /** The subject's active hotspot now, or null when it is no longer hot. */
  readonly hotspot: Hotspot | null;
  /** Where the subject lives, as last seen (keys: their shard and node; shed: the node). */
  readonly shard: string | null;
  readonly node: string | null;
  readonly snapshot: TickSnapshot | undefined;
  /** The remedy's own report (ActionKindHandler.status), or null. */
  readonly status: Readonly<Record<string, unknown>> | null;
}

/** Reads a number from a remedy's status, or null. */
export function statusNumber(status: Readonly<Record<string, unknown>> | null, field: string): number | null {
  const v = status?.[field];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Increments a counter's aggregation has seen, when its status says (`increments`). */
export const incrementsSeen = (status: Readonly<Record<string, unknown>> | null): number | null =>
  statusNumber(status, 'increments');

/**
 * The share of a replicated key's reads its own node served, from the
 * replicas' status: `primary.reads` against each of `copies[].reads`.
 */
function replicaHomeShare(status: Readonly<Record<string, unknown>> | null): number | null {
  const primary = status?.primary as { reads?: unknown } | undefined;
  const copies = status?.copies;
  if (typeof primary?.reads !== 'number' || !Array.isArray(copies)) return null;
  let total = primary.reads;
  for (const c of copies as { reads?: unknown }[]) if (typeof c.reads === 'number') total += c.reads;
  return total === 0 ? null : primary.reads / total;
}

/** The default measurements, by metric name; null when the inputs do not tell. */
export function measureDefault(metric: string, c: MeasureContext): number | null {
  const ev = c.hotspot?.evidence;
  const num = (v: number | null | undefined): number | null =>
    typeof v === 'number' && Number.isFinite(v) ? v : null;
  switch (metric) {
    case 'shardP99Ms':
      return num(c.snapshot?.shards.find((s) => s.id === c.shard)?.p99Ms) ?? num(ev?.shardP99Ms) ?? null;
    case 'nodeP99Ms':
      return num(c.snapshot?.nodes.find((n) => n.id === c.node)?.p99Ms) ?? num(ev?.nodeP99Ms) ?? null;
    case 'otherTenantsP99Ms': {
      const others = (c.snapshot?.tenants ?? []).filter(
        (t) => t.id !== c.action.subject.name && t.reads + t.writes > 0,
      );
      return others.length === 0 ? null : Math.max(...others.map((t) => t.p99Ms));
    }
    case 'backendWritesPerIncrement': {
      const direct =
        statusNumber(c.status, 'backendWritesPerIncrement') ?? statusNumber(c.status, 'writesPerIncrement');
      if (direct !== null) return direct;
      const writes = statusNumber(c.status, 'backendWrites') ?? statusNumber(c.status, 'flushes');
      const incr = incrementsSeen(c.status);
      return writes === null || incr === null || incr === 0 ? null : writes / incr;
    }
    case 'keyBackendReadShare': {
      const home = statusNumber(c.status, 'homeReadShare') ?? replicaHomeShare(c.status);
      if (home !== null) return home;
      // The cache counts every read it answered and every read it sent the node:
      // hits and coalesced reads (LRANGE, SMEMBERS ... are coalesced, not kept) alike.
      const reads = statusNumber(c.status, 'reads');
      const sent = statusNumber(c.status, 'backendReads');
      if (reads !== null && sent !== null && reads > 0) return Math.min(1, sent / reads);
      const ratio = statusNumber(c.status, 'hitRatio');
      if (ratio !== null) return 1 - ratio;
      const hits = statusNumber(c.status, 'hits');
      const misses = statusNumber(c.status, 'misses');
      return hits === null || misses === null || hits + misses === 0 ? null : misses / (hits + misses);
    }
    default:
      return null;
  }
}

/** The SLO the hotspot's impact was judged against. */
const sloOf = (h: Hotspot, fallback: number | null): number | null =>
  typeof h.evidence.sloP99Ms === 'number' && h.evidence.sloP99Ms > 0 ? h.evidence.sloP99Ms : fallback;

const num = (v: number | null | undefined): number | null => (typeof v === 'number' ? v : null);

/**
 * The prediction of one action taken on hotspot `h`. `latency`: the hotspot
 * has p99 over its SLO, so the action is judged by the latency it restores;
 * otherwise by what the remedy itself reports.
 */
export function predict(
  kind: ActionKind,
  h: Hotspot,
  o: {
    readonly latency: boolean;
    readonly copies?: number;
    readonly flushMs?: number;
    readonly otherTenantsP99Ms?: number | null;
    readonly nodeP99Ms?: number | null;
  },
): Prediction | null {
  const slo = sloOf(h, null);
  const ev = h.evidence;
  const latency = (metric: 'shardP99Ms' | 'nodeP99Ms', before: number | null): Prediction | null =>
    slo === null ? null : { metric, before, expected: slo, direction: 'below' };
  switch (kind) {
    case 'cache':
      return o.latency
        ? latency('shardP99Ms', num(ev.shardP99Ms))
        : // A key read thousands of times a second within maxStaleMs: nearly every read hits.
          { metric: 'keyBackendReadShare', before: 1, expected: 0.2, direction: 'below' };
    case 'replicate': {
      const copies = o.copies ?? 2;
      return o.latency
        ? latency('shardP99Ms', num(ev.shardP99Ms))
        : { metric: 'keyBackendReadShare', before: 1, expected: 1 / (copies + 1) + 0.1, direction: 'below' };
    }
    case 'aggregate': {
      // One INCRBY per flush; twice that allows for batches cut short.
      const writes = Math.max(1, num(ev.writes) ?? 1);
      const flushes = 1000 / (o.flushMs ?? 2);
      return {
        metric: 'backendWritesPerIncrement',
        before: 1,
        expected: Math.min(1, round((2 * flushes) / writes)),
        direction: 'below',
      };
    }
    case 'salt':
      return latency('shardP99Ms', num(ev.shardP99Ms));
    case 'throttle-key':
    case 'shed':
      return latency('nodeP99Ms', o.nodeP99Ms ?? num(ev.nodeP99Ms));
    case 'quota-tenant':
      return slo === null
        ? null
        : {
            metric: 'otherTenantsP99Ms',
            before: o.otherTenantsP99Ms ?? num(ev.nodeP99Ms),
            expected: slo,
            direction: 'below',
          };
    default:
      // Kinds only operators take (a whole key policy) predict nothing.
      return null;
  }
}

/** Whether a measured value meets a prediction. */
export const meets = (p: Prediction, value: number): boolean =>
  p.direction === 'below' ? value <= p.expected : value >= p.expected;

const round = (x: number): number => Number(x.toPrecision(4));
