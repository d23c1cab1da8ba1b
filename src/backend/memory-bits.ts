/**
 * Bit operations on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP), after
 * Redis 7.0's bitops.c: the same argument order of checks, error texts and
 * range rules (negative indexes from the end, BYTE or BIT units). A string is
 * replaced, never changed in place (see memory-keys.ts). BITFIELD is not here:
 * an embedded node refuses it as a command it does not serve.
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
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
import type { Keyspace } from './memory-keyspace.js';

const BAD_OFFSET = new ReplyError('ERR bit offset is not an integer or out of range');
const BAD_BIT = new ReplyError('ERR bit is not an integer or out of range');
const BIT_ONE_OR_ZERO = new ReplyError('ERR The bit argument must be 1 or 0.');
const NOT_SINGLE = new ReplyError('ERR BITOP NOT must be called with a single source key.');
/** Redis's proto-max-bulk-len: an offset's byte must lie below it. */
const MAX_BULK = 512 * 1024 * 1024;

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;

/** A bit offset as getBitOffsetFromArgument reads it, or null. */
function bitOffset(b: Buffer): number | null {
  const v = parseInt64(b);
  if (v === null || typeof v === 'bigint' || v < 0 || Math.floor(v / 8) >= MAX_BULK) return null;
  return v;
}

function setbit(ks: Keyspace, a: Args): Reply {
  const offset = bitOffset(a[2]!);
  if (offset === null) return BAD_OFFSET;
  const on = parseLong(a[3]!);
  if (on === null || (on !== 0 && on !== 1)) return BAD_BIT;
  const key = keyOf(a, 1);
  const cur = readString(ks, key);
  if (cur instanceof ReplyError) return cur;
  const byte = offset >> 3;
  const mask = 1 << (7 - (offset & 7));
  const len = cur?.length ?? 0;
  const old = byte < len && (cur![byte]! & mask) !== 0 ? 1 : 0;
  if (byte < len && old === on) return old;
  if (byte + 1 > ks.maxValueBytes) return TOO_BIG;
  const out = Buffer.alloc(Math.max(len, byte + 1));
  cur?.copy(out);
  out[byte] = on === 1 ? out[byte]! | mask : out[byte]! & ~mask;
  ks.set(key, out, true);
  return old;
}

function getbit(ks: Keyspace, a: Args): Reply {
  const offset = bitOffset(a[2]!);
  if (offset === null) return BAD_OFFSET;
  const cur = readString(ks, keyOf(a, 1));
  if (cur === null || cur instanceof ReplyError) return cur ?? 0;
  const byte = offset >> 3;
  return byte < cur.length && (cur[byte]! & (1 << (7 - (offset & 7)))) !== 0 ? 1 : 0;
}

/** An inclusive range of bits, the first and last within the string. */
interface BitRange {
  readonly first: number;
  readonly last: number;
}

/**
 * The range given as `start end [BYTE|BIT]` over a string of `strlen` bytes,
 * as bitcount/bitpos normalise it; null when it is empty.
 */
function bitRange(start: bigint, end: bigint, isBit: boolean, strlen: number): BitRange | null {
  const total = BigInt(isBit ? strlen * 8 : strlen);
  if (start < 0n) start += total;
  if (end < 0n) end += total;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= total) end = total - 1n;
  if (start > end) return null;
  const [s, e] = [Number(start), Number(end)];
  return isBit ? { first: s, last: e } : { first: s * 8, last: e * 8 + 7 };
}

/** The in-range bits of byte `i`, as a mask. */
function rangeMask(i: number, r: BitRange): number {
  let mask = 0xff;
  if (i === r.first >> 3) mask &= 0xff >> (r.first & 7);
  if (i === r.last >> 3) mask &= (0xff << (7 - (r.last & 7))) & 0xff;
  return mask;
}

const int64 = (b: Buffer): bigint | null => {
  const v = parseInt64(b);
  return v === null ? null : BigInt(v);
};

/** BYTE or BIT, or null for anything else. */
function unit(b: Buffer): boolean | null {
  if (is(b, 'bit')) return true;
  return is(b, 'byte') ? false : null;
}

