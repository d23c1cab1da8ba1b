/**
 * The list commands of an embedded node, after Redis 7.0's t_list.c: the
 * order in which arguments are checked (options before the key, the key's
 * type before the count) decides which error a bad call gets, so it follows
 * Redis's, not what would read best.
 */
import { OK, ReplyError, type Reply } from '../protocol/reply.js';
import {
  arityError,
  clampRange,
  copy,
  is,
  keyOf,
  LONG_MAX,
  NOT_INTEGER,
  NULL_ARRAY,
  parseLong,
  parsePositiveLong,
  parseRangeLong,
  parseTimeout,
  readList,
  SYNTAX,
  TOO_BIG,
  WRONGTYPE,
  type Args,
  type BlockingCall,
  type BlockingParse,
  type Spec,
} from './memory-args.js';
import { Deque } from './memory-deque.js';
import type { Keyspace } from './memory-keyspace.js';

const NO_SUCH_KEY = new ReplyError('ERR no such key');
const INDEX_OUT_OF_RANGE = new ReplyError('ERR index out of range');
const EMPTY: readonly Reply[] = [];

type End = 'left' | 'right';

function parseEnd(b: Buffer): End | null {
  return is(b, 'left') ? 'left' : is(b, 'right') ? 'right' : null;
}

const pop = (l: Deque, end: End): Buffer | undefined => (end === 'left' ? l.popHead() : l.popTail());

/** Removes the key once its list is empty, as Redis never keeps an empty list; else says it changed. */
function afterPop(ks: Keyspace, key: string, l: Deque): void {
  if (l.length === 0) ks.delete(key);
  else ks.modified(key);
}

function push(ks: Keyspace, a: Args, end: End, onlyIfExists: boolean): Reply {
  const key = keyOf(a, 1);
  let l = readList(ks, key);
  if (l instanceof ReplyError) return l;
  if (l === undefined) {
    if (onlyIfExists) return 0;
    for (let i = 2; i < a.length; i++) if (a[i]!.length > ks.maxValueBytes) return TOO_BIG;
    l = new Deque();
    ks.set(key, l);
  }
  for (let i = 2; i < a.length; i++) {
    if (end === 'left') l.pushHead(copy(a[i]!));
    else l.pushTail(copy(a[i]!));
  }
  ks.modified(key);
  return l.length;
}

function popCommand(ks: Keyspace, a: Args, end: End, name: string): Reply {
  if (a.length > 3) return arityError(name);
  let count = -1;
  if (a.length === 3) {
    const c = parsePositiveLong(a[2]!);
    if (c instanceof ReplyError) return c;
    count = c;
  }
  const key = keyOf(a, 1);
  const l = readList(ks, key);
  if (l instanceof ReplyError) return l;
  if (l === undefined) return count === -1 ? null : NULL_ARRAY;
  if (count === 0) return EMPTY;
  if (count === -1) {
    const v = pop(l, end)!;
    afterPop(ks, key, l);
    return v;
  }
  const out: Buffer[] = [];
  while (out.length < count && l.length > 0) out.push(pop(l, end)!);
  afterPop(ks, key, l);
  return out;
}

/** LMOVE's body: pops from `src` (a non-empty list), pushes onto `dst`. */
function move(ks: Keyspace, srcKey: string, src: Deque, dstKey: string, from: End, to: End): Reply {
  const dv = ks.get(dstKey);
  if (dv !== undefined && !(dv instanceof Deque)) return WRONGTYPE;
  const value = pop(src, from)!;
  let dst = dv;
  if (dst === undefined) {
    dst = new Deque();
    ks.set(dstKey, dst);
  }
  if (to === 'left') dst.pushHead(value);
  else dst.pushTail(value);
  ks.modified(dstKey);
  if (src.length === 0) ks.delete(srcKey);
  else if (srcKey !== dstKey) ks.modified(srcKey);
  return value;
}

function lmove(ks: Keyspace, a: Args, from: End, to: End): Reply {
  const srcKey = keyOf(a, 1);
  const src = readList(ks, srcKey);
  if (src instanceof ReplyError) return src;
  if (src === undefined || src.length === 0) return null;
  return move(ks, srcKey, src, keyOf(a, 2), from, to);
}

