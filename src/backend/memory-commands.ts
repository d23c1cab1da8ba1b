/**
 * The Redis commands an embedded node runs: strings, counters, hashes and
 * TTLs here, the other families in memory-lists.ts, memory-sets.ts,
 * memory-zsets.ts, memory-hashes.ts, memory-keys.ts, memory-bits.ts and
 * memory-sort.ts, memory-streams.ts, memory-stream-groups.ts,
 * memory-hll.ts and memory-geo.ts, all in one table.
 *
 * Semantics and error texts follow redis-server 7.0 (t_string.c, t_hash.c,
 * expire.c, db.c, util.c) closely enough that test/backend/backend.case.ts
 * passes unchanged against both this store and a real Redis, and the
 * differential test (test/differential/) finds the same replies. Where this
 * file looks odd (SET accepting `EX 1 EX 2`, EXPIRE parsing its flags before
 * its number, INCRBYFLOAT computing in 80-bit long double), it is copying Redis.
 */
import { MapReply, OK, PONG, ReplyError, type Reply } from '../protocol/reply.js';
import {
  addInt64,
  addLongDouble,
  arityError,
  copy,
  DECR_OVERFLOW,
  expireTimeError,
  formatLongDouble,
  HASH_NOT_INTEGER,
  I64_MAX,
  I64_MIN,
  intReply,
  keyOf,
  LD_ZERO,
  NAN_OR_INF,
  NOT_FLOAT,
  NOT_INTEGER,
  notServedError,
  OVERFLOW,
  parseInt64,
  parseLongDouble,
  readHash,
  readString,
  SYNTAX,
  TOO_BIG,
  typeReply,
  unknownCommandError,
  type Args,
  type BlockingParse,
  type Spec,
} from './memory-args.js';
import { bitCommands } from './memory-bits.js';
import { geoCommands } from './memory-geo.js';
import { hashCommands, setFields } from './memory-hashes.js';
import { hllCommands } from './memory-hll.js';
import type { Keyspace } from './memory-keyspace.js';
import { keyCommands } from './memory-keys.js';
import { listBlocking, listCommands } from './memory-lists.js';
import { setCommands } from './memory-sets.js';
import { sortCommands } from './memory-sort.js';
import { parseXreadgroup, streamGroupCommands } from './memory-stream-groups.js';
import { parseXread, streamCommands } from './memory-streams.js';
import { zsetBlocking, zsetCommands } from './memory-zsets.js';

export { Keyspace, seededRandom, DEFAULT_MAX_TRACKED_KEYS } from './memory-keyspace.js';
export type { KeyTracker, KeyWatcher, Value } from './memory-keyspace.js';
export { notServedError, parseInt64, unknownCommandError } from './memory-args.js';

// SET flags, as in t_string.c
const NX = 1;
const XX = 2;
const GET = 4;
const KEEPTTL = 8;
const EX = 16;
const PX = 32;
const EXAT = 64;
const PXAT = 128;

/** Parses SET's options exactly as parseExtendedStringArgumentsOrReply does. */
function parseSetOptions(a: Args): { flags: number; expire: Buffer | undefined } | ReplyError {
  let flags = 0;
  let expire: Buffer | undefined;
  for (let j = 3; j < a.length; j++) {
    const opt = a[j]!.toString('latin1').toLowerCase();
    const next = a[j + 1];
    const timed = flags & (KEEPTTL | EX | PX | EXAT | PXAT);
    if (opt === 'nx' && !(flags & XX)) flags |= NX;
    else if (opt === 'xx' && !(flags & NX)) flags |= XX;
    else if (opt === 'get') flags |= GET;
    else if (opt === 'keepttl' && !(timed & ~KEEPTTL)) flags |= KEEPTTL;
    else if (
      next !== undefined &&
      ((opt === 'ex' && !(timed & ~EX)) ||
        (opt === 'px' && !(timed & ~PX)) ||
        (opt === 'exat' && !(timed & ~EXAT)) ||
        (opt === 'pxat' && !(timed & ~PXAT)))
    ) {
      flags |= opt === 'ex' ? EX : opt === 'px' ? PX : opt === 'exat' ? EXAT : PXAT;
      expire = next;
      j++;
    } else return SYNTAX;
  }
  return { flags, expire };
}

