/**
 * What the counter tests share: a router over embedded or Redis nodes with
 * the counter remedies installed through a PolicyManager, a backend that
 * counts the commands it is sent, hand-fired timers, and the check that a
 * set of INCR replies is what one Redis could have given.
 */
import type { NodeHealth, ReplyCallback, ShardBackend } from '../../src/backend/backend.js';
import { ManualClock, systemClock, type Clock } from '../../src/clock.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { aggregateRemedy, type Timers } from '../../src/mitigate/actions/aggregate.js';
import { saltRemedy } from '../../src/mitigate/actions/salt.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import type { Command } from '../../src/protocol/command.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

/** Passes everything to a node and counts the commands by name. */
export class CountingBackend implements ShardBackend {
  readonly counts = new Map<string, number>();
  constructor(readonly inner: ShardBackend) {}
  get node(): NodeId {
    return this.inner.node;
  }
  get kind(): 'memory' | 'redis' {
    return this.inner.kind;
  }
  get status(): ShardBackend['status'] {
    return this.inner.status;
  }
  health(): NodeHealth {
    return this.inner.health();
  }
  send(cmd: Command, done: ReplyCallback): void {
    this.counts.set(cmd.name, (this.counts.get(cmd.name) ?? 0) + 1);
    this.inner.send(cmd, done);
  }
  /** How many of these commands it was sent. */
  count(...names: string[]): number {
    return names.reduce((n, name) => n + (this.counts.get(name) ?? 0), 0);
  }
  scanKeys: ShardBackend['scanKeys'] = (accept, size) => this.inner.scanKeys(accept, size);
  dump: ShardBackend['dump'] = (key) => this.inner.dump(key);
  restoreIfAbsent: ShardBackend['restoreIfAbsent'] = (key, d) => this.inner.restoreIfAbsent(key, d);
  deleteKeys: ShardBackend['deleteKeys'] = (keys) => this.inner.deleteKeys(keys);
  keyCount: ShardBackend['keyCount'] = () => this.inner.keyCount();
  keyspaceStats: ShardBackend['keyspaceStats'] = () => this.inner.keyspaceStats();
  flushAll: ShardBackend['flushAll'] = () => this.inner.flushAll();
  trackInvalidations: ShardBackend['trackInvalidations'] = (listener) =>
    this.inner.trackInvalidations(listener);
  barrier: ShardBackend['barrier'] = () => this.inner.barrier();
  watchWrites: ShardBackend['watchWrites'] = (listener) => this.inner.watchWrites(listener);
  dumpKeys: ShardBackend['dumpKeys'] = (keys) => this.inner.dumpKeys(keys);
  restoreKeys: ShardBackend['restoreKeys'] = (writes) => this.inner.restoreKeys(writes);
  close: ShardBackend['close'] = () => this.inner.close();
}

/** Timers that fire only when the test says. */
export class ManualTimers implements Timers {
  readonly pending = new Set<{ fire: () => void }>();
  set(fire: () => void, _ms: number): unknown {
    const t = { fire };
    this.pending.add(t);
    return t;
  }
  clear(handle: unknown): void {
    this.pending.delete(handle as { fire: () => void });
  }
  /** Fires every timer set so far. */
  fireAll(): void {
    const due = [...this.pending];
    this.pending.clear();
    for (const t of due) t.fire();
  }
}

/** A router with the counter remedies, and what the tests look at. */
export interface Rig {
  readonly router: Router;
  readonly manager: PolicyManager;
  readonly backends: CountingBackend[];
  readonly clock: Clock;
  /** Commands of these names the nodes were sent. */
  count(...names: string[]): number;
}

