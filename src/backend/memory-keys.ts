/**
 * Key and string commands added for issue 16 (GETEX, GETRANGE, SETRANGE, LCS,
 * TOUCH, COPY, RENAME, RENAMENX, MSETNX), after Redis 7.0's db.c and
 * t_string.c. Strings are replaced, never changed in place: a stored buffer
 * may still be referenced by a reply being written.
 */
import { MapReply, OK, ReplyError, type Reply } from '../protocol/reply.js';
import {
  arityError,
  bulk,
  copy,
  expireTimeError,
  I64_MAX,
  is,
  keyOf,
  NOT_INTEGER,
  parseInt64,
  parseLong,
  readString,
  SYNTAX,
  TOO_BIG,
  type Args,
  type Spec,
} from './memory-args.js';
import { Deque } from './memory-deque.js';
import type { Keyspace, Value } from './memory-keyspace.js';
import { SortedSet } from './memory-sorted-set.js';
import { Stream } from './memory-stream.js';

const NO_SUCH_KEY = new ReplyError('ERR no such key');
const EMPTY_BULK = Buffer.alloc(0);

/** A deep copy of a value (COPY), sharing no mutable part with the original. */
export function cloneValue(v: Value): Value {
  if (v instanceof Buffer) return Buffer.from(v);
  if (v instanceof Map) return new Map(v);
  if (v instanceof Deque) return new Deque(v.toArray());
  if (v instanceof Set) return new Set(v);
  if (v instanceof Stream) return v.clone();
  const z = new SortedSet();
  for (const n of (v as SortedSet).entries()) z.set(n.member, n.score);
  return z;
}