/** setGenericCommand: the shared body of SET, SETNX, SETEX and PSETEX. */
function setGeneric(
  ks: Keyspace,
  name: string,
  flags: number,
  key: string,
  value: Buffer,
  expire: Buffer | undefined,
  ok: Reply = OK,
  abort: Reply = null,
): Reply {
  let when: number | undefined;
  if (expire !== undefined) {
    const parsed = parseInt64(expire);
    if (parsed === null) return NOT_INTEGER;
    let ms = BigInt(parsed);
    const seconds = (flags & (EX | EXAT)) !== 0;
    if (ms <= 0n || (seconds && ms > I64_MAX / 1000n)) return expireTimeError(name);
    if (seconds) ms *= 1000n;
    if (flags & (EX | PX)) {
      const now = BigInt(ks.now);
      if (ms > I64_MAX - now) return expireTimeError(name);
      ms += now;
    }
    when = Number(ms);
  }
  let old: Reply = null;
  if (flags & GET) {
    const v = readString(ks, key);
    if (v instanceof ReplyError) return v;
    old = v;
  }
  const found = ks.get(key) !== undefined;
  if ((flags & NX && found) || (flags & XX && !found)) return flags & GET ? old : abort;
  if (value.length > ks.maxValueBytes) return TOO_BIG;
  ks.set(key, copy(value), (flags & KEEPTTL) !== 0);
  if (when !== undefined) ks.setExpiresAt(key, when);
  return flags & GET ? old : ok;
}

/** expireGenericCommand: [P]EXPIRE[AT] with NX | XX | GT | LT; `relative` for EXPIRE and PEXPIRE. */
function expireGeneric(ks: Keyspace, a: Args, name: string, unit: bigint, relative = true): Reply {
  let nx = false,
    xx = false,
    gt = false,
    lt = false;
  for (let j = 3; j < a.length; j++) {
    const opt = a[j]!.toString('latin1');
    switch (opt.toLowerCase()) {
      case 'nx':
        nx = true;
        break;
      case 'xx':
        xx = true;
        break;
      case 'gt':
        gt = true;
        break;
      case 'lt':
        lt = true;
        break;
      default:
        return new ReplyError(`ERR Unsupported option ${opt}`);
    }
  }
  if (nx && (xx || gt || lt))
    return new ReplyError('ERR NX and XX, GT or LT options at the same time are not compatible');
  if (gt && lt) return new ReplyError('ERR GT and LT options at the same time are not compatible');
  const parsed = parseInt64(a[2]!);
  if (parsed === null) return NOT_INTEGER;
  let when = BigInt(parsed);
  if (when > I64_MAX / unit || when < I64_MIN / unit) return expireTimeError(name);
  when *= unit;
  const now = BigInt(ks.now);
  if (relative) {
    if (when > I64_MAX - now) return expireTimeError(name);
    when += now;
  }
  const key = keyOf(a, 1);
  if (ks.get(key) === undefined) return 0;
  const current = ks.expiresAt(key);
  if (nx && current !== undefined) return 0;
  if (xx && current === undefined) return 0;
  if (gt && (current === undefined || when <= BigInt(current))) return 0;
  if (lt && current !== undefined && when >= BigInt(current)) return 0;
  if (when <= now) ks.delete(key);
  else ks.setExpiresAt(key, Number(when));
  return 1;
}

function ttlGeneric(ks: Keyspace, a: Args, ms: boolean, absolute = false): Reply {
  const key = keyOf(a, 1);
  if (ks.get(key) === undefined) return -2;
  const when = ks.expiresAt(key);
  if (when === undefined) return -1;
  const ttl = absolute ? when : Math.max(0, when - ks.now);
  return ms ? ttl : Math.floor((ttl + 500) / 1000);
}

