/**
 * Measured requests waiting for their reply on one client connection, which
 * hands each reply here before it slots it (see Instrumentation.keyed).
 *
 * Why not a reply callback of their own: a measured request sent with a
 * callback that settles a measuring object makes the reply path polymorphic
 * (the connection's `settle` and the measurer's), and V8 then stops inlining
 * the connection's `settle` into the backend's reply loop — for every reply,
 * measured or not (node --trace-turbo-inlining: RedisConnection#onData
 * inlines Connection.settle with telemetry off, and calls it with telemetry
 * on). Here every reply keeps the one monomorphic path, and the few measured
 * ones are found by sequence number in a list that rarely holds more than
 * one or two.
 */
import type { Reply } from '../protocol/reply.js';

/** One measured request. */
export interface Probe {
  /** The connection's sequence number of its command (set by `Probes.add`). */
  seq: number;
  /** Records the reply (does not pass it on: the connection does). */
  record(reply: Reply): void;
  /** The reply will never come (the connection closed): release what it holds. */
  abandon(): void;
}

/** The measured requests in flight on one connection. */
export class Probes {
  /** The sequence number of the command being dispatched now. */
  current = 0;
  /** Probes waiting (read on every reply). */
  count = 0;
  readonly #list: Probe[] = [];

  /** The command being dispatched is measured. */
  add(probe: Probe): void {
    probe.seq = this.current;
    this.#list.push(probe);
    this.count = this.#list.length;
  }

  /** The reply to command `seq` arrived: records it if that command is measured. */
  settle(seq: number, reply: Reply): void {
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      const probe = list[i]!;
      if (probe.seq !== seq) continue;
      list[i] = list[list.length - 1]!;
      list.pop();
      this.count = list.length;
      probe.record(reply);
      return;
    }
  }

  /** The connection closed: no reply will come for what is left. */
  abandonAll(): void {
    for (const probe of this.#list) probe.abandon();
    this.#list.length = 0;
    this.count = 0;
  }
}
