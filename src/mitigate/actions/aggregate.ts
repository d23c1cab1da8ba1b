/**
 * Counter aggregation with group commit (issue 13 §2.4): a write-hot
 * counter's INCR / INCRBY / DECR / DECRBY are gathered for up to `flushMs`
 * and sent as one INCRBY of their sum. Every client is answered from that
 * INCRBY's result R: the value before the batch is R − sum, and each
 * increment's reply is the running sum in arrival order, so the replies are
 * exactly those Redis gives when the increments arrive one by one in that
 * order: distinct and gap-free, and none sent before its batch is
 * acknowledged (`sync`, the default).
 *
 * Order is kept for everything else on the key. One batch is in flight at a
 * time and nothing behind it is sent until it is acknowledged, because a
 * batch Redis refuses (overflow, WRONGTYPE, not an integer) is replayed one
 * increment at a time for Redis's own answer to each, and those must land
 * before whatever came after them. While a batch is in flight the next one
 * keeps gathering (group commit), so a batch holds at least
 * rate × max(flushMs, round trip) increments: writes per increment at most
 * 1 / (rate × flushMs): 0.025 at 20k INCR/s and 2 ms, 0.01 at 5 ms
 * (bench/counters measures 0.015–0.019 and 0.008–0.009: timers fire late,
 * and the next batch gathers while one is in flight), so the 0.01 target at
 * 20k INCR/s wants flushMs ≥ 5. Any other command (GET, SET, DEL, EXPIRE, INCRBYFLOAT ...) ends the
 * gathering batch, which is sent before it. Other commands may be pipelined
 * to the next stage among themselves: it is FIFO for one key (one pipelined
 * connection per Redis node; the embedded node's capacity model serves in
 * admission order; the salt stage keeps arrival order).
 *
 * `async` (only where a policy asks): an increment is answered at once from
 * the counter's last known value (the last batch's result plus what is
 * queued since) and written with its batch later. The window: an answered
 * increment is lost if this router dies within flushMs (plus the previous
 * batch's round trip) of answering it. The replies are what Redis would give
 * only while this router is the counter's only writer, and an answered
 * increment whose batch then fails (node down, or refused because another
 * client changed the key) is lost although answered. When the value is not
 * known (the first batch, after another write to the key, after a failed
 * batch) or an increment would overflow, it is answered as in `sync`.
 */
import type { ReplyCallback } from '../../backend/backend.js';
import { ConfigError } from '../../errors.js';
import { makeCommand } from '../../protocol/command.js';
import { commandSpec, type CommandSpec } from '../../router/command-table.js';
import type { KeyHandler, KeyRequest } from '../../router/key-policies.js';
import type { AggregateSettings, KeyPolicy, Remedy, RemedyStage } from '../policy.js';
import { addInt64, Drain, incrementOf, intOf, refusedByRedis, subInt64, type Int } from './counter-values.js';

