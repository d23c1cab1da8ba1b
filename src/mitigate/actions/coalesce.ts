/**
 * Request coalescing (singleflight) for one key: concurrent identical reads
 * share one backend read, and every waiter gets its reply, errors included.
 *
 * The generation rule keeps it coherent: a key's generation is bumped at every
 * invalidation (a write's acknowledgement, an invalidation from the node), and
 * a read may only join a backend read begun in the key's current generation.
 * A read begun before a write was acknowledged may have been served before the
 * write; handing its reply to a read sent after the acknowledgement would
 * return the older value, which DESIGN.md "Semantics" forbids.
 */
import type { ReplyCallback } from '../../backend/backend.js';
import type { Reply } from '../../protocol/reply.js';

/** One backend read in flight and the reads waiting for its reply. */
export class Flight {
  /** The first waiter is the read that began it; the rest joined. */
  readonly waiters: ReplyCallback[] = [];
  constructor(
    /** The key's generation when the read was sent. */
    readonly generation: number,
    /** When it was sent (ms), which bounds how long its reply may be cached. */
    readonly sentAt: number,
  ) {}

  /**
   * Answers every waiter once. A waiter that throws does not keep the reply
   * from the others; the first throw is raised again once all are answered.
   */
  answer(reply: Reply): void {
    const waiters = this.waiters.splice(0);
    let failure: Error | undefined;
    for (const w of waiters) {
      try {
        w(reply);
      } catch (err) {
        failure ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    if (failure !== undefined) throw failure;
  }
}

/** The reads of one key in flight, by request identity (command and arguments after the key). */
export class Coalescer {
  readonly #flights = new Map<string, Flight>();
  /** Reads that joined a flight instead of reaching the backend. */
  joined = 0;

  /** Joins the flight for `id` when one began in `generation`; false when the caller must begin its own. */
  join(id: string, generation: number, done: ReplyCallback): boolean {
    const flight = this.#flights.get(id);
    if (flight === undefined || flight.generation !== generation) return false;
    flight.waiters.push(done);
    this.joined++;
    return true;
  }

  /** The flight for `id` in progress, if it began in `generation`. */
  current(id: string, generation: number): Flight | undefined {
    const flight = this.#flights.get(id);
    return flight !== undefined && flight.generation === generation ? flight : undefined;
  }

  /**
   * Begins a flight for `id`, replacing (for joining) an older-generation one,
   * which still answers its own waiters.
   */
  begin(id: string, generation: number, sentAt: number): Flight {
    const flight = new Flight(generation, sentAt);
    this.#flights.set(id, flight);
    return flight;
  }

  /** The flight's reply arrived: it takes no more waiters. */
  end(id: string, flight: Flight): void {
    if (this.#flights.get(id) === flight) this.#flights.delete(id);
  }

  /** Flights in progress. */
  get size(): number {
    return this.#flights.size;
  }
}

/**
 * The identity of a read of one key: its command and the arguments after the
 * key, length-prefixed so `HMGET k a b` and `HMGET k a\0b` differ. GET and
 * HGETALL, the common cases, allocate nothing.
 */
export function readId(name: string, args: readonly Buffer[]): string {
  if (args.length <= 2) return name;
  let id = name;
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!;
    id += `\n${a.length}:${a.toString('latin1')}`;
  }
  return id;
}