/** mpopGenericCommand: the first non-empty list of `keys` gives up to `count` elements. */
function mpop(ks: Keyspace, keys: readonly string[], end: End, count: number): Reply | undefined {
  for (const key of keys) {
    const l = readList(ks, key);
    if (l instanceof ReplyError) return l;
    if (l === undefined || l.length === 0) continue;
    return mpopFrom(ks, key, l, end, count);
  }
  return undefined;
}

function mpopFrom(ks: Keyspace, key: string, l: Deque, end: End, count: number): Reply {
  const out: Buffer[] = [];
  while (out.length < count && l.length > 0) out.push(pop(l, end)!);
  afterPop(ks, key, l);
  return [Buffer.from(key, 'latin1'), out];
}

/** LMPOP / BLMPOP's arguments from `numkeysAt`: the keys, the end and the count. */
function parseMpop(a: Args, numkeysAt: number): { keys: string[]; end: End; count: number } | ReplyError {
  const numkeys = parseRangeLong(a[numkeysAt]!, 1, LONG_MAX, 'numkeys should be greater than 0');
  if (numkeys instanceof ReplyError) return numkeys;
  const whereAt = numkeysAt + numkeys + 1;
  if (whereAt >= a.length) return SYNTAX;
  const end = parseEnd(a[whereAt]!);
  if (end === null) return SYNTAX;
  let count = -1;
  for (let j = whereAt + 1; j < a.length; j++) {
    if (count === -1 && is(a[j], 'count') && j + 1 < a.length) {
      j++;
      const c = parseRangeLong(a[j]!, 1, LONG_MAX, 'count should be greater than 0');
      if (c instanceof ReplyError) return c;
      count = c;
    } else return SYNTAX;
  }
  const keys: string[] = [];
  for (let i = numkeysAt + 1; i < whereAt; i++) keys.push(keyOf(a, i));
  return { keys, end, count: count === -1 ? 1 : count };
}

/** The serving half of BLPOP / BRPOP: [key, element] from the first non-empty list. */
function popCall(keys: string[], end: End, timeoutMs: number): BlockingCall {
  const serveKey = (ks: Keyspace, key: string): Reply | undefined => {
    const v = ks.get(key);
    if (!(v instanceof Deque) || v.length === 0) return undefined;
    const value = pop(v, end)!;
    afterPop(ks, key, v);
    return [Buffer.from(key, 'latin1'), value];
  };
  return {
    keys,
    timeoutMs,
    timedOut: NULL_ARRAY,
    cannotBlock: NULL_ARRAY,
    serveKey,
    serve(ks) {
      for (const key of keys) {
        const v = ks.get(key);
        if (v === undefined) continue;
        if (!(v instanceof Deque)) return WRONGTYPE;
        const r = serveKey(ks, key);
        if (r !== undefined) return r;
      }
      return undefined;
    },
  };
}

function parseBpop(end: End): BlockingParse {
  return (a) => {
    const timeout = parseTimeout(a[a.length - 1]!);
    if (timeout instanceof ReplyError) return timeout;
    const keys: string[] = [];
    for (let i = 1; i < a.length - 1; i++) keys.push(keyOf(a, i));
    return popCall(keys, end, timeout);
  };
}

function parseBlmove(
  a: Args,
  from: End | null,
  to: End | null,
  timeoutAt: number,
): BlockingCall | ReplyError {
  if (from === null || to === null) return SYNTAX;
  const timeout = parseTimeout(a[timeoutAt]!);
  if (timeout instanceof ReplyError) return timeout;
  const srcKey = keyOf(a, 1);
  const dstKey = keyOf(a, 2);
  const serveKey = (ks: Keyspace): Reply | undefined => {
    const src = ks.get(srcKey);
    if (!(src instanceof Deque) || src.length === 0) return undefined;
    return move(ks, srcKey, src, dstKey, from, to);
  };
  return {
    keys: [srcKey],
    timeoutMs: timeout,
    timedOut: NULL_ARRAY,
    // BLMOVE inside MULTI answers a null bulk, where its timeout answers a null array
    cannotBlock: null,
    serveKey,
    serve(ks) {
      const src = ks.get(srcKey);
      if (src !== undefined && !(src instanceof Deque)) return WRONGTYPE;
      return serveKey(ks);
    },
  };
}