function incrDecr(ks: Keyspace, key: string, incr: number | bigint): Reply {
  const cur = readString(ks, key);
  if (cur instanceof ReplyError) return cur;
  const value = cur === null ? 0 : parseInt64(cur);
  if (value === null) return NOT_INTEGER;
  const result = addInt64(value, incr);
  if (result === null) return OVERFLOW;
  ks.set(key, Buffer.from(String(result), 'latin1'), true);
  return result;
}

function incrBy(ks: Keyspace, a: Args, negate: boolean): Reply {
  const incr = parseInt64(a[2]!);
  if (incr === null) return NOT_INTEGER;
  if (!negate) return incrDecr(ks, keyOf(a, 1), incr);
  if (incr === I64_MIN) return DECR_OVERFLOW;
  return incrDecr(ks, keyOf(a, 1), typeof incr === 'number' ? -incr : intReply(-incr));
}

/** FLUSHALL / FLUSHDB [ASYNC|SYNC]. */
function flush(ks: Keyspace, a: Args): Reply {
  if (a.length > 2) return SYNTAX;
  const mode = a[1]?.toString('latin1').toLowerCase();
  if (mode !== undefined && mode !== 'sync' && mode !== 'async') return SYNTAX;
  ks.clear();
  return OK;
}

function deleteMany(ks: Keyspace, a: Args): Reply {
  let n = 0;
  for (let i = 1; i < a.length; i++) if (ks.delete(keyOf(a, i))) n++;
  return n;
}

