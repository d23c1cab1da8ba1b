/**
 * What the consumer-group commands share (group and consumer lookup, the
 * NOGROUP texts, the PEL bookkeeping of a delivery), and the commands that
 * work a group's pending entries list: XACK, XPENDING, XCLAIM, XAUTOCLAIM,
 * after Redis 7.0's t_stream.c, checking arguments in its order.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  is,
  I64_MAX,
  keyOf,
  NOT_INTEGER,
  NULL_ARRAY,
  parseInt64,
  SYNTAX,
  type Args,
  type Spec,
} from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import {
  Consumer,
  idReply,
  INVALID_ENTRIES_READ,
  MAX_ID,
  type ConsumerGroup,
  type Nack,
  type Stream,
  type StreamEntry,
} from './memory-stream.js';
import { entryReply, parseInterval, readStream, strictId, strictIds } from './memory-streams.js';

/**
 * An error text with names in it, as addReplyErrorFormat writes it: `%s`
 * stops at a NUL, CR and LF become spaces, and the bytes go out as they are
 * (a ReplyError holds text, sent as UTF-8).
 */
export function formatError(text: string): ReplyError {
  return new ReplyError(Buffer.from(text.replace(/[\r\n]/g, ' '), 'latin1').toString('utf8'));
}

/** A name as C's `%s` prints it. */
export const cstr = (s: string): string => s.split('\0')[0]!;

/** The NOGROUP of XPENDING, XCLAIM and XAUTOCLAIM. */
export const noKeyOrGroup = (key: string, group: string): ReplyError =>
  formatError(`NOGROUP No such key '${cstr(key)}' or consumer group '${cstr(group)}'`);

/** The NOGROUP of XGROUP and XINFO CONSUMERS. */
export const noGroupForKey = (key: string, group: string): ReplyError =>
  formatError(`NOGROUP No such consumer group '${cstr(group)}' for key name '${cstr(key)}'`);

export const nameReply = (name: string): Buffer => Buffer.from(name, 'latin1');

/** getLongLongFromObjectOrReply: the int64, or NOT_INTEGER (or `ERR <msg>` when given). */
export function longLongArg(b: Buffer, msg?: string): bigint | ReplyError {
  const v = parseInt64(b);
  if (v === null) return msg === undefined ? NOT_INTEGER : new ReplyError(`ERR ${msg}`);
  return BigInt(v);
}

/** A number from an int64 argument, clamped where no count or time can reach anyway. */
export const clampNumber = (v: bigint): number =>
  v > BigInt(Number.MAX_SAFE_INTEGER)
    ? Number.MAX_SAFE_INTEGER
    : v < -BigInt(Number.MAX_SAFE_INTEGER)
      ? -Number.MAX_SAFE_INTEGER
      : Number(v);

