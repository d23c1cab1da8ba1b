/**
 * Salted counters (issue 13 §2.5): a counter too hot for one node even after
 * aggregation is spread over N sub-keys on different nodes. Increments go to
 * the sub-keys in turn; the counter's value is the base key plus every
 * sub-key. The base key itself is only read, and written when the sub-keys
 * are folded back into it.
 *
 * Replies through this router stay exact: the stage reads the total once
 * when salting starts (base + sub-keys) and keeps it; each increment's reply
 * is that running total in arrival order, sent once the sub-key has
 * acknowledged it, and an increment that would leave int64 gets Redis's
 * overflow error without being written. A GET waits for the increments
 * before it, holds those after it, reads base and sub-keys and answers their
 * sum (and re-reads the total from it). Any other command (SET, DEL, EXPIRE,
 * TTL, INCRBYFLOAT ...) first folds the sub-keys back into the base key, the
 * key's requests held meanwhile, then runs on the base key; after a write the
 * total is read again before the next increment. close() folds back too:
 * GETDEL each sub-key, then INCRBY the base by their sum.
 *
 * Only a plain integer counter without an expiry is salted: a key holding
 * something else, or with a TTL (the sub-keys would outlive it), is left
 * plain and looked at again after `recheckMs`.
 *
 * Sub-key names: `{hs:salt:<j>:<key>}` for probe numbers j. The braces make
 * the whole name its own hash tag (a hash tag in the key cannot pin every
 * sub-key to the key's shard), varying with j and with the key, and j is
 * probed against the routing table so the N sub-keys sit on distinct nodes,
 * away from the base key's node, where the table allows. An application key
 * of that shape is not expected; nothing else in hotshard writes one.
 *
 * Several routers: each keeps its own running total, so while a key is
 * salted its INCR replies are exact only among one router's clients, not
 * across routers; the sum (GET, and the folded key) stays exact. Routers pick
 * the same sub-keys when they build on the same routing table. That is why
 * the planner salts only keys matching configured counter patterns: a key
 * whose replies hand out ids must not be salted.
 */
import type { ReplyCallback } from '../../backend/backend.js';
import { ConfigError, ErrorCode } from '../../errors.js';
import { makeCommand } from '../../protocol/command.js';
import { hsError, isErrorReply, type Reply } from '../../protocol/reply.js';
import type { RoutingTable } from '../../keyspace/routing-table.js';
import { commandSpec } from '../../router/command-table.js';
import type { KeyHandler, KeyRequest } from '../../router/key-policies.js';
import type { Clock } from '../../clock.js';
import type { KeyPolicy, Remedy, RemedyStage } from '../policy.js';
import {
  OVERFLOW,
  addInt64,
  bulkOf,
  counterOf,
  Drain,
  incrementOf,
  intOf,
  refusedByRedis,
  type Int,
} from './counter-values.js';

/** Options of the salt remedy. */
export interface SaltOptions {
  /** How long a key found unsaltable (a TTL, not an integer) stays plain before it is looked at again; default 1000. */
  readonly recheckMs?: number;
}

/** Most sub-keys a counter may be spread over. */
export const MAX_BUCKETS = 64;

/** Sub-key `j` of `key`. */
export function subKeyName(key: Buffer, j: number): Buffer {
  return Buffer.concat([Buffer.from(`{hs:salt:${j}:`, 'latin1'), key, Buffer.from('}', 'latin1')]);
}

/**
 * N sub-key names for `key`, probed against `table`: on nodes other than
 * each other's and the base key's first, then other shards, then any.
 */
export function chooseSubKeys(key: Buffer, buckets: number, table: RoutingTable): Buffer[] {
  const probes = Array.from({ length: 16 * buckets + 16 }, (_, j) => {
    const name = subKeyName(key, j);
    const shard = table.shardFor(name);
    return { name, node: shard.node, shard: shard.id };
  });
  const base = table.shardFor(key).node as string;
  const chosen = new Set<number>();
  const nodes = new Set<string>();
  const shards = new Set<string>();
  const passes: ((p: (typeof probes)[number]) => boolean)[] = [
    (p) => p.node !== base && !nodes.has(p.node),
    (p) => !nodes.has(p.node),
    (p) => !shards.has(p.shard),
    () => true,
  ];
  for (const fits of passes) {
    for (let j = 0; j < probes.length && chosen.size < buckets; j++) {
      const p = probes[j]!;
      if (chosen.has(j) || !fits(p)) continue;
      chosen.add(j);
      nodes.add(p.node);
      shards.add(p.shard);
    }
  }
  return [...chosen].map((j) => probes[j]!.name);
}

