/**
 * The capacity model of an embedded node: it serves at most `capacity`
 * operations per second, and what exceeds that waits in a bounded FIFO, so an
 * overloaded node shows real queueing latency (backlog / capacity) instead of
 * answering instantly at any rate.
 */
import { systemClock, type Clock } from '../clock.js';
import { ConfigError, ErrorCode } from '../errors.js';
import type { NodeId } from '../keyspace/ids.js';
import { hsError, type ReplyError } from '../protocol/reply.js';

/** Options of a {@link CapacityModel}. */
export interface CapacityModelOptions<T> {
  /** The node this models, named in the overload error. */
  readonly node: NodeId;
  /** Operations per second the node serves. */
  readonly capacity: number;
  /** Operations that may wait; one more is rejected. Default 10_000. */
  readonly maxQueue?: number;
  /** Operations an idle node may serve back to back. Default capacity / 100, at least 1. */
  readonly burst?: number;
  /** Where time comes from (ms). Default the wall clock; timers are the global ones. */
  readonly clock?: Clock;
  /** Serves one admitted item, now or later, in admission order. Must not throw. */
  readonly serve: (item: T) => void;
}

/** Default bound on waiting operations per node. */
export const DEFAULT_MAX_QUEUE = 10_000;

/**
 * A token bucket in front of a FIFO. With no backlog and a token available an
 * item is served synchronously (no timer per request); otherwise it queues and
 * one timer at a time drains the queue as tokens accrue.
 *
 * @example
 * const model = new CapacityModel({ node, capacity: 5_000, serve: (job) => job() });
 * if (!model.submit(job)) reply(model.overloaded);
 */
export class CapacityModel<T> {
  readonly #capacity: number;
  readonly #maxQueue: number;
  readonly #burst: number;
  readonly #clock: Clock;
  readonly #serve: (item: T) => void;
  /** The reply for a rejected item; one instance, the text never changes. */
  readonly overloaded: ReplyError;
  #queue: Array<T | undefined> = [];
  #head = 0;
  #tokens: number;
  #last: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** Items queued and served from the queue so far, and who waits for the queue to pass a count. */
  #pushed = 0;
  #passed = 0;
  #marks: { at: number; fn: () => void }[] = [];

  constructor(options: CapacityModelOptions<T>) {
    const { capacity, maxQueue = DEFAULT_MAX_QUEUE } = options;
    if (typeof capacity !== 'number' || !Number.isFinite(capacity) || capacity <= 0) {
      throw new ConfigError(
        `capacity must be a positive number of operations per second (got ${String(capacity)})`,
      );
    }
    if (!Number.isSafeInteger(maxQueue) || maxQueue < 0) {
      throw new ConfigError(`maxQueue must be a non-negative integer (got ${String(maxQueue)})`);
    }
    const burst = options.burst ?? Math.max(1, capacity / 100);
    if (!Number.isFinite(burst) || burst < 1) {
      throw new ConfigError(`burst must be a number >= 1 (got ${String(burst)})`);
    }
    this.#capacity = capacity;
    this.#maxQueue = maxQueue;
    this.#burst = burst;
    this.#clock = options.clock ?? systemClock;
    this.#serve = options.serve;
    this.#tokens = burst;
    this.#last = this.#clock.now();
    this.overloaded = hsError(
      ErrorCode.NodeOverloaded,
      `node ${options.node} is over capacity (${capacity} ops/s, queue full); retry later`,
    );
  }

  /** Operations per second this node serves. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Bound on waiting operations. */
  get maxQueue(): number {
    return this.#maxQueue;
  }

  /** Operations waiting now. */
  get queueDepth(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Serves `item` now when the node has spare capacity and nothing waits,
   * queues it otherwise. False (and nothing happens) when the queue is full or
   * the model is closed; the caller then replies {@link overloaded}.
   */
  submit(item: T): boolean {
    if (this.#closed) return false;
    if (this.queueDepth === 0) {
      this.#refill(true);
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        this.#serve(item);
        return true;
      }
    }
    if (this.queueDepth >= this.#maxQueue) return false;
    this.#queue.push(item);
    this.#pushed++;
    this.#schedule();
    return true;
  }

  /**
   * Calls `fn` once every item admitted before has been served: at once when
   * nothing waits (an item served at submit ran synchronously), else after
   * the queue's present tail (a live move's barrier). Also called at close.
   */
  afterQueued(fn: () => void): void {
    if (this.queueDepth === 0 || this.#closed) return fn();
    this.#marks.push({ at: this.#pushed, fn });
  }

  /** Stops serving: cancels the timer and hands back what was waiting, oldest first. */
  close(): T[] {
    this.#closed = true;
    for (const m of this.#marks.splice(0)) m.fn();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#queue.slice(this.#head) as T[];
    this.#queue = [];
    this.#head = 0;
    return waiting;
  }

  /**
   * Adds the tokens earned since the last refill. An idle node banks at most
   * `burst`; while a backlog waits the node was busy the whole time, so all
   * the time counts (a late timer then serves the catch-up in one go, keeping
   * throughput at capacity instead of losing what the timer overslept).
   */
  #refill(idle: boolean): void {
    const now = this.#clock.now();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) this.#tokens += (elapsed * this.#capacity) / 1000;
    if (idle && this.#tokens > this.#burst) this.#tokens = this.#burst;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#capacity));
    this.#timer = setTimeout(this.#drain, wait);
  }

  readonly #drain = (): void => {
    this.#timer = undefined;
    this.#refill(false);
    while (this.#tokens >= 1 && this.queueDepth > 0 && !this.#closed) {
      this.#tokens -= 1;
      const item = this.#queue[this.#head] as T;
      this.#queue[this.#head++] = undefined; // let the item be collected
      this.#passed++;
      try {
        this.#serve(item);
      } catch (err) {
        // a throwing serve must not strand the rest of the queue; surface it all the same
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    while (this.#marks.length > 0 && this.#marks[0]!.at <= this.#passed) this.#marks.shift()!.fn();
    if (this.queueDepth === 0) {
      this.#queue = [];
      this.#head = 0;
      if (this.#tokens > this.#burst) this.#tokens = this.#burst;
    } else {
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#schedule();
    }
  };
}