/** Groups or consumers in Redis's radix-tree order: by name bytes (latin1 strings compare so). */
export function byName<T>(map: ReadonlyMap<string, T>): [string, T][] {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The stream at `key` and its group `name`, or the error; undefined for a missing key or group. */
export function streamGroup(
  ks: Keyspace,
  key: string,
  name: string,
): { s: Stream; g: ConsumerGroup } | undefined | ReplyError {
  const s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  const g = s?.groups?.get(name);
  return s === undefined || g === undefined ? undefined : { s, g };
}

/** streamLookupConsumer with refresh, else streamCreateConsumer: both mark it seen now. */
export function consumerFor(ks: Keyspace, g: ConsumerGroup, name: string): Consumer {
  let c = g.consumers.get(name);
  if (c === undefined) g.consumers.set(name, (c = new Consumer(name, ks.now)));
  else c.seenTime = ks.now;
  return c;
}

/** Drops a pending entry from its group's PEL and its consumer's. */
export function dropNack(g: ConsumerGroup, id: bigint, nack: Nack): void {
  g.pel.delete(id);
  nack.consumer.pel.delete(id);
}

/** Gives a pending entry to `c` (if it is not already its). */
function moveNack(id: bigint, nack: Nack, c: Consumer): void {
  if (nack.consumer === c) return;
  nack.consumer.pel.delete(id);
  nack.consumer = c;
  c.pel.set(id, nack);
}

/**
 * One entry delivered to a group by XREADGROUP `>` (streamReplyWithRange with
 * a group): the group's last ID and read counter move on, and unless NOACK
 * the entry becomes pending for `c`, taken from whoever had it.
 */
export function deliver(
  ks: Keyspace,
  s: Stream,
  g: ConsumerGroup,
  c: Consumer,
  e: StreamEntry,
  noAck: boolean,
): void {
  if (e.id > g.lastId) {
    if (g.entriesRead !== INVALID_ENTRIES_READ && !s.hasTombstones(e.id)) g.entriesRead++;
    else if (s.entriesAdded !== 0) g.entriesRead = s.estimateEntriesRead(e.id);
    g.lastId = e.id;
  }
  if (noAck) return;
  const nack = g.pel.get(e.id);
  if (nack === undefined) {
    const fresh: Nack = { deliveryTime: ks.now, deliveryCount: 1, consumer: c };
    g.pel.set(e.id, fresh);
    c.pel.set(e.id, fresh);
    return;
  }
  // XGROUP SETID can move the group back over entries someone still has pending
  moveNack(e.id, nack, c);
  nack.deliveryTime = ks.now;
  nack.deliveryCount = 1;
}

/** An entry as XCLAIM and XAUTOCLAIM reply it, or a null bulk when it is gone. */
const claimedReply = (s: Stream, id: bigint, justId: boolean): Reply => {
  if (justId) return idReply(id);
  const e = s.entry(id);
  return e === undefined ? null : entryReply(e);
};

function xack(ks: Keyspace, a: Args): Reply {
  const key = keyOf(a, 1);
  const sg = streamGroup(ks, key, keyOf(a, 2));
  if (sg instanceof ReplyError) return sg;
  if (sg === undefined) return 0;
  // all IDs are checked first: once one is acknowledged the reply cannot be an error
  const ids = strictIds(a, 3);
  if (ids instanceof ReplyError) return ids;
  let acked = 0;
  for (const id of ids) {
    const nack = sg.g.pel.get(id);
    if (nack === undefined) continue;
    dropNack(sg.g, id, nack);
    acked++;
  }
  if (acked > 0) ks.modified(key);
  return acked;
}

function xpending(ks: Keyspace, a: Args): Reply {
  const argc = a.length;
  if (argc !== 3 && (argc < 6 || argc > 9)) return SYNTAX;
  let start = 0n;
  let end = MAX_ID;
  let count = 0n;
  let minIdle = 0n;
  let consumerName: string | null = null;
  if (argc >= 6) {
    let at = 3;
    if (is(a[3], 'idle')) {
      const idle = longLongArg(a[4]!);
      if (idle instanceof ReplyError) return idle;
      minIdle = idle;
      if (argc < 8) return SYNTAX;
      at += 2;
    }
    const c = longLongArg(a[at + 2]!);
    if (c instanceof ReplyError) return c;
    count = c < 0n ? 0n : c;
    const interval = parseInterval(a[at]!, a[at + 1]!);
    if (interval instanceof ReplyError) return interval;
    ({ start, end } = interval);
    if (at + 3 < argc) consumerName = keyOf(a, at + 3);
  }
  const key = keyOf(a, 1);
  const group = keyOf(a, 2);
  const sg = streamGroup(ks, key, group);
  if (sg instanceof ReplyError) return sg;
  if (sg === undefined) return noKeyOrGroup(key, group);
  const g = sg.g;
  if (argc === 3) {
    if (g.pel.size === 0) return [0, null, null, NULL_ARRAY];
    const owners: Reply[] = [];
    for (const [name, c] of byName(g.consumers)) {
      if (c.pel.size > 0) owners.push([nameReply(name), Buffer.from(String(c.pel.size))]);
    }
    return [g.pel.size, idReply(g.pel.first()!), idReply(g.pel.last()!), owners];
  }
  let pel = g.pel;
  if (consumerName !== null) {
    const c = g.consumers.get(consumerName);
    if (c === undefined) return [];
    pel = c.pel;
  }
  const out: Reply[] = [];
  if (count === 0n) return out;
  const now = BigInt(ks.now);
  const limit = minIdle === 0n ? clampNumber(count) : 0;
  for (const [id, nack] of pel.range(start, end, limit)) {
    const idle = now - BigInt(nack.deliveryTime);
    if (minIdle !== 0n && idle < minIdle) continue;
    out.push([idReply(id), nameReply(nack.consumer.name), idle < 0n ? 0 : Number(idle), nack.deliveryCount]);
    if (BigInt(out.length) === count) break;
  }
  return out;
}

function xclaim(ks: Keyspace, a: Args): Reply {
  const key = keyOf(a, 1);
  const group = keyOf(a, 2);
  const sg = streamGroup(ks, key, group);
  if (sg instanceof ReplyError) return sg;
  if (sg === undefined) return noKeyOrGroup(key, group);
  const { s, g } = sg;
  const idle = longLongArg(a[4]!, 'Invalid min-idle-time argument for XCLAIM');
  if (idle instanceof ReplyError) return idle;
  const minIdle = idle < 0n ? 0n : idle;
  // the IDs run until the first argument that is not one: the options follow
  const ids: bigint[] = [];
  let j = 5;
  for (; j < a.length; j++) {
    const id = strictId(a[j]!);
    if (id instanceof ReplyError) break;
    ids.push(id);
  }
  const now = BigInt(ks.now);
  let force = false;
  let justId = false;
  let time = -1n;
  let retryCount = -1n;
  let lastId = 0n;
  for (; j < a.length; j++) {
    const more = j < a.length - 1;
    const opt = a[j]!;
    if (is(opt, 'force')) force = true;
    else if (is(opt, 'justid')) justId = true;
    else if (is(opt, 'idle') && more) {
      const v = longLongArg(a[++j]!, 'Invalid IDLE option argument for XCLAIM');
      if (v instanceof ReplyError) return v;
      time = now - v;
    } else if (is(opt, 'time') && more) {
      const v = longLongArg(a[++j]!, 'Invalid TIME option argument for XCLAIM');
      if (v instanceof ReplyError) return v;
      time = v;
    } else if (is(opt, 'retrycount') && more) {
      const v = longLongArg(a[++j]!, 'Invalid RETRYCOUNT option argument for XCLAIM');
      if (v instanceof ReplyError) return v;
      retryCount = v;
    } else if (is(opt, 'lastid') && more) {
      const v = strictId(a[++j]!);
      if (v instanceof ReplyError) return v;
      lastId = v;
    } else return formatError(`ERR Unrecognized XCLAIM option '${cstr(opt.toString('latin1'))}'`);
  }
  let changed = false;
  if (lastId > g.lastId) {
    g.lastId = lastId;
    changed = true;
  }
  // a time in the future or before the epoch is taken as now, not refused
  const deliveryTime = Number(time < 0n || time > now ? now : time);
  const name = keyOf(a, 3);
  let consumer: Consumer | undefined;
  const out: Reply[] = [];
  for (const id of ids) {
    let nack = g.pel.get(id);
    if (s.entry(id) === undefined) {
      // an entry deleted since delivery leaves the PEL here, unreported
      if (nack !== undefined) {
        dropNack(g, id, nack);
        changed = true;
      }
      continue;
    }
    let forced = false;
    if (nack === undefined) {
      if (!force) continue;
      forced = true;
    } else if (minIdle !== 0n && now - BigInt(nack.deliveryTime) < minIdle) continue;
    consumer ??= consumerFor(ks, g, name);
    if (nack === undefined) {
      nack = { deliveryTime: ks.now, deliveryCount: 1, consumer };
      g.pel.set(id, nack);
      consumer.pel.set(id, nack);
    }
    nack.deliveryTime = deliveryTime;
    if (retryCount >= 0n) nack.deliveryCount = clampNumber(retryCount);
    else if (!justId) nack.deliveryCount++;
    if (!forced) moveNack(id, nack, consumer);
    changed = true;
    out.push(claimedReply(s, id, justId));
  }
  if (changed) ks.modified(key);
  return out;
}

/** COUNT's upper bound: LONG_MAX / max(sizeof(streamID), attempts factor 10). */
const AUTOCLAIM_MAX_COUNT = I64_MAX / 16n;
/**
 * Past this many 16-byte IDs the allocation cannot succeed in a 47-bit
 * address space. Below it, whether Redis's ztrymalloc fails depends on its
 * host (from 2^42 up it may), so smaller counts are served.
 */
const AUTOCLAIM_MAX_ALLOC = 2 ** 43 - 1;

function xautoclaim(ks: Keyspace, a: Args): Reply {
  const idle = longLongArg(a[4]!, 'Invalid min-idle-time argument for XAUTOCLAIM');
  if (idle instanceof ReplyError) return idle;
  const minIdle = idle < 0n ? 0n : idle;
  const start = parseStart(a[5]!);
  if (start instanceof ReplyError) return start;
  let count = 100;
  let justId = false;
  for (let j = 6; j < a.length; j++) {
    const more = j < a.length - 1;
    if (is(a[j], 'count') && more) {
      const v = parseInt64(a[j + 1]!);
      if (v === null || BigInt(v) < 1n || BigInt(v) > AUTOCLAIM_MAX_COUNT)
        return new ReplyError('ERR COUNT must be > 0');
      count = clampNumber(BigInt(v));
      j++;
    } else if (is(a[j], 'justid')) justId = true;
    else return SYNTAX;
  }
  const key = keyOf(a, 1);
  const group = keyOf(a, 2);
  const sg = streamGroup(ks, key, group);
  if (sg instanceof ReplyError) return sg;
  if (sg === undefined) return noKeyOrGroup(key, group);
  // Redis allocates COUNT stream IDs up front, and says so when it cannot
  if (count > AUTOCLAIM_MAX_ALLOC)
    return new ReplyError('ERR Insufficient memory, failed allocating transient memory, COUNT too high.');
  const { s, g } = sg;
  const now = ks.now;
  const name = keyOf(a, 3);
  let attempts = count * 10;
  let consumer: Consumer | undefined;
  const claimed: Reply[] = [];
  const deleted: Reply[] = [];
  let changed = false;
  // a copy of what the walk can reach, so entries dropped on the way do not disturb it
  const pending = g.pel.range(start, MAX_ID, Math.min(attempts, Number.MAX_SAFE_INTEGER - 1) + 1);
  let i = 0;
  for (; attempts > 0 && count > 0 && i < pending.length; i++) {
    attempts--;
    const [id, nack] = pending[i]!;
    if (s.entry(id) === undefined) {
      dropNack(g, id, nack);
      deleted.push(idReply(id));
      changed = true;
      count--;
      continue;
    }
    if (minIdle !== 0n && BigInt(now - nack.deliveryTime) < minIdle) continue;
    consumer ??= consumerFor(ks, g, name);
    moveNack(id, nack, consumer);
    nack.deliveryTime = now;
    if (!justId) nack.deliveryCount++;
    changed = true;
    claimed.push(claimedReply(s, id, justId));
    count--;
  }
  if (changed) ks.modified(key);
  // the cursor: the next pending entry after the last one looked at, 0-0 at the end
  const next = pending[i]?.[0] ?? 0n;
  return [idReply(next), claimed, deleted];
}

/** XAUTOCLAIM's start: an interval start, `(` making it exclusive (the end `+` cannot fail). */
function parseStart(b: Buffer): bigint | ReplyError {
  const r = parseInterval(b, PLUS);
  return r instanceof ReplyError ? r : r.start;
}
const PLUS = Buffer.from('+');

export const pelCommands: Readonly<Record<string, Spec>> = {
  xack: { arity: -4, run: xack },
  xpending: { arity: -3, run: xpending },
  xclaim: { arity: -6, run: xclaim },
  xautoclaim: { arity: -6, run: xautoclaim },
};