type Op =
  | { readonly kind: 'incr'; readonly req: KeyRequest; readonly n: Int; readonly done: ReplyCallback }
  | { readonly kind: 'get' | 'other'; readonly req: KeyRequest; readonly done: ReplyCallback }
  | { readonly kind: 'close'; readonly resolve: () => void }
  /** An increment a sub-key refused and the counter can take: into the base key, answered `value`. */
  | {
      readonly kind: 'retry';
      readonly req: KeyRequest;
      readonly n: Int;
      readonly value: Int;
      readonly done: ReplyCallback;
    };

/**
 * `unknown`: not read yet (the first request reads it); `salted`: the total
 * is known and increments go to sub-keys; `plain`: the sub-keys are empty
 * and everything goes to the base key.
 */
type Mode = 'unknown' | 'salted' | 'plain';

class SaltStage implements RemedyStage {
  readonly #key: Buffer;
  readonly #subs: readonly Buffer[];
  readonly #nodes: readonly string[];
  readonly #next: KeyHandler;
  readonly #clock: Clock;
  readonly #recheckMs: number;
  readonly #queue: Op[] = [];
  #mode: Mode = 'unknown';
  #total: Int = 0;
  /** plain: when to try salting again. */
  #retryAt = 0;
  #reason: string | null = null;
  /** Commands sent and not answered (increments to sub-keys, commands to the base key). */
  #inFlight = 0;
  /** A step that needs the key to itself (read, fold, look) is running. */
  #busy = false;
  readonly #drain = new Drain(() => {
    while (!this.#busy && this.#queue.length > 0) if (!this.#step(this.#queue[0]!)) break;
  });
  #turn = 0;
  /** The last request seen: whose session and route the stage's own commands use. */
  #via: KeyRequest | undefined;
  readonly #stats = { increments: 0, reads: 0, folds: 0, looks: 0 };

  constructor(
    key: Buffer,
    subs: Buffer[],
    nodes: string[],
    next: KeyHandler,
    clock: Clock,
    recheckMs: number,
  ) {
    this.#key = key;
    this.#subs = subs;
    this.#nodes = nodes;
    this.#next = next;
    this.#clock = clock;
    this.#recheckMs = recheckMs;
  }

  run(req: KeyRequest, done: ReplyCallback): void {
    this.#via = req;
    const n = incrementOf(req.spec.name, req.cmd.args);
    if (n !== undefined) this.#queue.push({ kind: 'incr', req, n, done });
    else this.#queue.push({ kind: req.spec.name === 'get' ? 'get' : 'other', req, done });
    this.#pump();
  }

  status(): Record<string, unknown> {
    return {
      buckets: this.#subs.length,
      subKeys: this.#subs.map((s) => s.toString('latin1')),
      nodes: this.#nodes,
      mode: this.#mode,
      total: this.#mode === 'salted' ? String(this.#total) : null,
      reason: this.#reason,
      increments: this.#stats.increments,
      reads: this.#stats.reads,
      folds: this.#stats.folds,
      held: this.#queue.length,
    };
  }

  /** The counter may no longer hold the total this stage keeps (FLUSHALL): read it again. */
  forgetTotal(): void {
    if (this.#mode === 'salted') this.#mode = 'unknown';
  }

  #closedResolve: () => void = () => {};
  /** Settles once the stage has closed. */
  readonly closed = new Promise<void>((resolve) => (this.#closedResolve = resolve));

  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#queue.push({ kind: 'close', resolve });
      this.#pump();
    }).then(() => this.#closedResolve());
  }

  #pump(): void {
    this.#drain.run();
  }

  /** Starts the op at the head of the queue; false when it must wait. */
  #step(op: Op): boolean {
    if (op.kind === 'retry') return this.#retry(op);
    if (op.kind === 'close') {
      if (this.#inFlight > 0) return false;
      // plain: the sub-keys are empty. unknown after a failure: they may not be.
      if (this.#mode === 'plain' || this.#via === undefined) {
        this.#queue.shift();
        op.resolve();
        return true;
      }
      return this.#exclusive((finish) =>
        this.#fold(this.#via!, () => {
          this.#mode = 'plain';
          finish();
          op.resolve();
        }),
      );
    }
    const mustLook =
      this.#mode === 'unknown' ||
      (this.#mode === 'plain' && op.kind === 'incr' && this.#clock.now() >= this.#retryAt);
    if (mustLook) {
      if (this.#inFlight > 0) return false;
      this.#busy = true;
      this.#look(op.req, () => {
        this.#busy = false;
        this.#pump();
      });
      return true;
    }
    if (this.#mode === 'plain') {
      this.#queue.shift();
      this.#toBase(op.req, op.req.cmd, op.done);
      return true;
    }
    if (op.kind === 'incr') {
      this.#queue.shift();
      this.#increment(op.req, op.n, op.done);
      return true;
    }
    if (this.#inFlight > 0) return false;
    if (op.kind === 'get') {
      // Every GET waiting at the head shares one read: none was sent before any of them arrived.
      const gets: ReplyCallback[] = [];
      while (this.#queue[0]?.kind === 'get') gets.push((this.#queue.shift() as { done: ReplyCallback }).done);
      this.#busy = true;
      this.#read(op.req, (reply) => {
        this.#busy = false;
        for (const done of gets) done(reply);
        this.#pump();
      });
      return true;
    }
    return this.#exclusive((finish) =>
      this.#fold(op.req, (failure) => {
        // A fold fails only when another client made the key a non-counter;
        // the command still runs on it, and the key is looked at again.
        if (failure !== undefined) this.#mode = 'unknown';
        this.#toBase(op.req, op.req.cmd, (reply) => {
          // A write may change the value, its type or its expiry: read again before salting on.
          if (op.req.spec.write && this.#mode === 'salted') {
            this.#mode = 'plain';
            this.#retryAt = 0;
          }
          finish();
          op.done(reply);
        });
      }),
    );
  }

  /**
   * A sub-key's own part would have left int64 (or another client wrote the
   * sub-key): fold back, then add the increment to the base key, which can
   * take it since the total can. The total is read again afterwards.
   */
  #retry(op: Extract<Op, { kind: 'retry' }>): boolean {
    return this.#exclusive((finish) =>
      this.#fold(op.req, (failure) => {
        this.#mode = 'unknown';
        if (failure !== undefined) {
          finish();
          return op.done(failure);
        }
        this.#toBase(op.req, makeCommand('incrby', this.#key, String(op.n)), (reply) => {
          finish();
          op.done(intOf(reply) === undefined ? reply : op.value);
        });
      }),
    );
  }

  /** Runs `body` with the key to itself: nothing else starts until it calls finish. */
  #exclusive(body: (finish: () => void) => void): boolean {
    if (this.#inFlight > 0) return false;
    this.#queue.shift();
    this.#busy = true;
    body(() => {
      this.#busy = false;
      this.#pump();
    });
    return true;
  }

  #increment(req: KeyRequest, n: Int, done: ReplyCallback): void {
    const value = addInt64(this.#total, n);
    if (value === null) return done(OVERFLOW);
    this.#total = value;
    this.#stats.increments++;
    const sub = this.#subs[this.#turn++ % this.#subs.length]!;
    this.#inFlight++;
    req.forward(makeCommand('incrby', sub, String(n)), (reply) => {
      this.#inFlight--;
      if (intOf(reply) !== undefined) done(value);
      // Refused, so not applied: it goes to the base key before anything queued after it.
      else if (refusedByRedis(reply)) this.#queue.unshift({ kind: 'retry', req, n, value, done });
      else {
        // Failed, perhaps applied: the total is no longer known; read it again.
        this.#mode = 'unknown';
        done(reply);
      }
      this.#pump();
    });
  }

  /** Sends a command for the base key to the next stage. */
  #toBase(via: KeyRequest, cmd: KeyRequest['cmd'], done: ReplyCallback): void {
    const spec = cmd === via.cmd ? via.spec : commandSpec(cmd.name)!;
    this.#inFlight++;
    this.#next.run({ session: via.session, spec, cmd, key: this.#key, forward: via.forward }, (reply) => {
      this.#inFlight--;
      done(reply);
      // What waited for the key to be quiet may start now.
      this.#pump();
    });
  }

  /** Reads base and sub-keys together: the replies in that order. */
  #readAll(via: KeyRequest, withTtl: boolean, done: (base: Reply, subs: Reply[], pttl: Reply) => void): void {
    const subs = new Array<Reply>(this.#subs.length);
    let base: Reply = null;
    let pttl: Reply = -1;
    let left = this.#subs.length + 1 + (withTtl ? 1 : 0);
    const one = (): void => {
      if (--left === 0) done(base, subs, pttl);
    };
    if (withTtl) this.#toBase(via, makeCommand('pttl', this.#key), (r) => ((pttl = r), one()));
    this.#toBase(via, makeCommand('get', this.#key), (r) => ((base = r), one()));
    this.#subs.forEach((sub, i) => via.forward(makeCommand('get', sub), (r) => ((subs[i] = r), one())));
  }

  /** GET: the sum of base and sub-keys, which is also the total from now on. */
  #read(via: KeyRequest, done: ReplyCallback): void {
    this.#stats.reads++;
    this.#readAll(via, false, (base, subs) => {
      const sum = total(base, subs);
      if (sum === undefined) {
        // Not a counter any more (another router or client wrote the key): answer as Redis does for the key.
        this.#mode = 'unknown';
        return done(firstError(base, subs) ?? base);
      }
      this.#total = sum ?? 0;
      if (sum === null) return done(null);
      done(bulkOf(sum));
    });
  }

  /** Decides whether the key can be salted now, and learns its total. */
  #look(via: KeyRequest, done: () => void): void {
    this.#stats.looks++;
    this.#readAll(via, true, (base, subs, pttl) => {
      const sum = total(base, subs);
      const ttl = intOf(pttl);
      const plain = (reason: string): void => {
        this.#mode = 'plain';
        this.#reason = reason;
        this.#retryAt = this.#clock.now() + this.#recheckMs;
        done();
      };
      if (sum === undefined) {
        const parts = subs.filter((r) => counterOf(r) !== null && counterOf(r) !== undefined).length;
        if (counterOf(base) !== undefined || parts === 0) return plain('the key does not hold an integer');
        // Another client made the key a non-counter after the sub-keys' increments
        // were answered: that write overwrote them, as it would have on one node.
        let left = this.#subs.length;
        for (const sub of this.#subs)
          via.forward(makeCommand('del', sub), () => {
            if (--left === 0) plain('the key does not hold an integer');
          });
        return;
      }
      this.#total = sum ?? 0;
      this.#mode = 'salted';
      if (ttl === undefined || ttl < 0) {
        this.#reason = null;
        return done();
      }
      // Sub-keys would outlive the key's expiry; any left from before go back into it.
      this.#fold(via, (failure) => {
        if (failure !== undefined) this.#mode = 'unknown';
        plain('the key has an expiry');
      });
    });
  }

  /**
   * Moves every sub-key's value into the base key: GETDEL each, then INCRBY
   * the base by their sum. Calls back with an error reply if it could not
   * (the values taken are put back).
   */
  #fold(via: KeyRequest, done: (failure?: Reply) => void): void {
    this.#stats.folds++;
    const values = new Array<Reply>(this.#subs.length);
    let left = this.#subs.length;
    this.#subs.forEach((sub, i) =>
      via.forward(makeCommand('getdel', sub), (reply) => {
        values[i] = reply;
        if (--left > 0) return;
        const sum = partsOf(values);
        if (sum === null) return done();
        if (sum === undefined) {
          this.#restore(via, values);
          return done(
            firstError(null, values) ??
              hsError(ErrorCode.Internal, 'salted sub-keys of this counter do not hold integers'),
          );
        }
        // Parts of a counter in range may sum past int64 (a negative base):
        // then the base takes them in steps, one after the other.
        const todo = steps(sum);
        const next = (i: number): void => {
          if (i === todo.length) return done();
          this.#toBase(via, makeCommand('incrby', this.#key, String(todo[i])), (r) => {
            if (intOf(r) !== undefined) return next(i + 1);
            // Redis refused: another client made the key a non-counter after
            // these increments were answered, which overwrote them, as it
            // would have on one node. Any other failure: they go back.
            if (refusedByRedis(r)) return done(r);
            todo.slice(i).forEach((back, k) => {
              const sub = this.#subs[k % this.#subs.length]!;
              via.forward(makeCommand('incrby', sub, String(back)), () => {});
            });
            done(r);
          });
        };
        next(0);
      }),
    );
  }

  /** Puts taken sub-key values back (a fold that could not complete). */
  #restore(via: KeyRequest, values: readonly Reply[]): void {
    this.#subs.forEach((sub, i) => {
      const v = counterOf(values[i]!);
      if (v !== null && v !== undefined) via.forward(makeCommand('incrby', sub, String(v)), () => {});
    });
  }
}

