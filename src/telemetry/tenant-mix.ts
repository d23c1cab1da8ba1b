/**
 * Which tenants send the requests of each shard and node: the cross-tab the
 * per-entity counters do not keep (they count shards, nodes and tenants each
 * on their own). An incident reads it to say which tenants a hot shard or
 * node hurts and what share of their traffic goes there.
 *
 * Fed from the measure log's drain (router-telemetry.ts, Folder), never from
 * the request path: only measured requests, at most the sample budget a
 * second (DEFAULT_SAMPLE_BUDGET), each with its sampling weight, so the
 * counts are unbiased estimates and cost three array increments per measured
 * request (16–40 ns with 64 shards and 34 tenants on a shared 2-core box,
 * so at most 0.2 ms of CPU a second at the default budget:
 * bench/telemetry/tenant-mix.ts). A few seconds are kept (an incident reads its latest window; the
 * long history lives in the incident itself).
 *
 * Tenant indexes are the tenant table's; a slot that changes owner
 * (tenant-table.ts, epoch) misattributes at most the seconds still in the
 * ring to the new owner's name, a known, bounded error of a few seconds.
 */

/** One second of the cross-tab: per entity index, weighted requests per tenant index. */
interface Slot {
  second: number;
  readonly shards: Map<number, number[]>;
  readonly nodes: Map<number, number[]>;
  /** Weighted requests per tenant index, all entities. */
  readonly totals: number[];
}

/** Seconds kept by default. */
export const TENANT_MIX_SECONDS = 10;

function bump(row: number[], tenant: number, weight: number): void {
  while (row.length <= tenant) row.push(0);
  row[tenant]! += weight;
}

/** The per-second shard × tenant and node × tenant counts of measured requests. */
export class TenantMix {
  readonly seconds: number;
  readonly #ring: Slot[];
  #current: Slot;

  constructor(seconds = TENANT_MIX_SECONDS) {
    this.seconds = seconds;
    this.#ring = Array.from({ length: seconds }, () => ({
      second: -1,
      shards: new Map<number, number[]>(),
      nodes: new Map<number, number[]>(),
      totals: [],
    }));
    this.#current = this.#ring[0]!;
  }

  /** Folds one measured request in, into the current second (a tenant of -1 is nobody's). */
  add(shard: number, node: number, tenant: number, weight: number): void {
    if (tenant < 0) return;
    const slot = this.#current;
    let row = slot.shards.get(shard);
    if (row === undefined) slot.shards.set(shard, (row = []));
    bump(row, tenant, weight);
    row = slot.nodes.get(node);
    if (row === undefined) slot.nodes.set(node, (row = []));
    bump(row, tenant, weight);
    bump(slot.totals, tenant, weight);
  }

  /** Moves to `second`: what arrives next belongs to it (the slot it reuses is emptied). */
  advanceTo(second: number): void {
    if (second === this.#current.second) return;
    const slot = this.#ring[((second % this.seconds) + this.seconds) % this.seconds]!;
    if (slot.second !== second) {
      slot.second = second;
      slot.shards.clear();
      slot.nodes.clear();
      slot.totals.length = 0;
    }
    this.#current = slot;
  }

  /**
   * Weighted requests per tenant index to one shard or node (entity index),
   * or in all (`entity` null), over the seconds from `second - seconds + 1`
   * to `second`.
   */
  counts(kind: 'shard' | 'node', entity: number | null, second: number, seconds: number): number[] {
    const out: number[] = [];
    const n = Math.min(Math.max(1, seconds), this.seconds);
    for (const slot of this.#ring) {
      if (slot.second > second || slot.second <= second - n || slot.second < 0) continue;
      const row = entity === null ? slot.totals : (kind === 'shard' ? slot.shards : slot.nodes).get(entity);
      if (row === undefined) continue;
      for (let t = 0; t < row.length; t++) if (row[t]! > 0) bump(out, t, row[t]!);
    }
    return out;
  }
}
