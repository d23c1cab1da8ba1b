/**
 * A known load, driven through the real telemetry on a manual clock the way
 * the router drives it: every request counted and sampled as it is sent,
 * measured as its reply arrives. Nodes answer at most `capacity` requests a
 * second, first come first served, so a node over its capacity builds a
 * queue and its replies lag what was sent, as an embedded node's do.
 */
import { ManualClock } from '../../src/clock.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import type { TickSnapshot } from '../../src/detect/snapshot.js';
import { Outcome, RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { buildSnapshot, type ShardPlacement } from '../../src/telemetry/snapshot.js';

/** One stream of requests: `rate` per second from `tenant`, each for the key `keyOf(i)` names (i counts up). */
export interface Source {
  readonly tenant: string;
  readonly rate: number;
  readonly keyOf: (i: number) => string;
  readonly write?: boolean;
  /** Writes that are a counter's increments (INCR ...); implies `write`. */
  readonly increment?: boolean;
}

interface Pending {
  readonly shard: number;
  readonly node: number;
  readonly tenant: number;
  readonly key: Buffer;
  readonly write: boolean;
  readonly increment: boolean;
  readonly sentAt: number;
  readonly weight: number;
}

/** Start of every traffic run: 437 ms into a second, as the traffic lab injects its skews. */
export const START = 1_800_000_000_437;

/** A 16-shard, 4-node cluster fed by sources, one millisecond at a time. */
export class Traffic {
  readonly clock = new ManualClock(START);
  readonly telemetry: RouterTelemetry;
  readonly table = RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: ['n0', 'n1', 'n2', 'n3'].map(nodeId),
    shards: 16,
  });
  readonly #sources: { readonly src: Source; readonly from: number; sent: number }[] = [];
  readonly #capacity: number;
  readonly #queues = new Map<number, Pending[]>();

  /** `capacity`: requests a second each node answers (Infinity: at once). */
  constructor(capacity = Infinity, seed = 7) {
    this.#capacity = capacity;
    this.telemetry = new RouterTelemetry({ clock: this.clock, sampleSeed: seed });
  }

  /** Starts a source now. */
  add(src: Source): void {
    this.#sources.push({ src, from: this.clock.now(), sent: 0 });
  }

  /** Stops a source now (its requests in flight are still answered). */
  stop(src: Source): void {
    const i = this.#sources.findIndex((r) => r.src === src);
    if (i >= 0) this.#sources.splice(i, 1);
  }

  /** Runs `ms` milliseconds of load. */
  run(ms: number): void {
    for (let i = 0; i < ms; i++) this.#step();
  }

  /** What the monitor would hand the detector now (1 s sliding window). */
  snapshot(): TickSnapshot {
    const shards = new Map<string, ShardPlacement>(
      this.table.shards.map((s) => [s.id, { node: s.node, range: [String(s.start), String(s.end)] }]),
    );
    return buildSnapshot(this.telemetry, {
      windowSeconds: 1,
      withCurrent: true,
      sloP99Ms: 20,
      shards,
      locate: (key) => {
        const s = this.table.shardFor(key);
        return { shard: s.id, node: s.node };
      },
    });
  }

  #step(): void {
    const t = this.telemetry;
    const now = this.clock.now();
    for (const run of this.#sources) {
      const src = run.src;
      // Whole requests due by the end of this millisecond.
      const due = Math.floor(((now + 1 - run.from) * src.rate) / 1000);
      const tenant = t.tenantIndex(src.tenant);
      for (let i = run.sent; i < due; i++) {
        const key = Buffer.from(src.keyOf(i));
        const s = this.table.shardFor(key);
        const shard = t.shardIndex(s.id);
        const node = t.nodeIndex(s.node);
        const increment = src.increment ?? false;
        const write = increment || (src.write ?? false);
        t.count(shard, node, tenant, write);
        const weight = t.sample();
        const queue = this.#queues.get(node) ?? [];
        this.#queues.set(node, queue);
        queue.push({ shard, node, tenant, key, write, increment, sentAt: now, weight });
        if (weight > 0) t.begin(shard, node, weight);
      }
      run.sent = due;
    }
    this.clock.advance(1);
    const served = this.#capacity === Infinity ? Infinity : this.#capacity / 1000;
    for (const queue of this.#queues.values()) {
      const n = Math.min(queue.length, Number.isFinite(served) ? Math.round(served) : queue.length);
      for (const r of queue.splice(0, n)) {
        if (r.weight === 0) continue;
        t.end(r.shard, r.node, r.weight);
        const micros = (this.clock.now() - r.sentAt) * 1000;
        t.measure(
          r.shard,
          r.node,
          r.tenant,
          r.key,
          r.write,
          40,
          80,
          micros,
          Outcome.Ok,
          r.weight,
          r.increment,
        );
      }
    }
  }
}

/** The snapshot's rate (reads + writes per second) of a key, 0 when not among the top keys. */
export function keyRate(s: TickSnapshot, key: string): number {
  const k = s.topKeys.find((x) => x.key === key);
  return k === undefined ? 0 : k.reads + k.writes;
}

/** The snapshot's rate of a tenant. */
export function tenantRate(s: TickSnapshot, tenant: string): number {
  const tn = s.tenants.find((x) => x.id === tenant);
  return tn === undefined ? 0 : tn.reads + tn.writes;
}