/**
 * base + sub-keys: null when none exists, undefined when one is not an
 * integer or the sum is outside int64. Summed without bounds on the way:
 * parts of a counter in range may pass INT64_MAX between them.
 */
function total(base: Reply, subs: readonly Reply[]): Int | null | undefined {
  const sum = partsOf([base, ...subs]);
  return sum === null || sum === undefined ? sum : (addInt64(sum, 0) ?? undefined);
}

/** The sum of counter replies as a bigint, unbounded; null when none exists, undefined when one is not an integer. */
function partsOf(replies: readonly Reply[]): bigint | null | undefined {
  let sum = 0n;
  let any = false;
  for (const r of replies) {
    const v = counterOf(r);
    if (v === undefined) return undefined;
    if (v === null) continue;
    any = true;
    sum += BigInt(v);
  }
  return any ? sum : null;
}

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;

/**
 * `sum` as INCRBY arguments: one when it is an int64, else up to three of
 * one sign. Added in order to a base whose total with `sum` is an int64,
 * every step stays between the base and that total, so none overflows.
 */
function steps(sum: bigint): bigint[] {
  const out: bigint[] = [];
  let left = sum;
  do {
    const step = left > I64_MAX ? I64_MAX : left < I64_MIN ? I64_MIN : left;
    out.push(step);
    left -= step;
  } while (left !== 0n);
  return out;
}