const parseBlmpop: BlockingParse = (a) => {
  const parsed = parseMpop(a, 2);
  if (parsed instanceof ReplyError) return parsed;
  const timeout = parseTimeout(a[1]!);
  if (timeout instanceof ReplyError) return timeout;
  const { keys, end, count } = parsed;
  return {
    keys,
    timeoutMs: timeout,
    timedOut: NULL_ARRAY,
    cannotBlock: NULL_ARRAY,
    serve: (ks) => mpop(ks, keys, end, count),
    serveKey(ks, key) {
      const v = ks.get(key);
      if (!(v instanceof Deque) || v.length === 0) return undefined;
      return mpopFrom(ks, key, v, end, count);
    },
  };
};

/** The blocking list commands, by name. */
export const listBlocking: Readonly<Record<string, BlockingParse>> = {
  blpop: parseBpop('left'),
  brpop: parseBpop('right'),
  blmove: (a) => parseBlmove(a, parseEnd(a[3]!), parseEnd(a[4]!), 5),
  brpoplpush: (a) => parseBlmove(a, 'right', 'left', 3),
  blmpop: parseBlmpop,
};

function lpos(ks: Keyspace, a: Args): Reply {
  let rank = 1;
  let count = -1;
  let maxlen = 0;
  for (let j = 3; j < a.length; j++) {
    const more = j + 1 < a.length;
    if (is(a[j], 'rank') && more) {
      j++;
      const r = parseRangeLong(a[j]!, -LONG_MAX, LONG_MAX);
      if (r instanceof ReplyError) return r;
      if (r === 0) {
        return new ReplyError(
          "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        );
      }
      rank = r;
    } else if (is(a[j], 'count') && more) {
      j++;
      const c = parsePositiveLong(a[j]!, "COUNT can't be negative");
      if (c instanceof ReplyError) return c;
      count = c;
    } else if (is(a[j], 'maxlen') && more) {
      j++;
      const m = parsePositiveLong(a[j]!, "MAXLEN can't be negative");
      if (m instanceof ReplyError) return m;
      maxlen = m;
    } else return SYNTAX;
  }
  const l = readList(ks, keyOf(a, 1));
  if (l instanceof ReplyError) return l;
  if (l === undefined) return count !== -1 ? EMPTY : null;
  const element = a[2]!;
  const matches: number[] = [];
  const want = count === -1 ? 1 : count === 0 ? Infinity : count;
  let skip = Math.abs(rank) - 1;
  const len = l.length;
  for (let n = 0; n < len && (maxlen === 0 || n < maxlen) && matches.length < want; n++) {
    const i = rank > 0 ? n : len - 1 - n;
    if (!l.at(i)!.equals(element)) continue;
    if (skip > 0) skip--;
    else matches.push(i);
  }
  if (count === -1) return matches[0] ?? null;
  return matches;
}

/** The list commands, by lower-case name. */
export const listCommands: Readonly<Record<string, Spec>> = {
  lpush: { arity: -3, run: (ks, a) => push(ks, a, 'left', false) },
  rpush: { arity: -3, run: (ks, a) => push(ks, a, 'right', false) },
  lpushx: { arity: -3, run: (ks, a) => push(ks, a, 'left', true) },
  rpushx: { arity: -3, run: (ks, a) => push(ks, a, 'right', true) },
  lpop: { arity: -2, run: (ks, a) => popCommand(ks, a, 'left', 'lpop') },
  rpop: { arity: -2, run: (ks, a) => popCommand(ks, a, 'right', 'rpop') },
  llen: {
    arity: 2,
    run(ks, a) {
      const l = readList(ks, keyOf(a, 1));
      return l instanceof ReplyError ? l : (l?.length ?? 0);
    },
  },
  lrange: {
    arity: 4,
    run(ks, a) {
      const start = parseLong(a[2]!);
      const stop = parseLong(a[3]!);
      if (start === null || stop === null) return NOT_INTEGER;
      const l = readList(ks, keyOf(a, 1));
      if (l === undefined || l instanceof ReplyError) return l ?? EMPTY;
      const r = clampRange(start, stop, l.length);
      return r === null ? EMPTY : l.slice(r[0], r[1]);
    },
  },
  lindex: {
    arity: 3,
    run(ks, a) {
      const l = readList(ks, keyOf(a, 1));
      if (l === undefined || l instanceof ReplyError) return l ?? null;
      const index = parseLong(a[2]!);
      if (index === null) return NOT_INTEGER;
      return l.at(index < 0 ? l.length + index : index) ?? null;
    },
  },
  lset: {
    arity: 4,
    run(ks, a) {
      const key = keyOf(a, 1);
      const l = readList(ks, key);
      if (l === undefined) return NO_SUCH_KEY;
      if (l instanceof ReplyError) return l;
      const index = parseLong(a[2]!);
      if (index === null) return NOT_INTEGER;
      const i = index < 0 ? l.length + index : index;
      if (i < 0 || i >= l.length) return INDEX_OUT_OF_RANGE;
      l.setAt(i, copy(a[3]!));
      ks.modified(key);
      return OK;
    },
  },
  linsert: {
    arity: 5,
    run(ks, a) {
      const after = is(a[2], 'after');
      if (!after && !is(a[2], 'before')) return SYNTAX;
      const key = keyOf(a, 1);
      const l = readList(ks, key);
      if (l === undefined || l instanceof ReplyError) return l ?? 0;
      const items = l.toArray();
      const at = items.findIndex((v) => v.equals(a[3]!));
      if (at === -1) return -1;
      items.splice(after ? at + 1 : at, 0, copy(a[4]!));
      l.replace(items);
      ks.modified(key);
      return l.length;
    },
  },
  lrem: {
    arity: 4,
    run(ks, a) {
      const count = parseLong(a[2]!);
      if (count === null) return NOT_INTEGER;
      const key = keyOf(a, 1);
      const l = readList(ks, key);
      if (l === undefined || l instanceof ReplyError) return l ?? 0;
      const items = l.toArray();
      const limit = count === 0 ? Infinity : Math.abs(count);
      let removed = 0;
      const keep = new Array<boolean>(items.length).fill(true);
      for (let n = 0; n < items.length && removed < limit; n++) {
        const i = count < 0 ? items.length - 1 - n : n;
        if (items[i]!.equals(a[3]!)) {
          keep[i] = false;
          removed++;
        }
      }
      if (removed === 0) return 0;
      l.replace(items.filter((_, i) => keep[i]));
      afterPop(ks, key, l);
      return removed;
    },
  },
  ltrim: {
    arity: 4,
    run(ks, a) {
      const start = parseLong(a[2]!);
      const stop = parseLong(a[3]!);
      if (start === null || stop === null) return NOT_INTEGER;
      const key = keyOf(a, 1);
      const l = readList(ks, key);
      if (l === undefined || l instanceof ReplyError) return l ?? OK;
      const r = clampRange(start, stop, l.length);
      l.replace(r === null ? [] : l.slice(r[0], r[1]));
      afterPop(ks, key, l);
      return OK;
    },
  },
  lpos: { arity: -3, run: lpos },
  lmove: {
    arity: 5,
    run(ks, a) {
      const from = parseEnd(a[3]!);
      const to = parseEnd(a[4]!);
      if (from === null || to === null) return SYNTAX;
      return lmove(ks, a, from, to);
    },
  },
  rpoplpush: { arity: 3, run: (ks, a) => lmove(ks, a, 'right', 'left') },
  lmpop: {
    arity: -4,
    run(ks, a) {
      const parsed = parseMpop(a, 1);
      if (parsed instanceof ReplyError) return parsed;
      return mpop(ks, parsed.keys, parsed.end, parsed.count) ?? NULL_ARRAY;
    },
  },
};