function bitcount(ks: Keyspace, a: Args): Reply {
  const cur = readString(ks, keyOf(a, 1));
  if (cur === null || cur instanceof ReplyError) return cur ?? 0;
  let range: BitRange | null;
  if (a.length === 4 || a.length === 5) {
    const start = int64(a[2]!);
    if (start === null) return NOT_INTEGER;
    const end = int64(a[3]!);
    if (end === null) return NOT_INTEGER;
    if (start < 0n && end < 0n && start > end) return 0;
    const isBit = a.length === 5 ? unit(a[4]!) : false;
    if (isBit === null) return SYNTAX;
    range = bitRange(start, end, isBit, cur.length);
  } else if (a.length === 2) {
    range = cur.length === 0 ? null : { first: 0, last: cur.length * 8 - 1 };
  } else return SYNTAX;
  if (range === null) return 0;
  let n = 0;
  const lastByte = range.last >> 3;
  for (let i = range.first >> 3; i <= lastByte; i++) n += POPCOUNT[cur[i]! & rangeMask(i, range)]!;
  return n;
}

function bitpos(ks: Keyspace, a: Args): Reply {
  const bit = parseLong(a[2]!);
  if (bit === null) return NOT_INTEGER;
  if (bit !== 0 && bit !== 1) return BIT_ONE_OR_ZERO;
  const cur = readString(ks, keyOf(a, 1));
  if (cur instanceof ReplyError) return cur;
  // A missing key is an endless run of zeros.
  if (cur === null) return bit === 1 ? -1 : 0;
  let range: BitRange | null;
  let endGiven = false;
  if (a.length >= 4 && a.length <= 6) {
    const start = int64(a[3]!);
    if (start === null) return NOT_INTEGER;
    const isBit = a.length === 6 ? unit(a[5]!) : false;
    if (isBit === null) return SYNTAX;
    let end = BigInt(isBit ? cur.length * 8 + 7 : cur.length - 1);
    if (a.length >= 5) {
      const given = int64(a[4]!);
      if (given === null) return NOT_INTEGER;
      end = given;
      endGiven = true;
    }
    range = bitRange(start, end, isBit, cur.length);
  } else if (a.length === 3) {
    range = cur.length === 0 ? null : { first: 0, last: cur.length * 8 - 1 };
  } else return SYNTAX;
  // An empty range holds neither a 0 nor a 1.
  if (range === null) return -1;
  const lastByte = range.last >> 3;
  for (let i = range.first >> 3; i <= lastByte; i++) {
    const hits = (bit === 1 ? cur[i]! : ~cur[i]! & 0xff) & rangeMask(i, range);
    if (hits !== 0) return i * 8 + Math.clz32(hits) - 24;
  }
  // No clear bit in the range: past its end the string counts as zeros,
  // unless the caller named the end.
  return bit === 1 || endGiven ? -1 : range.last + 1;
}

function bitop(ks: Keyspace, a: Args): Reply {
  const op = a[1]!.toString('latin1').toLowerCase();
  if (op !== 'and' && op !== 'or' && op !== 'xor' && op !== 'not') return SYNTAX;
  if (op === 'not' && a.length !== 4) return NOT_SINGLE;
  const sources: Buffer[] = [];
  let maxLen = 0;
  for (let i = 3; i < a.length; i++) {
    const v = readString(ks, keyOf(a, i));
    if (v instanceof ReplyError) return v;
    const b = v ?? Buffer.alloc(0);
    sources.push(b);
    if (b.length > maxLen) maxLen = b.length;
  }
  const dest = keyOf(a, 2);
  if (maxLen === 0) {
    ks.delete(dest);
    return 0;
  }
  const out = Buffer.alloc(maxLen);
  const first = sources[0]!;
  for (let j = 0; j < maxLen; j++) {
    let v = j < first.length ? first[j]! : 0;
    if (op === 'not') v = ~v & 0xff;
    for (let i = 1; i < sources.length; i++) {
      const s = sources[i]!;
      const b = j < s.length ? s[j]! : 0;
      v = op === 'and' ? v & b : op === 'or' ? v | b : v ^ b;
    }
    out[j] = v;
  }
  ks.set(dest, out);
  return maxLen;
}

/** The bit commands, by lower-case name. */
export const bitCommands: Readonly<Record<string, Spec>> = {
  setbit: { arity: 4, run: setbit },
  getbit: { arity: 3, run: getbit },
  bitcount: { arity: -2, run: bitcount },
  bitpos: { arity: -3, run: bitpos },
  bitop: { arity: -4, run: bitop },
};
