/**
 * Clients parked on an embedded node by a blocking pop, after Redis 7.0's
 * blocked.c: each key keeps its waiters in arrival order; a push marks the
 * key ready (Keyspace.signalReady), and after the command that pushed, the
 * waiters of each ready key are offered it in order until it runs dry, as
 * handleClientsBlockedOnKeys does. Serving one (BLMOVE pushing onto its
 * destination) may make further keys ready; those are served in the same pass.
 */
import type { CancelBlocking, ReplyCallback } from './backend.js';
import type { BlockingCall } from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import { Deque } from './memory-deque.js';
import { SortedSet } from './memory-sorted-set.js';
import { ReplyError, type Reply } from '../protocol/reply.js';

/** What CLIENT UNBLOCK ... ERROR answers the blocked command with (Redis's blocked.c). */
const UNBLOCKED = new ReplyError('UNBLOCKED client unblocked via CLIENT UNBLOCK');

/** Timers, injectable so tests of timeouts can run on fake time. */
export interface BlockTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: BlockTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // a parked client's socket keeps the process alive; its timer need not
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface Waiter {
  readonly call: BlockingCall;
  readonly done: ReplyCallback;
  timer: unknown;
  settled: boolean;
}

/** The waiters of one node. */
export class BlockedClients {
  readonly #byKey = new Map<string, Waiter[]>();

  constructor(
    readonly ks: Keyspace,
    readonly timers: BlockTimers,
    /** Called after a waiter was served, before its reply: the node delivers tracked changes. */
    readonly afterServe: () => void,
  ) {}

  /** How many clients are parked. */
  get size(): number {
    const all = new Set<Waiter>();
    for (const list of this.#byKey.values()) for (const w of list) all.add(w);
    return all.size;
  }

  /** Parks `call` until served, timed out or cancelled. */
  park(call: BlockingCall, done: ReplyCallback): CancelBlocking {
    const waiter: Waiter = { call, done, timer: undefined, settled: false };
    for (const key of new Set(call.keys)) {
      let list = this.#byKey.get(key);
      if (list === undefined) this.#byKey.set(key, (list = []));
      list.push(waiter);
      this.ks.blockedOn.add(key);
    }
    if (call.timeoutMs > 0) {
      waiter.timer = this.timers.setTimeout(() => {
        if (this.#settle(waiter)) done(call.timedOut);
      }, call.timeoutMs);
    }
    return (answer) => {
      if (!this.#settle(waiter)) return false;
      if (answer !== undefined) done(answer === 'timeout' ? call.timedOut : UNBLOCKED);
      return true;
    };
  }

  /** Serves waiters of every key made ready since the last pass. */
  serveReady(): void {
    for (;;) {
      const ready = this.ks.ready;
      if (ready === null) return;
      this.ks.ready = null;
      for (const key of ready) this.#serveKey(key);
    }
  }

  /** Answers every waiter with `reply` (the node is closing). */
  failAll(reply: Reply): void {
    const all = new Set<Waiter>();
    for (const list of this.#byKey.values()) for (const w of list) all.add(w);
    for (const w of all) if (this.#settle(w)) w.done(reply);
  }

  #serveKey(key: string): void {
    const list = this.#byKey.get(key);
    if (list === undefined) return;
    for (const w of [...list]) {
      if (w.settled) continue;
      const reply = w.call.serveKey(this.ks, key);
      if (reply === undefined) {
        // a list or sorted set that ran dry serves none of the rest either; a stream's
        // readers each wait for entries after their own ID or their group's, and a
        // stream that went unblocks XREADGROUP but not XREAD (serveClientsBlockedOnStreamKey)
        const v = this.ks.get(key);
        if (v instanceof Deque || v instanceof SortedSet) return;
        continue;
      }
      this.#settle(w);
      this.afterServe();
      w.done(reply);
    }
  }

  /** Unparks a waiter; false when it was already settled. */
  #settle(w: Waiter): boolean {
    if (w.settled) return false;
    w.settled = true;
    if (w.timer !== undefined) this.timers.clearTimeout(w.timer);
    for (const key of new Set(w.call.keys)) {
      const list = this.#byKey.get(key);
      if (list === undefined) continue;
      const at = list.indexOf(w);
      if (at !== -1) list.splice(at, 1);
      if (list.length === 0) {
        this.#byKey.delete(key);
        this.ks.blockedOn.delete(key);
      }
    }
    return true;
  }
}
