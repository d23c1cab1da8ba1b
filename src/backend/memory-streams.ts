/**
 * The stream commands of an embedded node that need no consumer group
 * (XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XREAD, XSETID, XINFO STREAM),
 * after Redis 7.0's t_stream.c, checking arguments in its order so a bad call
 * gets its error. The group commands are memory-stream-groups.ts.
 */
import { OK, ReplyError, type Reply } from '../protocol/reply.js';
import {
  is,
  keyOf,
  NOT_INTEGER,
  NULL_ARRAY,
  parseInt64,
  SYNTAX,
  TOO_BIG,
  WRONGTYPE,
  type Args,
  type BlockingCall,
  type Spec,
} from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';
import {
  idOf,
  idReply,
  MAX_ENTRY_BYTES,
  MAX_ID,
  msOf,
  seqOf,
  Stream,
  type StreamEntry,
  type TrimSpec,
} from './memory-stream.js';

export const INVALID_ID = new ReplyError('ERR Invalid stream ID specified as stream command argument');
const NO_SUCH_KEY = new ReplyError('ERR no such key');
const U64_MAX = (1n << 64n) - 1n;
/** XREAD_BLOCKED_DEFAULT_COUNT: what a blocked XREAD without COUNT is served at most. */
const BLOCKED_DEFAULT_COUNT = 1000;

/** The stream at `key`, undefined when absent, WRONGTYPE when it holds another type. */
export function readStream(ks: Keyspace, key: string): Stream | undefined | ReplyError {
  const v = ks.get(key);
  if (v === undefined || v instanceof Stream) return v;
  return WRONGTYPE;
}

/**
 * string2ull: string2ll's canonical int64 when it is one (refusing a negative),
 * else strtoull's reading (leading spaces, a sign, leading zeros, a '-' that
 * wraps), refusing what overflows 64 bits or has trailing bytes.
 */
function string2ull(s: string): bigint | null {
  const ll = parseInt64(Buffer.from(s, 'latin1'));
  if (ll !== null) return BigInt(ll) < 0n ? null : BigInt(ll);
  const m = /^[\t\n\v\f\r ]*([+-]?)(\d+)$/.exec(s);
  if (m === null) return null;
  const v = BigInt(m[2]!);
  if (v > U64_MAX) return null;
  return m[1] === '-' ? (U64_MAX + 1n - v) & U64_MAX : v;
}

/** A parsed ID; `seqGiven` is false for XADD's `<ms>-*`. */
interface ParsedId {
  readonly id: bigint;
  readonly seqGiven: boolean;
}

/**
 * streamGenericParseIDOrReply: `-`, `+` (unless strict), `<ms>`, `<ms>-<seq>`,
 * and with `seqStar` `<ms>-*`. A missing sequence is `missingSeq`.
 */
export function parseId(b: Buffer, missingSeq: bigint, strict: boolean, seqStar = false): ParsedId | null {
  if (b.length > 127) return null;
  // C string functions stop at the first NUL byte
  const s = b.toString('latin1').split('\0')[0]!;
  if (s === '-' || s === '+') {
    if (strict) return null;
    return { id: s === '-' ? 0n : MAX_ID, seqGiven: true };
  }
  const dash = s.indexOf('-');
  const ms = string2ull(dash === -1 ? s : s.slice(0, dash));
  if (ms === null) return null;
  if (dash === -1) return { id: idOf(ms, missingSeq), seqGiven: true };
  const rest = s.slice(dash + 1);
  if (seqStar && rest === '*') return { id: idOf(ms, 0n), seqGiven: false };
  const seq = string2ull(rest);
  return seq === null ? null : { id: idOf(ms, seq), seqGiven: true };
}

/** streamParseStrictIDOrReply without `<ms>-*`: the ID, or INVALID_ID. */
export function strictId(b: Buffer, missingSeq = 0n): bigint | ReplyError {
  return parseId(b, missingSeq, true)?.id ?? INVALID_ID;
}

/** The IDs from argument `from` on (XDEL, XACK), all checked before any is used. */
export function strictIds(a: Args, from: number): bigint[] | ReplyError {
  const ids: bigint[] = [];
  for (let j = from; j < a.length; j++) {
    const id = strictId(a[j]!);
    if (id instanceof ReplyError) return id;
    ids.push(id);
  }
  return ids;
}

/** An interval end of XRANGE / XPENDING: `(` makes it exclusive; `-` and `+` only inclusive. */
function intervalId(b: Buffer, missingSeq: bigint): { id: bigint; exclusive: boolean } | ReplyError {
  const exclusive = b.length > 1 && b[0] === 0x28;
  const p = parseId(exclusive ? b.subarray(1) : b, missingSeq, exclusive);
  return p === null ? INVALID_ID : { id: p.id, exclusive };
}