/** Where the flush timers come from; injected so tests decide when a batch is due. */
export interface Timers {
  set(fire: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The global setTimeout / clearTimeout. */
export const systemTimers: Timers = {
  set: (fire, ms) => setTimeout(fire, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Longest a batch waits, when a policy does not say. */
export const DEFAULT_FLUSH_MS = 2;
/** Most increments in one batch, when the remedy's options do not say. */
export const DEFAULT_MAX_BATCH = 10_000;

/** Options of the aggregate remedy, shared by every key it serves. */
export interface AggregateOptions {
  readonly timers?: Timers;
  /** A batch that reaches this many increments is sent without waiting for flushMs. */
  readonly maxBatch?: number;
}

const INCRBY: CommandSpec = commandSpec('incrby')!;
const DECRBY: CommandSpec = commandSpec('decrby')!;

interface Increment {
  readonly req: KeyRequest;
  readonly n: Int;
  readonly done: ReplyCallback;
  /** Answered before its batch was written (async). */
  readonly answered: boolean;
}

interface Batch {
  readonly kind: 'batch';
  readonly items: Increment[];
  sum: Int;
  /** Lowest and highest running sum within the batch (0 included): Redis refuses an increment that takes the counter out of int64 on the way. */
  lo: Int;
  hi: Int;
  /** flushMs has passed (or something forces it out): send when nothing ahead blocks it. */
  due: boolean;
  /** Takes no more increments. */
  sealed: boolean;
  timer: unknown;
}

interface Pass {
  readonly kind: 'pass';
  readonly req: KeyRequest;
  readonly done: ReplyCallback;
}

class AggregateStage implements RemedyStage {
  readonly #key: Buffer;
  readonly #next: KeyHandler;
  readonly #flushMs: number;
  readonly #async: boolean;
  readonly #timers: Timers;
  readonly #maxBatch: number;
  readonly #queue: (Batch | Pass)[] = [];
  #batchInFlight = false;
  #passInFlight = 0;
  readonly #drain = new Drain(() => this.#sendReady());
  #closing = false;
  #closed: (() => void)[] = [];
  /** async: the counter's value after everything queued, when known. */
  #known: Int | undefined;
  readonly #stats = { batches: 0, increments: 0, writes: 0, refused: 0, early: 0 };

  constructor(key: Buffer, settings: AggregateSettings, next: KeyHandler, options: AggregateOptions) {
    this.#key = key;
    this.#next = next;
    this.#flushMs = settings.flushMs;
    this.#async = settings.mode === 'async';
    this.#timers = options.timers ?? systemTimers;
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  }

  run(req: KeyRequest, done: ReplyCallback): void {
    const n = incrementOf(req.spec.name, req.cmd.args);
    if (n === undefined) this.#pass(req, done);
    else this.#increment(req, n, done);
    this.#pump();
  }

  status(): Record<string, unknown> {
    const s = this.#stats;
    let pending = 0;
    for (const op of this.#queue) if (op.kind === 'batch') pending += op.items.length;
    return {
      mode: this.#async ? 'async' : 'sync',
      flushMs: this.#flushMs,
      batches: s.batches,
      increments: s.increments,
      backendWrites: s.writes,
      writesPerIncrement: s.increments === 0 ? null : s.writes / s.increments,
      refusedBatches: s.refused,
      answeredEarly: s.early,
      pending,
    };
  }

  /** The counter may no longer hold what this stage last knew (FLUSHALL). */
  forgetValue(): void {
    this.#known = undefined;
  }

  #afterClose: (() => void) | undefined;
  /** Called once the stage has closed. */
  onClose(fn: () => void): void {
    this.#afterClose = fn;
  }

  close(): Promise<void> {
    this.#closing = true;
    for (const op of this.#queue) if (op.kind === 'batch') this.#seal(op);
    this.#pump();
    const closed = this.#idle()
      ? Promise.resolve()
      : new Promise<void>((resolve) => this.#closed.push(resolve));
    return closed.then(() => this.#afterClose?.());
  }

  #increment(req: KeyRequest, n: Int, done: ReplyCallback): void {
    let batch = this.#gathering();
    let sum = batch === undefined ? n : addInt64(batch.sum, n);
    if (batch !== undefined && sum === null) {
      // The batch's INCRBY argument must itself be an int64.
      this.#seal(batch);
      batch = undefined;
      sum = n;
    }
    if (batch === undefined) {
      batch = { kind: 'batch', items: [], sum: 0, lo: 0, hi: 0, due: false, sealed: false, timer: undefined };
      this.#queue.push(batch);
      if (this.#flushMs <= 0 || this.#closing) batch.due = true;
      else {
        const b = batch;
        b.timer = this.#timers.set(() => {
          b.timer = undefined;
          b.due = true;
          this.#pump();
        }, this.#flushMs);
      }
    }
    let answered = false;
    if (this.#async && this.#known !== undefined) {
      const value = addInt64(this.#known, n);
      this.#known = value ?? undefined;
      if (value !== null) {
        answered = true;
        this.#stats.early++;
        done(value);
      }
    }
    batch.items.push({ req, n, done, answered });
    batch.sum = sum!;
    if (sum! < batch.lo) batch.lo = sum!;
    if (sum! > batch.hi) batch.hi = sum!;
    if (batch.items.length >= this.#maxBatch) this.#seal(batch);
  }

  #pass(req: KeyRequest, done: ReplyCallback): void {
    const tail = this.#gathering();
    if (tail !== undefined) this.#seal(tail);
    if (req.spec.write) this.#known = undefined;
    this.#queue.push({ kind: 'pass', req, done });
  }

  /** The batch still taking increments: the last thing queued, unless sealed. */
  #gathering(): Batch | undefined {
    const tail = this.#queue[this.#queue.length - 1];
    return tail?.kind === 'batch' && !tail.sealed ? tail : undefined;
  }

  #seal(batch: Batch): void {
    batch.sealed = true;
    batch.due = true;
    if (batch.timer !== undefined) this.#timers.clear(batch.timer);
    batch.timer = undefined;
  }

  // Sends what may go now. Replies can arrive synchronously (an embedded node
  // without a capacity model), re-entering here: the outer pass goes on instead.
  #pump(): void {
    if (!this.#drain.run()) return;
    if (this.#idle()) for (const resolve of this.#closed.splice(0)) resolve();
  }

  #sendReady(): void {
    while (!this.#batchInFlight && this.#queue.length > 0) {
      const op = this.#queue[0]!;
      if (op.kind === 'pass') {
        this.#queue.shift();
        this.#passInFlight++;
        this.#next.run(op.req, (reply) => {
          this.#passInFlight--;
          op.done(reply);
          this.#settled();
        });
        continue;
      }
      if (!op.due) break;
      this.#queue.shift();
      this.#seal(op);
      this.#batchInFlight = true;
      this.#send(op);
    }
  }

  #settled(): void {
    this.#pump();
  }

  #idle(): boolean {
    return this.#queue.length === 0 && !this.#batchInFlight && this.#passInFlight === 0;
  }

  #send(batch: Batch): void {
    const items = batch.items;
    const first = items[0]!;
    this.#stats.batches++;
    this.#stats.writes++;
    this.#stats.increments += items.length;
    if (items.length === 1) {
      // Alone, the increment goes as it came and its reply is Redis's own.
      return this.#next.run(first.req, (reply) => {
        if (!first.answered) first.done(reply);
        this.#acked(intOf(reply));
      });
    }
    const cmd = makeCommand('incrby', this.#key, String(batch.sum));
    const req: KeyRequest = {
      session: first.req.session,
      spec: INCRBY,
      cmd,
      key: this.#key,
      forward: first.req.forward,
    };
    this.#next.run(req, (reply) => {
      const result = intOf(reply);
      if (result !== undefined) {
        let value = subInt64(result, batch.sum);
        // One by one, Redis would have refused the increment that went past
        // int64 on the way (a mixed batch can end in range): undo, replay.
        if (addInt64(value, batch.lo) === null || addInt64(value, batch.hi) === null)
          return this.#undo(batch, req);
        for (const item of items) {
          value = addInt64(value, item.n)!;
          if (!item.answered) item.done(value);
        }
        return this.#acked(result);
      }
      if (refusedByRedis(reply)) return this.#replay(items);
      // hotshard's own error (node down, timeout): the batch's fate is not
      // known, as an INCR's is not after a timeout; every client hears so.
      for (const item of items) if (!item.answered) item.done(reply);
      this.#acked(undefined);
    });
  }

  /** Takes a batch's sum back off the counter, then replays its increments one by one. */
  #undo(batch: Batch, req: KeyRequest): void {
    this.#stats.writes++;
    // DECRBY of INT64_MIN is refused; its negation is no int64 either: two steps.
    const minimum = typeof batch.sum === 'bigint' && batch.sum === -9223372036854775808n;
    const undo = minimum ? ['9223372036854775807', '1'] : [String(batch.sum)];
    let left = undo.length;
    for (const by of undo) {
      const cmd = makeCommand(minimum ? 'incrby' : 'decrby', this.#key, by);
      this.#next.run({ ...req, spec: minimum ? INCRBY : DECRBY, cmd }, () => {
        if (--left === 0) this.#replay(batch.items);
      });
    }
  }

  // Redis refused the sum: each increment again, in order, for its own answer.
  #replay(items: readonly Increment[]): void {
    this.#stats.refused++;
    this.#stats.writes += items.length;
    let left = items.length;
    for (const item of items) {
      this.#next.run(item.req, (reply) => {
        if (!item.answered) item.done(reply);
        if (--left === 0) this.#acked(undefined);
      });
    }
  }

  /** A batch is done; `result` is the counter after it, when known. */
  #acked(result: Int | undefined): void {
    this.#batchInFlight = false;
    if (this.#async) this.#known = result === undefined ? undefined : this.#after(result);
    this.#pump();
  }

  /** async: the value after everything still queued, from the value after the acknowledged batch. */
  #after(result: Int): Int | undefined {
    let value: Int | null = result;
    for (const op of this.#queue) {
      if (op.kind === 'pass') {
        if (op.req.spec.write) return undefined;
        continue;
      }
      value = addInt64(value, op.sum);
      if (value === null) return undefined;
    }
    return value;
  }
}

