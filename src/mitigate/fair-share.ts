/**
 * The rates the planner's throttling actions admit: a hot key's share of its
 * node and a noisy tenant's max-min fair share of the cluster. Both aim at `targetUtilization` of capacity (seed
 * 000: keep 20–30 % headroom), so the node that was past its SLO gets back
 * below it rather than to its edge.
 *
 * Capacity is known for embedded nodes (the snapshot's utilization is ops /
 * capacity). For a Redis node it is not; these actions are only taken with
 * impact (p99 over the SLO, a queue building, near capacity), and a node under
 * impact is serving what it can, so the higher of its present rate and its
 * peak second over the last minute stands in for its capacity. The peak
 * keeps a node slowed by a stall, or already throttled, from lending its
 * depressed present rate to a new limit (which would ratchet down with each
 * one). Stated in each action's reason, so an operator can tell which.
 */
import type { EntityLoad, TickSnapshot } from '../detect/snapshot.js';

const opsOf = (e: { readonly reads: number; readonly writes: number }): number => e.reads + e.writes;

/** A node's capacity (ops/s) and whether it was measured or stood in for by what it served. */
export interface Capacity {
  readonly opsPerSec: number;
  readonly known: boolean;
  /** Stood in for by its peak second over the last minute, above its present rate. */
  readonly peak: boolean;
}

/** The capacity of a node as a snapshot shows it. */
export function nodeCapacity(node: EntityLoad): Capacity {
  const ops = opsOf(node);
  if (node.utilization !== null && node.utilization > 0 && ops > 0)
    return { opsPerSec: ops / node.utilization, known: true, peak: false };
  const peak = node.peakOps ?? 0;
  return peak > ops
    ? { opsPerSec: peak, known: false, peak: true }
    : { opsPerSec: ops, known: false, peak: false };
}

/** How a capacity stood in for is named in a reason. */
function standIn(cap: Capacity): string {
  return cap.peak
    ? `its peak ${Math.round(cap.opsPerSec)} ops/s of the last minute standing in for an unknown capacity`
    : `its present ${Math.round(cap.opsPerSec)} ops/s standing in for an unknown capacity`;
}

/** What a hot key's throttle admits, and the sentence that explains it. */
export interface KeyRate {
  readonly opsPerSec: number;
  readonly why: string;
}

/**
 * A hot key's fair share of its node: what the node has left below its
 * target utilization once every other request on it is served, but never
 * less than an even split of that target among the node's shards (the key
 * is one key of one shard; the throttle must not take the node's other
 * shards' place away from them, nor starve the key below what a shard gets).
 */
export function keyThrottleRate(
  keyRate: number,
  nodeId: string | null,
  snapshot: TickSnapshot | undefined,
  fallbackNodeRate: number,
  target: number,
): KeyRate {
  const node = nodeId === null ? undefined : snapshot?.nodes.find((n) => n.id === nodeId);
  const cap =
    node === undefined
      ? { opsPerSec: Math.max(fallbackNodeRate, keyRate), known: false, peak: false }
      : nodeCapacity(node);
  const nodeOps = node === undefined ? cap.opsPerSec : opsOf(node);
  const shards = Math.max(1, snapshot?.shards.filter((s) => s.node === nodeId).length ?? 1);
  const budget = target * cap.opsPerSec;
  const left = budget - Math.max(0, nodeOps - keyRate);
  const floor = budget / shards;
  const opsPerSec = Math.max(1, Math.round(Math.max(left, floor)));
  const capText = cap.known ? `capacity ${Math.round(cap.opsPerSec)} ops/s` : standIn(cap);
  const why =
    left >= floor
      ? `what node ${nodeId ?? '?'} has left below ${pct(target)} of ${capText} after its other ${Math.round(Math.max(0, nodeOps - keyRate))} ops/s`
      : `one shard's even share (1/${shards}) of ${pct(target)} of node ${nodeId ?? '?'}'s ${capText}`;
  return { opsPerSec, why };
}

/**
 * Max-min fair share ("water filling"): the level L such that giving every
 * demand min(demand, L) spends `budget`. A tenant under L keeps all it asks
 * for; the noisy one gets L, which is at least budget / tenants.
 * @example fairLevel([7000, 1000, 1000, 1000], 6000) // 3000
 */
export function fairLevel(demands: readonly number[], budget: number): number {
  const sorted = demands.filter((d) => d > 0).sort((a, b) => a - b);
  let left = budget;
  for (let i = 0; i < sorted.length; i++) {
    const share = left / (sorted.length - i);
    if (sorted[i]! >= share) return share;
    left -= sorted[i]!;
  }
  // Every demand fits: the largest gets what it asks and whatever is left over.
  return sorted.length === 0 ? budget : sorted[sorted.length - 1]! + left;
}

/** A noisy tenant's quota and the sentence that explains it. */
export interface TenantQuota {
  readonly opsPerSec: number;
  readonly why: string;
}

/** The noisy tenant's max-min fair share of the cluster's target throughput. */
export function tenantQuota(
  tenant: string,
  evidence: { readonly rate: number; readonly totalRate: number; readonly tenants: number },
  snapshot: TickSnapshot | undefined,
  target: number,
): TenantQuota {
  const caps = snapshot?.nodes.map(nodeCapacity) ?? [];
  const known = caps.length > 0 && caps.every((c) => c.known);
  const peak = !known && caps.some((c) => c.peak);
  const capacity = known || peak ? caps.reduce((a, c) => a + c.opsPerSec, 0) : evidence.totalRate;
  const budget = target * capacity;
  const demands =
    snapshot === undefined || snapshot.tenants.length === 0
      ? [evidence.rate, ...spread(evidence.totalRate - evidence.rate, Math.max(1, evidence.tenants - 1))]
      : snapshot.tenants.map(opsOf);
  const level = fairLevel(demands, budget);
  const opsPerSec = Math.max(1, Math.round(level));
  const capText = known
    ? `the nodes' capacity ${Math.round(capacity)} ops/s`
    : peak
      ? `the nodes' ${Math.round(capacity)} ops/s (each its peak of the last minute or its present rate) standing in for an unknown capacity`
      : `the present ${Math.round(capacity)} ops/s standing in for an unknown capacity`;
  return {
    opsPerSec,
    why: `tenant ${JSON.stringify(tenant)}'s max-min fair share of ${pct(target)} of ${capText} among ${demands.filter((d) => d > 0).length} tenants`,
  };
}

function spread(total: number, n: number): number[] {
  return Array.from({ length: n }, () => Math.max(0, total) / n);
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;
