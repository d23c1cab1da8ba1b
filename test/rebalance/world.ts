/**
 * Synthetic inputs for the range planner's tests: hotspots as the detector
 * makes them, snapshots from per-shard loads, and a routing table that
 * proposals are applied to as the integrator would (a move is `moving` for
 * one tick, then done).
 */
import type { Hotspot, HotspotKind } from '../../src/detect/hotspot.js';
import type { ShardLoad, TickSnapshot } from '../../src/detect/snapshot.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import type { RoutingTable } from '../../src/keyspace/routing-table.js';
import type { Proposal } from '../../src/rebalance/range-planner-io.js';

/** A hotspot as the detector reports one (active, severity warning). */
export function hotspot(
  kind: HotspotKind,
  subject: string,
  where: { shard?: string; node?: string; impact?: Hotspot['impact']; rate?: number } = {},
): Hotspot {
  return {
    id: `${kind}:${subject}@1`,
    kind,
    subject,
    shard: where.shard ?? null,
    node: where.node ?? null,
    heat: 'read-hot',
    severity: 'warning',
    impact: where.impact ?? ['near-capacity'],
    evidence: { rate: where.rate ?? 1000 },
    summary: `${kind} ${subject} is hot`,
    onset: 0,
    detectedAt: 0,
    clearedAt: null,
  };
}

/** A snapshot with these per-shard loads (ops/s, all reads) on the table's placement; nodes at `capacity`. */
export function snapshotOf(
  table: RoutingTable,
  ops: ReadonlyMap<string, number>,
  now: number,
  capacity: number | null,
): TickSnapshot {
  const p = table.partitioner;
  const shards: ShardLoad[] = table.shards.map((s) => ({
    id: s.id,
    node: s.node,
    range: [p.format(s.start), s.end === null ? null : p.format(s.end)],
    reads: ops.get(s.id) ?? 0,
    writes: 0,
    bytes: 0,
    errors: 0,
    shed: 0,
    p99Ms: 1,
    queueDepth: 0,
    utilization: s.capacity === null ? null : (ops.get(s.id) ?? 0) / s.capacity,
  }));
  const nodes = table.nodes().map((n) => {
    const reads = shards.filter((s) => s.node === n).reduce((a, s) => a + s.reads, 0);
    return {
      id: n,
      reads,
      writes: 0,
      bytes: 0,
      errors: 0,
      shed: 0,
      p99Ms: 1,
      queueDepth: 0,
      utilization: capacity === null ? null : reads / capacity,
    };
  });
  const total = shards.reduce((a, s) => a + s.reads, 0);
  return {
    now,
    windowMs: 1000,
    shards,
    nodes,
    tenants: [],
    topKeys: [],
    distinctKeys: 100_000,
    totalKeyOps: total,
    sloP99Ms: 20,
  };
}

/**
 * The integrator's part, on a table: splits and merges at once, a move marks
 * its shard `moving` until `finishMoves` (the next tick). A proposal whose
 * `after` was not applied is skipped.
 */
export class TableDriver {
  readonly #moves = new Map<string, string>();
  constructor(public table: RoutingTable) {}

  apply(proposals: readonly Proposal[]): void {
    const applied: boolean[] = [];
    let t = this.table;
    for (const [i, p] of proposals.entries()) {
      applied[i] = false;
      if (p.after !== undefined && applied[p.after] !== true) continue;
      const id = shardId(p.shard);
      if (p.kind === 'split') t = t.split(id, t.partitioner.parse(p.at!), shardId(p.newShard!));
      else if (p.kind === 'merge') t = t.merge(id);
      else {
        t = t.withStatus(id, 'moving');
        this.#moves.set(p.shard, p.target!);
      }
      applied[i] = true;
    }
    this.table = t;
  }

  /** Finishes the moves started: each shard is on its target, active again. */
  finishMoves(): void {
    let t = this.table;
    for (const [shard, target] of this.#moves) {
      if (t.shard(shardId(shard)) !== undefined)
        t = t.move(shardId(shard), nodeId(target)).withStatus(shardId(shard), 'active');
    }
    this.#moves.clear();
    this.table = t;
  }
}