function checked(policy: KeyPolicy): AggregateSettings {
  const s = policy.aggregate;
  const flushMs = s?.flushMs ?? DEFAULT_FLUSH_MS;
  if (typeof flushMs !== 'number' || !Number.isFinite(flushMs) || flushMs < 0 || flushMs > 1_000)
    throw new ConfigError(`aggregate.flushMs must be a number of ms in [0, 1000] (got ${String(flushMs)})`);
  const mode = s?.mode ?? 'sync';
  if (mode !== 'sync' && mode !== 'async')
    throw new ConfigError(`aggregate.mode must be 'sync' or 'async' (got ${String(mode)})`);
  return { flushMs, mode };
}

/**
 * The aggregate remedy, with its timers and batch cap.
 *
 * @example
 * const manager = new PolicyManager(ctx, [aggregateRemedy(), saltRemedy()]);
 * await manager.set(Buffer.from('likes:1'), { consistency: 'strong', aggregate: { flushMs: 2, mode: 'sync' } });
 */
export function aggregateRemedy(options: AggregateOptions = {}): Remedy<'aggregate'> {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1)
    throw new ConfigError(`maxBatch must be a positive integer (got ${String(maxBatch)})`);
  return {
    name: 'aggregate',
    build: (policy, key, next, ctx) => {
      const stage = new AggregateStage(key, checked(policy), next, options);
      // A FLUSHALL through the router passes no key's stages: the value async mode
      // answers from is forgotten at its acknowledgement (the next batch re-learns it).
      const flushed = (): void => stage.forgetValue();
      ctx.router.onFlushAll.add(flushed);
      stage.onClose(() => ctx.router.onFlushAll.delete(flushed));
      return stage;
    },
  };
}

/** The aggregate remedy on the global timers. */
export const aggregate: Remedy<'aggregate'> = aggregateRemedy();
