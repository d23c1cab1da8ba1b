/**
 * Which commands an InvalidationFeed reads under tracking, and which of their
 * arguments are keys: shared by both backends so they accept and refuse the
 * same reads (the conformance suite checks it).
 *
 * Only reads: a tracked read on a Redis node goes over a connection of its own,
 * where a write would run unseen by the data path's ordering.
 */
import { ErrorCode } from '../errors.js';
import type { Command } from '../protocol/command.js';
import { hsError, type ReplyError } from '../protocol/reply.js';

/** Reads a cache fills from; the value is where their keys are: one key, or every argument. */
const TRACKED_READS: ReadonlyMap<string, 'first' | 'all'> = new Map([
  ['get', 'first'],
  ['hget', 'first'],
  ['hmget', 'first'],
  ['hgetall', 'first'],
  ['mget', 'all'],
]);

/** The keys a tracked read reads, or null when `cmd` is not one readTracked takes. */
export function trackedReadKeys(cmd: Command): readonly Buffer[] | null {
  const where = TRACKED_READS.get(cmd.name);
  if (where === undefined) return null;
  if (where === 'all') return cmd.args.slice(1);
  const key = cmd.args[1];
  return key === undefined ? [] : [key];
}

/** The answer to readTracked with a command it does not take. */
export function notATrackedRead(cmd: Command): ReplyError {
  return hsError(
    ErrorCode.BadRequest,
    `readTracked takes GET, MGET, HGET, HMGET or HGETALL, not '${cmd.name}'`,
  );
}

/** An error reply of a feed's own (its connection gone, the feed closed). */
export function feedError(code: ErrorCode, message: string): ReplyError {
  return hsError(code, message);
}

/** Calls a listener without letting its throw unwind the node's own bookkeeping; the error still surfaces. */
export function tell(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}