function getex(ks: Keyspace, a: Args): Reply {
  let unit = 0; // 0 none, else the option
  let persist = false;
  let expire: Buffer | undefined;
  for (let j = 2; j < a.length; j++) {
    const next = a[j + 1];
    const opt = a[j]!.toString('latin1').toLowerCase();
    if (opt === 'persist' && unit === 0) persist = true;
    else if (
      (opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') &&
      next !== undefined &&
      !persist &&
      (unit === 0 || unit === ['ex', 'px', 'exat', 'pxat'].indexOf(opt) + 1)
    ) {
      unit = ['ex', 'px', 'exat', 'pxat'].indexOf(opt) + 1;
      expire = next;
      j++;
    } else return SYNTAX;
  }
  const key = keyOf(a, 1);
  const v = readString(ks, key);
  if (v === null || v instanceof ReplyError) return v;
  if (expire !== undefined) {
    const parsed = parseInt64(expire);
    if (parsed === null) return NOT_INTEGER;
    let ms = BigInt(parsed);
    const seconds = unit === 1 || unit === 3;
    if (ms <= 0n || (seconds && ms > I64_MAX / 1000n)) return expireTimeError('getex');
    if (seconds) ms *= 1000n;
    if (unit <= 2) {
      if (ms > I64_MAX - BigInt(ks.now)) return expireTimeError('getex');
      ms += BigInt(ks.now);
    }
    if (unit >= 3 && ms <= BigInt(ks.now)) ks.delete(key);
    else ks.setExpiresAt(key, Number(ms));
  } else if (persist) ks.persist(key);
  return v;
}

function getrange(ks: Keyspace, a: Args): Reply {
  const s = parseInt64(a[2]!);
  const e = parseInt64(a[3]!);
  if (s === null || e === null) return NOT_INTEGER;
  const v = readString(ks, keyOf(a, 1));
  if (v === null || v instanceof ReplyError) return v ?? EMPTY_BULK;
  let start = Number(s);
  let end = Number(e);
  const len = v.length;
  if (start < 0 && end < 0 && start > end) return EMPTY_BULK;
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return EMPTY_BULK;
  return Buffer.from(v.subarray(start, end + 1));
}

function setrange(ks: Keyspace, a: Args): Reply {
  const offset = parseLong(a[2]!);
  if (offset === null) return NOT_INTEGER;
  if (offset < 0) return new ReplyError('ERR offset is out of range');
  const key = keyOf(a, 1);
  const value = a[3]!;
  const cur = readString(ks, key);
  if (cur instanceof ReplyError) return cur;
  if (value.length === 0) return cur?.length ?? 0;
  if (offset + value.length > ks.maxValueBytes) return TOO_BIG;
  const len = Math.max(cur?.length ?? 0, offset + value.length);
  const out = Buffer.alloc(len);
  cur?.copy(out);
  value.copy(out, offset);
  ks.set(key, out, true);
  return len;
}

function rename(ks: Keyspace, a: Args, nx: boolean): Reply {
  const src = keyOf(a, 1);
  const dst = keyOf(a, 2);
  const v = ks.get(src);
  if (v === undefined) return NO_SUCH_KEY;
  if (src === dst) return nx ? 0 : OK;
  const when = ks.expiresAt(src);
  if (ks.get(dst) !== undefined) {
    if (nx) return 0;
    ks.delete(dst);
  }
  ks.set(dst, v);
  if (when !== undefined) ks.setExpiresAt(dst, when);
  ks.delete(src);
  return nx ? 1 : OK;
}

function copyCommand(ks: Keyspace, a: Args): Reply {
  let replace = false;
  for (let j = 3; j < a.length; j++) {
    if (is(a[j], 'replace')) replace = true;
    else if (is(a[j], 'db') && j + 1 < a.length) {
      const db = parseLong(a[j + 1]!);
      if (db === null) return NOT_INTEGER;
      // an embedded node has one database, as a Redis Cluster node does
      if (db !== 0) return new ReplyError('ERR DB index is out of range');
      j++;
    } else return SYNTAX;
  }
  const src = keyOf(a, 1);
  const dst = keyOf(a, 2);
  if (src === dst) return new ReplyError('ERR source and destination objects are the same');
  const v = ks.get(src);
  if (v === undefined) return 0;
  const when = ks.expiresAt(src);
  if (ks.get(dst) !== undefined) {
    if (!replace) return 0;
    ks.delete(dst);
  }
  ks.set(dst, cloneValue(v));
  if (when !== undefined) ks.setExpiresAt(dst, when);
  return 1;
}

const NOT_STRINGS = new ReplyError('ERR The specified keys must contain string values');
const IDX_AND_LEN = new ReplyError('ERR If you want both the length and indexes, please just use IDX.');
const LCS_TOO_BIG = new ReplyError(
  'ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len',
);
/** Redis's proto-max-bulk-len, which bounds LCS's table (4 bytes a cell). */
const MAX_BULK = 512 * 1024 * 1024;

/**
 * LCS a b [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN], as t_string.c's
 * lcsCommand: the same table, the same walk back from the end (so the same
 * common subsequence and the same ranges, last first, when several exist).
 */
function lcs(ks: Keyspace, a: Args): Reply {
  const x = readString(ks, keyOf(a, 1));
  const y = readString(ks, keyOf(a, 2));
  if (x instanceof ReplyError || y instanceof ReplyError) return NOT_STRINGS;
  let getLen = false;
  let getIdx = false;
  let withMatchLen = false;
  let minMatchLen = 0;
  for (let j = 3; j < a.length; j++) {
    if (is(a[j], 'idx')) getIdx = true;
    else if (is(a[j], 'len')) getLen = true;
    else if (is(a[j], 'withmatchlen')) withMatchLen = true;
    else if (is(a[j], 'minmatchlen') && j + 1 < a.length) {
      const n = parseInt64(a[++j]!);
      if (n === null) return NOT_INTEGER;
      minMatchLen = Math.max(0, Number(n));
    } else return SYNTAX;
  }
  if (getIdx && getLen) return IDX_AND_LEN;
  const s = x ?? EMPTY_BULK;
  const t = y ?? EMPTY_BULK;
  const [m, n] = [s.length, t.length];
  const width = n + 1;
  if ((m + 1) * width * 4 > MAX_BULK) return LCS_TOO_BIG;
  const dp = new Uint32Array((m + 1) * width);
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= n; j++) {
      dp[i * width + j] =
        s[i - 1] === t[j - 1]
          ? dp[(i - 1) * width + j - 1]! + 1
          : Math.max(dp[(i - 1) * width + j]!, dp[i * width + j - 1]!);
    }
  }
  const total = dp[m * width + n]!;
  if (getLen) return total;
  const out = Buffer.alloc(total);
  const matches: Reply[] = [];
  // A range being tracked backwards; aStart === m means none.
  let [aStart, aEnd, bStart, bEnd] = [m, 0, 0, 0];
  let k = total;
  let i = m;
  let j = n;
  while (i > 0 && j > 0) {
    let emit = false;
    if (s[i - 1] === t[j - 1]) {
      out[k - 1] = s[i - 1]!;
      if (aStart === m) [aStart, aEnd, bStart, bEnd] = [i - 1, i - 1, j - 1, j - 1];
      else if (aStart === i && bStart === j) [aStart, bStart] = [aStart - 1, bStart - 1];
      else emit = true;
      if (aStart === 0 || bStart === 0) emit = true;
      k--;
      i--;
      j--;
    } else {
      if (dp[(i - 1) * width + j]! > dp[i * width + j - 1]!) i--;
      else j--;
      if (aStart !== m) emit = true;
    }
    if (emit) {
      const len = aEnd - aStart + 1;
      if (getIdx && (minMatchLen === 0 || len >= minMatchLen)) {
        const range: Reply[] = [
          [aStart, aEnd],
          [bStart, bEnd],
        ];
        if (withMatchLen) range.push(len);
        matches.push(range);
      }
      aStart = m;
    }
  }
  return getIdx ? new MapReply([bulk('matches'), matches, bulk('len'), total]) : out;
}

/** Further key and string commands, by lower-case name. */
export const keyCommands: Readonly<Record<string, Spec>> = {
  getex: { arity: -2, run: getex },
  getrange: { arity: 4, run: getrange },
  substr: { arity: 4, run: getrange },
  setrange: { arity: 4, run: setrange },
  lcs: { arity: -3, run: lcs },
  touch: {
    arity: -2,
    run(ks, a) {
      let n = 0;
      for (let i = 1; i < a.length; i++) if (ks.get(keyOf(a, i)) !== undefined) n++;
      return n;
    },
  },
  copy: { arity: -3, run: copyCommand },
  rename: { arity: 3, run: (ks, a) => rename(ks, a, false) },
  renamenx: { arity: 3, run: (ks, a) => rename(ks, a, true) },
  msetnx: {
    arity: -3,
    run(ks, a) {
      if (a.length % 2 === 0) return arityError('msetnx');
      for (let i = 1; i < a.length; i += 2) if (ks.get(keyOf(a, i)) !== undefined) return 0;
      for (let i = 1; i < a.length; i += 2) ks.set(keyOf(a, i), copy(a[i + 1]!));
      return 1;
    },
  },
};