/** Parses XRANGE-style start and end ids (inclusive after adjustment), or the error. */
export function parseInterval(startArg: Buffer, endArg: Buffer): { start: bigint; end: bigint } | ReplyError {
  const s = intervalId(startArg, 0n);
  if (s instanceof ReplyError) return s;
  let start = s.id;
  if (s.exclusive) {
    if (start === MAX_ID) return new ReplyError('ERR invalid start ID for the interval');
    start++;
  }
  const e = intervalId(endArg, U64_MAX);
  if (e instanceof ReplyError) return e;
  let end = e.id;
  if (e.exclusive) {
    if (end === 0n) return new ReplyError('ERR invalid end ID for the interval');
    end--;
  }
  return { start, end };
}

/** getLongLongFromObjectOrReply. */
function longLong(b: Buffer): number | ReplyError {
  const v = parseInt64(b);
  if (v === null) return NOT_INTEGER;
  return typeof v === 'number' ? v : v > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
}

/** An entry as Redis replies it: [id, [field, value, ...]]. */
export const entryReply = (e: StreamEntry): Reply => [idReply(e.id), e.fields];

// ---------------------------------------------------------------------------
// XADD and XTRIM options (streamParseAddOrTrimArgsOrReply).

interface AddTrimArgs {
  trim: TrimSpec | null;
  noMkStream: boolean;
  id: ParsedId | null;
  /** Where the ID was (XADD); the fields follow it. */
  idPos: number;
}

function parseAddOrTrim(a: Args, xadd: boolean): AddTrimArgs | ReplyError {
  let strategy: TrimSpec['strategy'] | null = null;
  let approx = false;
  let maxlen = 0;
  let minid = 0n;
  let limit = 0;
  let limitGiven = false;
  let noMkStream = false;
  let id: ParsedId | null = null;
  let i = 2;
  const both = new ReplyError(
    'ERR syntax error, MAXLEN and MINID options at the same time are not compatible',
  );
  for (; i < a.length; i++) {
    const more = a.length - 1 - i;
    const opt = a[i]!;
    if (xadd && opt.length === 1 && opt[0] === 0x2a) break;
    const trimWord = is(opt, 'maxlen') ? 'maxlen' : is(opt, 'minid') ? 'minid' : null;
    if (trimWord !== null && more > 0) {
      if (strategy !== null) return both;
      approx = false;
      const next = a[i + 1]!;
      if (more >= 2 && next.length === 1 && (next[0] === 0x7e || next[0] === 0x3d)) {
        approx = next[0] === 0x7e;
        i++;
      }
      if (trimWord === 'maxlen') {
        const n = longLong(a[i + 1]!);
        if (n instanceof ReplyError) return n;
        if (n < 0) return new ReplyError('ERR The MAXLEN argument must be >= 0.');
        maxlen = n;
      } else {
        const m = strictId(a[i + 1]!);
        if (m instanceof ReplyError) return m;
        minid = m;
      }
      i++;
      strategy = trimWord;
    } else if (is(opt, 'limit') && more > 0) {
      const n = longLong(a[i + 1]!);
      if (n instanceof ReplyError) return n;
      if (n < 0) return new ReplyError('ERR The LIMIT argument must be >= 0.');
      limit = n;
      limitGiven = true;
      i++;
    } else if (xadd && is(opt, 'nomkstream')) {
      noMkStream = true;
    } else if (xadd) {
      id = parseId(opt, 0n, true, true);
      if (id === null) return INVALID_ID;
      break;
    } else {
      return SYNTAX;
    }
  }
  if (limit !== 0 && strategy === null)
    return new ReplyError('ERR syntax error, LIMIT cannot be used without specifying a trimming strategy');
  if (!xadd && strategy === null)
    return new ReplyError('ERR syntax error, XTRIM must be called with a trimming strategy');
  if (limitGiven && !approx)
    return new ReplyError('ERR syntax error, LIMIT cannot be used without the special ~ option');
  // without LIMIT, an approximate trim does at most 100 nodes' worth of work
  if (!limitGiven) limit = approx ? 100 * 100 : 0;
  const trim = strategy === null ? null : { strategy, maxlen, minid, approx, limit };
  return { trim, noMkStream, id, idPos: i };
}