const COMMANDS = new Map<string, Spec>(
  Object.entries({
    ...listCommands,
    ...setCommands,
    ...zsetCommands,
    ...hashCommands,
    ...keyCommands,
    ...bitCommands,
    ...sortCommands,
    ...streamCommands,
    ...hllCommands,
    ...geoCommands,
    ...streamGroupCommands,
    ping: {
      arity: -1,
      run: (_ks, a) => (a.length > 2 ? arityError('ping') : a.length === 2 ? copy(a[1]!) : PONG),
    },
    get: { arity: 2, run: (ks, a) => readString(ks, keyOf(a, 1)) },
    set: {
      arity: -3,
      run(ks, a) {
        if (a.length === 3) return setGeneric(ks, 'set', 0, keyOf(a, 1), a[2]!, undefined);
        const opts = parseSetOptions(a);
        if (opts instanceof ReplyError) return opts;
        return setGeneric(ks, 'set', opts.flags, keyOf(a, 1), a[2]!, opts.expire);
      },
    },
    setnx: { arity: 3, run: (ks, a) => setGeneric(ks, 'setnx', NX, keyOf(a, 1), a[2]!, undefined, 1, 0) },
    setex: { arity: 4, run: (ks, a) => setGeneric(ks, 'setex', EX, keyOf(a, 1), a[3]!, a[2]) },
    psetex: { arity: 4, run: (ks, a) => setGeneric(ks, 'psetex', PX, keyOf(a, 1), a[3]!, a[2]) },
    getset: {
      arity: 3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const old = readString(ks, key);
        if (old instanceof ReplyError) return old;
        if (a[2]!.length > ks.maxValueBytes) return TOO_BIG;
        ks.set(key, copy(a[2]!));
        return old;
      },
    },
    getdel: {
      arity: 2,
      run(ks, a) {
        const key = keyOf(a, 1);
        const old = readString(ks, key);
        if (old instanceof Buffer) ks.delete(key);
        return old;
      },
    },
    mget: {
      arity: -2,
      run(ks, a) {
        const out: Reply[] = new Array<Reply>(a.length - 1);
        for (let i = 1; i < a.length; i++) {
          const v = ks.get(keyOf(a, i));
          out[i - 1] = v instanceof Buffer ? v : null;
        }
        return out;
      },
    },
    mset: {
      arity: -3,
      run(ks, a) {
        if (a.length % 2 === 0) return arityError('mset');
        for (let i = 2; i < a.length; i += 2) if (a[i]!.length > ks.maxValueBytes) return TOO_BIG;
        for (let i = 1; i < a.length; i += 2) ks.set(keyOf(a, i), copy(a[i + 1]!));
        return OK;
      },
    },
    del: { arity: -2, run: deleteMany },
    unlink: { arity: -2, run: deleteMany },
    exists: {
      arity: -2,
      run(ks, a) {
        let n = 0;
        for (let i = 1; i < a.length; i++) if (ks.get(keyOf(a, i)) !== undefined) n++;
        return n;
      },
    },
    type: {
      arity: 2,
      run(ks, a) {
        return typeReply(ks.get(keyOf(a, 1)));
      },
    },
    expire: { arity: -3, run: (ks, a) => expireGeneric(ks, a, 'expire', 1000n) },
    pexpire: { arity: -3, run: (ks, a) => expireGeneric(ks, a, 'pexpire', 1n) },
    expireat: { arity: -3, run: (ks, a) => expireGeneric(ks, a, 'expireat', 1000n, false) },
    pexpireat: { arity: -3, run: (ks, a) => expireGeneric(ks, a, 'pexpireat', 1n, false) },
    expiretime: { arity: 2, run: (ks, a) => ttlGeneric(ks, a, false, true) },
    pexpiretime: { arity: 2, run: (ks, a) => ttlGeneric(ks, a, true, true) },
    ttl: { arity: 2, run: (ks, a) => ttlGeneric(ks, a, false) },
    pttl: { arity: 2, run: (ks, a) => ttlGeneric(ks, a, true) },
    persist: {
      arity: 2,
      run(ks, a) {
        const key = keyOf(a, 1);
        return ks.get(key) !== undefined && ks.persist(key) ? 1 : 0;
      },
    },
    incr: { arity: 2, run: (ks, a) => incrDecr(ks, keyOf(a, 1), 1) },
    decr: { arity: 2, run: (ks, a) => incrDecr(ks, keyOf(a, 1), -1) },
    incrby: { arity: 3, run: (ks, a) => incrBy(ks, a, false) },
    decrby: { arity: 3, run: (ks, a) => incrBy(ks, a, true) },
    incrbyfloat: {
      arity: 3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const cur = readString(ks, key);
        if (cur instanceof ReplyError) return cur;
        const value = cur === null ? LD_ZERO : parseLongDouble(cur);
        const incr = parseLongDouble(a[2]!);
        if (value === null || incr === null) return NOT_FLOAT;
        const sum = addLongDouble(value, incr);
        if (sum === null) return NAN_OR_INF;
        const out = Buffer.from(formatLongDouble(sum), 'latin1');
        ks.set(key, out, true);
        return out;
      },
    },
    append: {
      arity: 3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const cur = readString(ks, key);
        if (cur instanceof ReplyError) return cur;
        const len = (cur?.length ?? 0) + a[2]!.length;
        if (len > ks.maxValueBytes) return TOO_BIG;
        ks.set(key, cur === null ? copy(a[2]!) : Buffer.concat([cur, a[2]!], len), true);
        return len;
      },
    },
    strlen: {
      arity: 2,
      run(ks, a) {
        const cur = readString(ks, keyOf(a, 1));
        return cur instanceof ReplyError ? cur : (cur?.length ?? 0);
      },
    },
    hget: {
      arity: 3,
      run(ks, a) {
        const h = readHash(ks, keyOf(a, 1));
        return h instanceof ReplyError ? h : (h?.get(keyOf(a, 2)) ?? null);
      },
    },
    hset: {
      arity: -4,
      run: (ks, a) => (a.length % 2 === 1 ? arityError('hset') : setFields(ks, a)),
    },
    hdel: {
      arity: -3,
      run(ks, a) {
        const key = keyOf(a, 1);
        const h = readHash(ks, key);
        if (h === undefined || h instanceof ReplyError) return h ?? 0;
        let n = 0;
        for (let i = 2; i < a.length; i++) if (h.delete(keyOf(a, i))) n++;
        if (h.size === 0) ks.delete(key);
        else if (n > 0) ks.modified(key);
        return n;
      },
    },
    hgetall: {
      arity: 2,
      run(ks, a) {
        const h = readHash(ks, keyOf(a, 1));
        if (h instanceof ReplyError) return h;
        const entries: Reply[] = [];
        if (h !== undefined) for (const [f, v] of h) entries.push(Buffer.from(f, 'latin1'), v);
        return new MapReply(entries);
      },
    },
    hmget: {
      arity: -3,
      run(ks, a) {
        const h = readHash(ks, keyOf(a, 1));
        if (h instanceof ReplyError) return h;
        const out: Reply[] = [];
        for (let i = 2; i < a.length; i++) out.push(h?.get(keyOf(a, i)) ?? null);
        return out;
      },
    },
    hincrby: {
      arity: 4,
      run(ks, a) {
        const incr = parseInt64(a[3]!);
        if (incr === null) return NOT_INTEGER;
        const key = keyOf(a, 1);
        let h = readHash(ks, key);
        if (h instanceof ReplyError) return h;
        if (h === undefined) {
          h = new Map();
          ks.set(key, h);
        }
        const field = keyOf(a, 2);
        const cur = h.get(field);
        const value = cur === undefined ? 0 : parseInt64(cur);
        if (value === null) return HASH_NOT_INTEGER;
        const result = addInt64(value, incr);
        if (result === null) return OVERFLOW;
        h.set(field, Buffer.from(String(result), 'latin1'));
        ks.modified(key);
        return result;
      },
    },
    dbsize: { arity: 1, run: (ks) => ks.size() },
    flushall: { arity: -1, run: flush },
    flushdb: { arity: -1, run: flush }, // one database: the same
  } satisfies Record<string, Spec>),
);

