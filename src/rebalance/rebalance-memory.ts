/**
 * What the range planner remembers between ticks: the splits, moves and
 * merges that happened (read off the routing table's changes, or replayed
 * after a restart), for its hysteresis and move budget; the splits it
 * proposed, so the hotter half's move follows once a split is made; and
 * estimates of fresh halves' load until telemetry has measured them.
 */
import type { RoutingTable, ShardInfo } from '../keyspace/routing-table.js';
import type { RebalanceEvent } from './range-planner-io.js';

/** How long a split's follow-up move stays due, and a proposed split is matched to the table (ms). */
export const FOLLOW_UP_MS = 60_000;
const SHARD_ID = /^s(\d+)$/;

/** A split the planner proposed: if the table shows it, its hotter half is moved next. */
export interface ProposedSplit {
  readonly at: string;
  readonly leftOps: number;
  readonly rightOps: number;
  readonly hotspot: string | null;
  readonly until: number;
}

/** A half of a split that happened and is due to move. */
export interface FollowUp {
  /** The other half: not split again while this one waits to move. */
  readonly sibling: string;
  readonly ops: number;
  readonly reason: string;
  readonly hotspot: string | null;
  readonly until: number;
}

/** The range planner's memory. */
export class RebalanceMemory {
  /** The highest "sN" ever seen: new shards get higher ones, never an id a merge freed. */
  maxId = -1;
  /** When a shard was split, or created by a split. */
  readonly splitAt = new Map<string, number>();
  /** Per shard, the nodes it left and when. */
  readonly left = new Map<string, Map<string, number>>();
  /** Splits the planner proposed, by shard. */
  readonly proposedSplits = new Map<string, ProposedSplit>();
  /** Halves due to move after a split that happened, by shard. */
  readonly followUps = new Map<string, FollowUp>();
  /** Estimated load of fresh halves, until telemetry has measured them. */
  readonly estimates = new Map<string, { ops: number; until: number }>();
  /** When a shard was last split, moved or merged. */
  readonly touchedAt = new Map<string, number>();
  #moves: number[] = [];
  #last: RoutingTable | null = null;
  readonly #settleMs: number;

  constructor(settleMs: number) {
    this.#settleMs = settleMs;
  }

  /** Moves that happened after `since`. */
  movesSince(since: number): number {
    return this.#moves.filter((t) => t > since).length;
  }

  /** Forgets moves before `before` (the budget looks back an hour). */
  prune(before: number): void {
    this.#moves = this.#moves.filter((t) => t > before);
  }

  /** A fresh half's estimated load, while it stands. */
  estimate(shard: string, now: number): { ops: number } | undefined {
    const e = this.estimates.get(shard);
    if (e !== undefined && e.until < now) this.estimates.delete(shard);
    return e !== undefined && e.until >= now ? e : undefined;
  }

  /** Reads splits, moves and merges off the table's change since the last tick. */
  observe(table: RoutingTable, now: number): void {
    for (const s of table.shards) this.#noteId(s.id);
    const old = this.#last;
    this.#last = table;
    if (old === null || old.version === table.version) return;
    const p = table.partitioner;
    const before = new Map(old.shards.map((s) => [s.id as string, s]));
    for (const s of table.shards) {
      const was = before.get(s.id);
      if (was === undefined) {
        const parent = old.shardAt(s.start);
        this.record({ kind: 'split', shard: parent.id, other: s.id, at: now });
        this.#splitFollowUp(parent, s, table, p.format(s.start), now);
        if (parent.node !== s.node)
          this.record({ kind: 'move', shard: s.id, from: parent.node, to: s.node, at: now });
      } else if (was.node !== s.node) {
        this.record({ kind: 'move', shard: s.id, from: was.node, to: s.node, at: now });
      }
    }
    const ids = new Set(table.shards.map((s) => s.id as string));
    for (const s of old.shards) {
      if (ids.has(s.id)) continue;
      const survivor = table.shardAt(s.start);
      if (survivor.id !== s.id && ids.has(survivor.id) && before.has(survivor.id))
        this.record({ kind: 'merge', shard: survivor.id, other: s.id, at: now });
    }
  }

  /** A split the planner proposed happened: the hotter half is due to move; both halves' loads are estimated. */
  #splitFollowUp(parent: ShardInfo, created: ShardInfo, table: RoutingTable, at: string, now: number): void {
    const proposed = this.proposedSplits.get(parent.id);
    this.proposedSplits.delete(parent.id);
    if (proposed === undefined || proposed.until < now || proposed.at !== at) return;
    const until = now + this.#settleMs;
    this.estimates.set(parent.id, { ops: proposed.leftOps, until });
    this.estimates.set(created.id, { ops: proposed.rightOps, until });
    const hotterRight = proposed.rightOps >= proposed.leftOps;
    const hotter = hotterRight ? created.id : parent.id;
    const ops = hotterRight ? proposed.rightOps : proposed.leftOps;
    if (table.shard(hotter)?.node !== parent.node) return; // moved already
    this.followUps.set(hotter, {
      sibling: hotterRight ? parent.id : created.id,
      ops,
      reason: `the hotter half of ${parent.id}'s split at ${JSON.stringify(at)}`,
      hotspot: proposed.hotspot,
      until: now + FOLLOW_UP_MS,
    });
  }

  /** Notes an event: for the hysteresis, the budget and follow-ups. */
  record(e: RebalanceEvent): void {
    this.#noteId(e.shard);
    this.touchedAt.set(e.shard, Math.max(e.at, this.touchedAt.get(e.shard) ?? -Infinity));
    if (e.other !== undefined && e.kind === 'split') this.touchedAt.set(e.other, e.at);
    if (e.other !== undefined) this.#noteId(e.other);
    if (e.kind === 'split') {
      this.splitAt.set(e.shard, e.at);
      if (e.other !== undefined) {
        this.splitAt.set(e.other, e.at);
        // The new half's keys were on the parent's nodes: it inherits where it must not go back to.
        const left = this.left.get(e.shard);
        if (left !== undefined) this.left.set(e.other, new Map(left));
      }
    } else if (e.kind === 'move') {
      if (e.from !== undefined) {
        const left = this.left.get(e.shard) ?? new Map<string, number>();
        left.set(e.from, e.at);
        this.left.set(e.shard, left);
      }
      this.#moves.push(e.at);
      this.followUps.delete(e.shard);
    } else if (e.other !== undefined) {
      const absorbed = this.left.get(e.other);
      if (absorbed !== undefined) {
        const left = this.left.get(e.shard) ?? new Map<string, number>();
        for (const [n, t] of absorbed) left.set(n, Math.max(t, left.get(n) ?? 0));
        this.left.set(e.shard, left);
      }
    }
  }

  /** Ids the planner gives new shards are never reused, even after a merge freed one. */
  #noteId(id: string): void {
    const m = SHARD_ID.exec(id);
    if (m !== null) this.maxId = Math.max(this.maxId, Number(m[1]));
  }
}