function firstError(base: Reply, subs: readonly Reply[]): Reply | undefined {
  return [base, ...subs].find((r) => isErrorReply(r));
}

function checkedBuckets(policy: KeyPolicy): number {
  const buckets = policy.salt?.buckets;
  if (!Number.isInteger(buckets) || buckets! < 1 || buckets! > MAX_BUCKETS)
    throw new ConfigError(`salt.buckets must be an integer in [1, ${MAX_BUCKETS}] (got ${String(buckets)})`);
  return buckets!;
}

/**
 * The salt remedy.
 *
 * @example
 * const manager = new PolicyManager(ctx, [aggregate, saltRemedy()]);
 * await manager.set(Buffer.from('likes:1'), { consistency: 'strong', salt: { buckets: 4 } });
 */
export function saltRemedy(options: SaltOptions = {}): Remedy<'salt'> {
  const recheckMs = options.recheckMs ?? 1_000;
  if (!Number.isFinite(recheckMs) || recheckMs < 0)
    throw new ConfigError(`recheckMs must be a non-negative number of ms (got ${String(recheckMs)})`);
  return {
    name: 'salt',
    build(policy, key, next, ctx) {
      const buckets = checkedBuckets(policy);
      const table = ctx.router.table;
      const subs = chooseSubKeys(key, buckets, table);
      const nodes = subs.map((s) => table.shardFor(s).node as string);
      const stage = new SaltStage(Buffer.from(key), subs, nodes, next, ctx.clock, recheckMs);
      // A FLUSHALL through the router passes no key's stages: the running total is
      // re-read (base and sub-keys) before the next increment is answered.
      const flushed = (): void => stage.forgetTotal();
      ctx.router.onFlushAll.add(flushed);
      void stage.closed.then(() => ctx.router.onFlushAll.delete(flushed));
      return stage;
    },
  };
}

/** The salt remedy with its defaults. */
export const salt: Remedy<'salt'> = saltRemedy();