function xadd(ks: Keyspace, a: Args): Reply {
  const parsed = parseAddOrTrim(a, true);
  if (parsed instanceof ReplyError) return parsed;
  const fieldPos = parsed.idPos + 1;
  const n = a.length - fieldPos;
  if (n < 2 || n % 2 === 1) return new ReplyError("ERR wrong number of arguments for 'xadd' command");
  const given = parsed.id;
  if (given !== null && given.seqGiven && given.id === 0n)
    return new ReplyError('ERR The ID specified in XADD must be greater than 0-0');
  const key = keyOf(a, 1);
  let s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  let total = 0;
  for (let i = fieldPos; i < a.length; i++) {
    if (a[i]!.length > ks.maxValueBytes) return TOO_BIG;
    total += a[i]!.length;
  }
  if (s === undefined) {
    if (parsed.noMkStream) return null;
    s = new Stream();
    ks.set(key, s);
  }
  if (s.lastId === MAX_ID)
    return new ReplyError('ERR The stream has exhausted the last possible ID, unable to add more items');
  let id: bigint;
  const tooSmall = new ReplyError(
    'ERR The ID specified in XADD is equal or smaller than the target stream top item',
  );
  if (given === null) id = s.nextId(ks.now)!;
  else if (given.seqGiven) id = given.id;
  else if (msOf(s.lastId) === msOf(given.id)) {
    // Redis 7.0 answers this one with the wrong text; so does this
    if (seqOf(s.lastId) === U64_MAX) return new ReplyError('ERR Elements are too large to be stored');
    id = s.lastId + 1n;
  } else id = given.id;
  if (given !== null && id <= s.lastId) return tooSmall;
  if (total > MAX_ENTRY_BYTES) return new ReplyError('ERR Elements are too large to be stored');
  const fields: Buffer[] = [];
  for (let i = fieldPos; i < a.length; i++) fields.push(Buffer.from(a[i]!));
  s.append(id, fields);
  if (parsed.trim !== null) s.trim(parsed.trim);
  ks.modified(key);
  return idReply(id);
}

function xtrim(ks: Keyspace, a: Args): Reply {
  const parsed = parseAddOrTrim(a, false);
  if (parsed instanceof ReplyError) return parsed;
  const key = keyOf(a, 1);
  const s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  if (s === undefined) return 0;
  const removed = s.trim(parsed.trim!);
  if (removed > 0) ks.modified(key);
  return removed;
}

function xrange(ks: Keyspace, a: Args, rev: boolean): Reply {
  const interval = rev ? parseInterval(a[3]!, a[2]!) : parseInterval(a[2]!, a[3]!);
  if (interval instanceof ReplyError) return interval;
  let count = -1;
  for (let j = 4; j < a.length; j++) {
    if (is(a[j], 'count') && j + 1 < a.length) {
      const c = longLong(a[++j]!);
      if (c instanceof ReplyError) return c;
      count = Math.max(0, c);
    } else return SYNTAX;
  }
  const s = readStream(ks, keyOf(a, 1));
  if (s instanceof ReplyError) return s;
  if (s === undefined) return [];
  if (count === 0) return NULL_ARRAY;
  return s.range(interval.start, interval.end, count === -1 ? 0 : count, rev).map(entryReply);
}

function xdel(ks: Keyspace, a: Args): Reply {
  const key = keyOf(a, 1);
  const s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  if (s === undefined) return 0;
  const ids = strictIds(a, 2);
  if (ids instanceof ReplyError) return ids;
  let deleted = 0;
  let first = false;
  for (const id of ids) {
    if (!s.delete(id)) continue;
    if (id === s.firstId) first = true;
    if (id > s.maxDeletedId) s.maxDeletedId = id;
    deleted++;
  }
  if (deleted > 0) {
    if (s.length === 0 || first) s.refreshFirstId();
    ks.modified(key);
  }
  return deleted;
}

function xsetid(ks: Keyspace, a: Args): Reply {
  const id = strictId(a[2]!);
  if (id instanceof ReplyError) return id;
  let entriesAdded = -1;
  let maxDeleted = 0n;
  for (let i = 3; i < a.length; i += 2) {
    const more = i + 1 < a.length;
    if (is(a[i], 'entriesadded') && more) {
      const n = longLong(a[i + 1]!);
      if (n instanceof ReplyError) return n;
      if (n < 0) return new ReplyError('ERR entries_added must be positive');
      entriesAdded = n;
    } else if (is(a[i], 'maxdeletedid') && more) {
      const m = strictId(a[i + 1]!);
      if (m instanceof ReplyError) return m;
      if (id < m)
        return new ReplyError(
          'ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id',
        );
      maxDeleted = m;
    } else return SYNTAX;
  }
  const key = keyOf(a, 1);
  const s = readStream(ks, key);
  if (s instanceof ReplyError) return s;
  if (s === undefined) return NO_SUCH_KEY;
  if (s.length > 0) {
    if (id < s.lastValidId())
      return new ReplyError('ERR The ID specified in XSETID is smaller than the target stream top item');
    if (entriesAdded !== -1 && s.length > entriesAdded)
      return new ReplyError(
        'ERR The entries_added specified in XSETID is smaller than the target stream length',
      );
  }
  s.lastId = id;
  if (entriesAdded !== -1) s.entriesAdded = entriesAdded;
  if (maxDeleted !== 0n) s.maxDeletedId = maxDeleted;
  ks.modified(key);
  return OK;
}