/** Builds a router over `nodes` (4 shards each) with aggregate and salt remedies. */
export function rig(
  nodes: readonly ShardBackend[],
  opts: { timers?: Timers; clock?: Clock; maxBatch?: number } = {},
): Rig {
  const backends = nodes.map((n) => new CountingBackend(n));
  const ids = backends.map((b) => b.node);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: ids, shards: 4 * ids.length });
  const router = new Router(table, new Map(backends.map((b) => [b.node, b as ShardBackend])));
  const clock = opts.clock ?? systemClock;
  const aggOpts = {
    ...(opts.timers === undefined ? {} : { timers: opts.timers }),
    ...(opts.maxBatch === undefined ? {} : { maxBatch: opts.maxBatch }),
  };
  const manager = new PolicyManager({ router, clock }, [aggregateRemedy(aggOpts), saltRemedy()]);
  return {
    router,
    manager,
    backends,
    clock,
    count: (...names) => backends.reduce((n, b) => n + b.count(...names), 0),
  };
}

export { ManualClock };

let sessions = 0;
/** A client connection of its own. */
export function client(): Session {
  return new Session(++sessions, `client-${sessions}`, false, 0);
}

/** A reply as the tests compare it: integers as bigint, strings as text, errors as `-message`. */
export type Seen = bigint | string | null | Seen[];

export function seen(reply: Reply): Seen {
  const r = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
  if (typeof r === 'number' || typeof r === 'bigint') return BigInt(r);
  if (r === null) return null;
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  if (r instanceof ReplyError) return `-${r.message}`;
  if (Array.isArray(r)) return r.map(seen);
  if (r instanceof SimpleString) return r.value;
  return JSON.stringify(r);
}

/** Sends one command through the router as `session`; resolves the reply as seen. */
export function send(router: Router, session: Session, ...args: (string | Buffer)[]): Promise<Seen> {
  return new Promise((resolve) =>
    router.dispatch(
      session,
      args.map((a) => (typeof a === 'string' ? Buffer.from(a) : a)),
      undefined,
      (reply: Reply) => resolve(seen(reply)),
    ),
  );
}

/** The node's own reply, bypassing the router. */
export function raw(backend: ShardBackend, ...args: (string | Buffer)[]): Promise<Seen> {
  const bufs = args.map((a) => (typeof a === 'string' ? Buffer.from(a) : a));
  return new Promise((resolve) =>
    backend.send({ name: bufs[0]!.toString().toLowerCase(), args: bufs, frame: undefined }, (r) =>
      resolve(seen(r)),
    ),
  );
}

/** One acknowledged increment: what was added and what the client was told. */
export interface Acked {
  readonly n: bigint;
  readonly reply: bigint;
}

/**
 * Why `acked` could not have come from one Redis taking the increments one at
 * a time starting at `initial` and ending at `final`, or null when it could.
 * Each increment moves the counter from reply − n to reply; some serial order
 * exists exactly when those moves form one path from `initial` to `final`
 * using each once: an Eulerian trail, checked by degree balance and
 * connectivity.
 */
export function serialOrderProblem(initial: bigint, acked: readonly Acked[], final: bigint): string | null {
  const sum = acked.reduce((s, a) => s + a.n, 0n);
  if (initial + sum !== final) return `final ${final} is not initial ${initial} + acknowledged ${sum}`;
  const balance = new Map<bigint, number>();
  const parent = new Map<bigint, bigint>();
  const find = (v: bigint): bigint => {
    let p = parent.get(v) ?? v;
    while (p !== (parent.get(p) ?? p)) p = parent.get(p)!;
    parent.set(v, p);
    return p;
  };
  const bump = (v: bigint, d: number): void => {
    balance.set(v, (balance.get(v) ?? 0) + d);
    if (!parent.has(v)) parent.set(v, v);
  };
  bump(initial, 0);
  for (const { n, reply } of acked) {
    const from = reply - n;
    bump(from, 1);
    bump(reply, -1);
    parent.set(find(from), find(reply));
  }
  for (const [v, b] of balance) {
    const want = (v === initial ? 1 : 0) - (v === final ? 1 : 0);
    if (b !== want) return `value ${v}: ${b} more increments leave it than reach it (want ${want})`;
  }
  const root = find(initial);
  for (const v of balance.keys()) if (find(v) !== root) return `value ${v} is not reachable from ${initial}`;
  return null;
}

/** Lets pending I/O and timers run. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const nodes = (n: number, prefix = 'n'): NodeId[] =>
  Array.from({ length: n }, (_, i) => nodeId(`${prefix}${i}`));
