/**
 * What the counter remedies (aggregate.ts, salt.ts) read out of commands and
 * replies: increments as Redis parses them, integer replies from either
 * backend (a Redis node's raw bytes or an embedded node's numbers), and
 * signed 64-bit arithmetic with Redis's overflow rule, so a reply computed
 * by a stage is the one Redis would have given; and the re-entrant drain
 * both stages send their queues with.
 */
import { parseInt64 } from '../../backend/memory-commands.js';
import { decodeReply } from '../../protocol/reply-decoder.js';
import { RawReply, ReplyError, type Reply } from '../../protocol/reply.js';

/** A signed 64-bit integer: a number while exact, else a bigint (as the backends reply). */
export type Int = number | bigint;

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Redis's answer to an INCR-family command that would leave int64. */
export const OVERFLOW = new ReplyError('ERR increment or decrement would overflow');

const normal = (v: bigint): Int => (v >= -SAFE_MAX && v <= SAFE_MAX ? Number(v) : v);

/** a + b, or null when it leaves int64 (Redis then refuses the increment). */
export function addInt64(a: Int, b: Int): Int | null {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(a) + BigInt(b);
  return r > I64_MAX || r < I64_MIN ? null : normal(r);
}

/** a - b, for values known to be in range (the value before a batch). */
export function subInt64(a: Int, b: Int): Int {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a - b;
    if (Number.isSafeInteger(r)) return r;
  }
  return normal(BigInt(a) - BigInt(b));
}

/**
 * The increment an INCR / INCRBY / DECR / DECRBY adds, or undefined for any
 * other command and for an argument Redis would refuse (not an integer, or
 * DECRBY of INT64_MIN): those go to Redis as they are, for its own answer.
 */
export function incrementOf(name: string, args: readonly Buffer[]): Int | undefined {
  switch (name) {
    case 'incr':
      return 1;
    case 'decr':
      return -1;
    case 'incrby': {
      const n = args.length === 3 ? parseInt64(args[2]!) : null;
      return n ?? undefined;
    }
    case 'decrby': {
      const n = args.length === 3 ? parseInt64(args[2]!) : null;
      if (n === null || n === I64_MIN) return undefined;
      return typeof n === 'number' ? -n : normal(-n);
    }
    default:
      return undefined;
  }
}

/** An integer reply's value, or undefined for anything else (an error, a string). */
export function intOf(reply: Reply): Int | undefined {
  if (typeof reply === 'number' || typeof reply === 'bigint') return reply;
  if (reply instanceof RawReply && reply.type === 0x3a) return intOf(decodeReply(reply.bytes));
  return undefined;
}

/**
 * A GET reply read as a counter: null when the key is absent, its integer,
 * or undefined when it is not one (a string, an error such as WRONGTYPE).
 */
export function counterOf(reply: Reply): Int | null | undefined {
  if (reply instanceof RawReply) return counterOf(decodeReply(reply.bytes));
  if (reply === null) return null;
  if (Buffer.isBuffer(reply)) return parseInt64(reply) ?? undefined;
  return undefined;
}

/**
 * True for an error in Redis's own words (WRONGTYPE, not an integer,
 * overflow): Redis refused the command, so nothing was applied. False for
 * hotshard's own errors (node down, timeout, overloaded), after which the
 * command may or may not have run.
 */
export function refusedByRedis(reply: Reply): boolean {
  if (reply instanceof RawReply) return reply.type === 0x2d;
  return reply instanceof ReplyError && reply.code === undefined;
}

/** The integer as Redis's GET shows it. */
export function bulkOf(v: Int): Buffer {
  return Buffer.from(String(v), 'latin1');
}

/**
 * Runs `drain` until a pass ends with nothing more asked of it. A reply can
 * arrive synchronously (an embedded node without a capacity model) and call
 * `run` again from inside `drain`: that call only asks the running pass for
 * one more round, so the stage's queue is never sent from two frames at once.
 */
export class Drain {
  #running = false;
  #again = false;
  constructor(private readonly drain: () => void) {}

  /** True when this call did the draining; false when it only asked the running one for another pass. */
  run(): boolean {
    if (this.#running) {
      this.#again = true;
      return false;
    }
    this.#running = true;
    do {
      this.#again = false;
      this.drain();
    } while (this.#again);
    this.#running = false;
    return true;
  }
}