// ---------------------------------------------------------------------------
// XREAD and XREADGROUP's shared parsing, and XREAD itself.

/** XREAD / XREADGROUP arguments, parsed as xreadCommand does before it looks at a key. */
export interface ReadArgs {
  /** Milliseconds to block (0: for ever), or -1 without BLOCK. */
  readonly timeoutMs: number;
  /** Entries per stream at most (0: all). */
  readonly count: number;
  readonly keys: readonly string[];
  /** Each stream's ID argument, as given. */
  readonly ids: readonly Buffer[];
  readonly group: Buffer | null;
  readonly consumer: Buffer | null;
  readonly noAck: boolean;
}

export function parseRead(a: Args, xreadgroup: boolean): ReadArgs | ReplyError {
  let timeoutMs = -1;
  let count = 0;
  let streamsAt = 0;
  let group: Buffer | null = null;
  let consumer: Buffer | null = null;
  let noAck = false;
  const name = xreadgroup ? 'XREADGROUP' : 'XREAD';
  for (let i = 1; i < a.length; i++) {
    const more = a.length - i - 1;
    const o = a[i]!;
    if (is(o, 'block') && more > 0) {
      const t = parseInt64(a[++i]!);
      if (t === null) return new ReplyError('ERR timeout is not an integer or out of range');
      if (t < 0) return new ReplyError('ERR timeout is negative');
      timeoutMs = Number(t);
    } else if (is(o, 'count') && more > 0) {
      const c = longLong(a[++i]!);
      if (c instanceof ReplyError) return c;
      count = Math.max(0, c);
    } else if (is(o, 'streams') && more > 0) {
      streamsAt = i + 1;
      if ((a.length - streamsAt) % 2 !== 0) {
        return new ReplyError(
          `ERR Unbalanced '${name.toLowerCase()}' list of streams: for each stream key an ID or '${xreadgroup ? '>' : '$'}' must be specified.`,
        );
      }
      break;
    } else if (is(o, 'group') && more >= 2) {
      if (!xreadgroup)
        return new ReplyError(
          'ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.',
        );
      group = a[i + 1]!;
      consumer = a[i + 2]!;
      i += 2;
    } else if (is(o, 'noack')) {
      if (!xreadgroup)
        return new ReplyError(
          'ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.',
        );
      noAck = true;
    } else return SYNTAX;
  }
  if (streamsAt === 0) return SYNTAX;
  if (xreadgroup && group === null) return new ReplyError('ERR Missing GROUP option for XREADGROUP');
  const n = (a.length - streamsAt) / 2;
  const keys: string[] = [];
  for (let i = 0; i < n; i++) keys.push(keyOf(a, streamsAt + i));
  return { timeoutMs, count, keys, ids: a.slice(streamsAt + n), group, consumer, noAck };
}

/** XREAD's reply for one stream: [key, entries]. */
export const streamEntries = (key: string, entries: readonly StreamEntry[]): Reply => [
  Buffer.from(key, 'latin1'),
  entries.map(entryReply),
];