/** The blocking pops, by name: a node parks them (see MemoryBackend.sendBlocking). */
const BLOCKING = new Map<string, { arity: number; parse: BlockingParse }>([
  ['blpop', { arity: -3, parse: listBlocking.blpop! }],
  ['brpop', { arity: -3, parse: listBlocking.brpop! }],
  ['blmove', { arity: 6, parse: listBlocking.blmove! }],
  ['brpoplpush', { arity: 4, parse: listBlocking.brpoplpush! }],
  ['blmpop', { arity: -5, parse: listBlocking.blmpop! }],
  ['bzpopmin', { arity: -3, parse: zsetBlocking.bzpopmin! }],
  ['bzpopmax', { arity: -3, parse: zsetBlocking.bzpopmax! }],
  ['bzmpop', { arity: -5, parse: zsetBlocking.bzmpop! }],
  ['xread', { arity: -4, parse: parseXread }],
  ['xreadgroup', { arity: -7, parse: parseXreadgroup }],
]);

// Run through `send`, a blocking pop does not block: as inside MULTI, it
// answers at once, with what it would time out with when nothing is there.
for (const [name, { arity, parse }] of BLOCKING) {
  COMMANDS.set(name, {
    arity,
    run(ks, a) {
      const call = parse(a);
      if (call instanceof ReplyError) return call;
      return call.serve(ks) ?? call.cannotBlock;
    },
  });
}

/** The data commands the memory backend runs (lower-case names). */
export const memoryCommandNames: ReadonlySet<string> = new Set(COMMANDS.keys());

/** Whether `name` is a blocking pop the node can park. */
export const isBlockingCommand = (name: string): boolean => BLOCKING.has(name);

/**
 * Parses a blocking pop: its call, or the reply it gets at once (an unknown
 * command, a wrong arity, a bad argument).
 */
export function parseBlocking(name: string, args: readonly Buffer[]): ReturnType<BlockingParse> {
  const spec = BLOCKING.get(name);
  if (spec === undefined) return unknownCommandError(args);
  const n = args.length;
  if (spec.arity > 0 ? n !== spec.arity : n < -spec.arity) return arityError(name);
  return spec.parse(args);
}

/**
 * Runs one command against the keyspace. `ks.now` must already hold the
 * command's time. Never throws for bad input: errors are replies.
 */
export function runCommand(ks: Keyspace, name: string, args: readonly Buffer[]): Reply {
  const spec = COMMANDS.get(name);
  if (spec === undefined) return notServedError(name, args);
  const n = args.length;
  if (spec.arity > 0 ? n !== spec.arity : n < -spec.arity) return arityError(name);
  return spec.run(ks, args);
}