/** XREAD as a blocking call: served at once when it can, else (with BLOCK) when a stream of its grows. */
export function parseXread(a: Args): BlockingCall | ReplyError {
  const r = parseRead(a, false);
  if (r instanceof ReplyError) return r;
  /** Per key, the ID entries must be above; resolved (`$`) when first served. */
  let after: bigint[] | null = null;
  const call: BlockingCall = {
    keys: r.keys,
    timeoutMs: Math.max(0, r.timeoutMs),
    timedOut: NULL_ARRAY,
    cannotBlock: NULL_ARRAY,
    serve(ks) {
      const ids: bigint[] = [];
      const streams: (Stream | undefined)[] = [];
      for (let i = 0; i < r.keys.length; i++) {
        const s = readStream(ks, r.keys[i]!);
        if (s instanceof ReplyError) return s;
        streams.push(s);
        const arg = r.ids[i]!;
        if (arg.length === 1 && arg[0] === 0x24) ids.push(s?.lastId ?? 0n);
        else if (arg.length === 1 && arg[0] === 0x3e)
          return new ReplyError(
            'ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.',
          );
        else {
          const id = strictId(arg);
          if (id instanceof ReplyError) return id;
          ids.push(id);
        }
      }
      after = ids;
      const out: Reply[] = [];
      for (let i = 0; i < r.keys.length; i++) {
        const s = streams[i];
        if (s === undefined || s.length === 0 || s.lastValidId() <= ids[i]!) continue;
        out.push(streamEntries(r.keys[i]!, s.range(ids[i]! + 1n, MAX_ID, r.count)));
      }
      if (out.length > 0) return out;
      return r.timeoutMs === -1 ? NULL_ARRAY : undefined;
    },
    serveKey(ks, key) {
      const s = ks.get(key);
      if (!(s instanceof Stream) || after === null) return undefined;
      const gt = after[r.keys.indexOf(key)]!;
      if (s.lastId <= gt) return undefined;
      const entries = s.range(gt + 1n, MAX_ID, r.count || BLOCKED_DEFAULT_COUNT);
      return [streamEntries(key, entries)];
    },
  };
  return call;
}

// ---------------------------------------------------------------------------
// XINFO STREAM (the group forms are memory-stream-groups.ts).

/** XINFO STREAM key [FULL [COUNT n]]'s stream part, as flat [name, value] pairs. */
export function xinfoStream(s: Stream, full: boolean, count: number, groups: () => Reply): Reply {
  const first = s.range(0n, MAX_ID, 1)[0];
  const last = s.range(0n, MAX_ID, 1, true)[0];
  const out: Reply[] = [
    Buffer.from('length'),
    s.length,
    Buffer.from('radix-tree-keys'),
    s.nodes.length,
    Buffer.from('radix-tree-nodes'),
    radixTreeNodes(s),
    Buffer.from('last-generated-id'),
    idReply(s.lastId),
    Buffer.from('max-deleted-entry-id'),
    idReply(s.maxDeletedId),
    Buffer.from('entries-added'),
    s.entriesAdded,
    Buffer.from('recorded-first-entry-id'),
    idReply(s.firstId),
  ];
  if (!full) {
    out.push(
      Buffer.from('groups'),
      s.groups?.size ?? 0,
      Buffer.from('first-entry'),
      first === undefined ? null : entryReply(first),
      Buffer.from('last-entry'),
      last === undefined ? null : entryReply(last),
    );
    return out;
  }
  out.push(
    Buffer.from('entries'),
    s.range(0n, MAX_ID, count).map(entryReply),
    Buffer.from('groups'),
    groups(),
  );
  return out;
}

/**
 * How many nodes Redis's radix tree (rax.c) has over the stream's node keys
 * (master IDs as 16 big-endian bytes): a compressed node for each run of
 * bytes no key branches in, a node where keys branch, a leaf per key.
 */
function radixTreeNodes(s: Stream): number {
  const keys = s.nodes.map((n) => Buffer.from(n.masterId.toString(16).padStart(32, '0'), 'hex'));
  if (keys.length === 0) return 1;
  const at = (group: Buffer[], depth: number): number => {
    if (depth === 16) return 1;
    const a = group[0]!;
    const z = group[group.length - 1]!;
    let lcp = 0;
    while (depth + lcp < 16 && a[depth + lcp] === z[depth + lcp]) lcp++;
    if (lcp > 0) return 1 + at(group, depth + lcp);
    let nodes = 1;
    for (let i = 0; i < group.length;) {
      let j = i;
      while (j < group.length && group[j]![depth] === group[i]![depth]) j++;
      nodes += at(group.slice(i, j), depth + 1);
      i = j;
    }
    return nodes;
  };
  return at(keys, 0);
}

export const streamCommands: Readonly<Record<string, Spec>> = {
  xadd: { arity: -5, run: xadd },
  xtrim: { arity: -4, run: xtrim },
  xrange: { arity: -4, run: (ks, a) => xrange(ks, a, false) },
  xrevrange: { arity: -4, run: (ks, a) => xrange(ks, a, true) },
  xlen: {
    arity: 2,
    run(ks, a) {
      const s = readStream(ks, keyOf(a, 1));
      if (s instanceof ReplyError) return s;
      return s?.length ?? 0;
    },
  },
  xdel: { arity: -3, run: xdel },
  xsetid: { arity: -3, run: xsetid },
};
