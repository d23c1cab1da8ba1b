/**
 * Bit operations on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP), after
 * Redis 7.0's bitops.c: the same argument order of checks, error texts and
 * range rules (negative indexes from the end, BYTE or BIT units), and
 * BITFIELD with its overflow modes. A string is replaced, never changed in
 * place (see memory-keys.ts).
 */
import { ReplyError, type Reply } from '../protocol/reply.js';
import {
  intReply,
  is,
  I64_MAX,
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

/**
 * A bit offset as getBitOffsetFromArgument reads it, or null: below 2^32, so
 * `>>> 3` finds its byte. BITFIELD's `#n` form counts in fields of `bits`
 * (int64 arithmetic, wrapping as C's does before the range check).
 */
function bitOffset(b: Buffer, bits = 0): number | null {
  const byField = bits > 0 && b[0] === 0x23; // '#'
  const v = parseInt64(byField ? b.subarray(1) : b);
  if (v === null) return null;
  const offset = byField ? BigInt.asIntN(64, BigInt(v) * BigInt(bits)) : BigInt(v);
  if (offset < 0n || offset >> 3n >= BigInt(MAX_BULK)) return null;
  return Number(offset);
}

function setbit(ks: Keyspace, a: Args): Reply {
  const offset = bitOffset(a[2]!);
  if (offset === null) return BAD_OFFSET;
  const on = parseLong(a[3]!);
  if (on === null || (on !== 0 && on !== 1)) return BAD_BIT;
  const key = keyOf(a, 1);
  const cur = readString(ks, key);
  if (cur instanceof ReplyError) return cur;
  const byte = offset >>> 3;
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
  const byte = offset >>> 3;
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
  if (i === r.first >>> 3) mask &= 0xff >> (r.first & 7);
  if (i === r.last >>> 3) mask &= (0xff << (7 - (r.last & 7))) & 0xff;
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
  const lastByte = range.last >>> 3;
  for (let i = range.first >>> 3; i <= lastByte; i++) n += POPCOUNT[cur[i]! & rangeMask(i, range)]!;
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
  const lastByte = range.last >>> 3;
  for (let i = range.first >>> 3; i <= lastByte; i++) {
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

const BAD_TYPE = new ReplyError(
  'ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.',
);
const BAD_OVERFLOW = new ReplyError('ERR Invalid OVERFLOW type specified');
const RO_GET_ONLY = new ReplyError('ERR BITFIELD_RO only supports the GET subcommand');

type Overflow = 'wrap' | 'sat' | 'fail';
interface FieldOp {
  readonly op: 'get' | 'set' | 'incrby';
  readonly signed: boolean;
  readonly bits: number;
  readonly offset: number;
  readonly value: bigint;
  readonly overflow: Overflow;
}

/** `i<1-64>` or `u<1-63>` (the digits up to a NUL, as C reads them), or null. */
function fieldType(b: Buffer): { signed: boolean; bits: number } | null {
  const signed = b[0] === 0x69; // 'i'
  if (!signed && b[0] !== 0x75) return null; // 'u'
  const nul = b.indexOf(0);
  const bits = parseInt64(b.subarray(1, nul === -1 ? b.length : nul));
  if (bits === null || typeof bits === 'bigint' || bits < 1 || bits > (signed ? 64 : 63)) return null;
  return { signed, bits };
}

/** The `bits`-wide field at bit `offset`, most significant bit first; zeros past the end. */
function readField(buf: Buffer, offset: number, bits: number, signed: boolean): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i++) {
    const at = offset + i;
    const byte = Math.floor(at / 8);
    const bit = byte < buf.length ? (buf[byte]! >> (7 - (at % 8))) & 1 : 0;
    v = (v << 1n) | BigInt(bit);
  }
  return signed ? BigInt.asIntN(bits, v) : v;
}

function writeField(buf: Buffer, offset: number, bits: number, value: bigint): void {
  const v = BigInt.asUintN(bits, value);
  for (let i = 0; i < bits; i++) {
    const at = offset + i;
    const byte = Math.floor(at / 8);
    const mask = 1 << (7 - (at % 8));
    if ((v >> BigInt(bits - 1 - i)) & 1n) buf[byte] = buf[byte]! | mask;
    else buf[byte] = buf[byte]! & ~mask;
  }
}

/**
 * `value + incr` in a field of `bits`, or null when it overflows under FAIL:
 * Redis's checkSignedBitfieldOverflow / checkUnsignedBitfieldOverflow, line
 * for line. The value itself may be out of range, as a SET's is. Their
 * headroom (`max - value`, `min - value`) is computed in C's int64 and can
 * wrap: a signed SET far below the field's range then counts as overflowing
 * upward, so SAT stores the maximum (`OVERFLOW SAT SET i16 0 <-2^63>` stores
 * 32767). Redis does that; so does this.
 */
function fieldSum(value: bigint, incr: bigint, f: FieldOp): bigint | null {
  let up: boolean;
  let down: boolean;
  let max: bigint;
  let min: bigint;
  if (f.signed) {
    max = f.bits === 64 ? I64_MAX : (1n << BigInt(f.bits - 1)) - 1n;
    min = -max - 1n;
    const maxIncr = BigInt.asIntN(64, max - value);
    const minIncr = BigInt.asIntN(64, min - value);
    const narrow = f.bits !== 64;
    up = value > max || (narrow && incr > maxIncr) || (value >= 0n && incr > 0n && incr > maxIncr);
    down = !up && (value < min || (narrow && incr < minIncr) || (value < 0n && incr < 0n && incr < minIncr));
  } else {
    value = BigInt.asUintN(64, value); // SET's int64, as C's uint64
    max = (1n << BigInt(f.bits)) - 1n;
    min = 0n;
    const maxIncr = BigInt.asIntN(64, max - value);
    const minIncr = BigInt.asIntN(64, -value);
    up = value > max || (incr > 0n && incr > maxIncr);
    down = !up && incr < 0n && incr < minIncr;
  }
  if (!up && !down) return value + incr;
  if (f.overflow === 'fail') return null;
  if (f.overflow === 'sat') return up ? max : min;
  return f.signed ? BigInt.asIntN(f.bits, value + incr) : BigInt.asUintN(f.bits, value + incr);
}

function bitfield(ks: Keyspace, a: Args, readOnly: boolean): Reply {
  const ops: FieldOp[] = [];
  let overflow: Overflow = 'wrap';
  let writes = false;
  let highest = -1;
  for (let j = 2; j < a.length; j++) {
    const rest = a.length - j - 1;
    const sub = a[j]!;
    let op: FieldOp['op'];
    if (is(sub, 'get') && rest >= 2) op = 'get';
    else if (is(sub, 'set') && rest >= 3) op = 'set';
    else if (is(sub, 'incrby') && rest >= 3) op = 'incrby';
    else if (is(sub, 'overflow') && rest >= 1) {
      const kind = a[++j]!;
      if (is(kind, 'wrap')) overflow = 'wrap';
      else if (is(kind, 'sat')) overflow = 'sat';
      else if (is(kind, 'fail')) overflow = 'fail';
      else return BAD_OVERFLOW;
      continue;
    } else return SYNTAX;
    const type = fieldType(a[j + 1]!);
    if (type === null) return BAD_TYPE;
    const offset = bitOffset(a[j + 2]!, type.bits);
    if (offset === null) return BAD_OFFSET;
    let value = 0n;
    if (op !== 'get') {
      writes = true;
      highest = Math.max(highest, offset + type.bits - 1);
      const v = parseInt64(a[j + 3]!);
      if (v === null) return NOT_INTEGER;
      value = BigInt(v);
    }
    ops.push({ op, ...type, offset, value, overflow });
    j += op === 'get' ? 2 : 3;
  }
  if (writes && readOnly) return RO_GET_ONLY;
  const key = keyOf(a, 1);
  const cur = readString(ks, key);
  if (cur instanceof ReplyError) return cur;
  let buf = cur ?? Buffer.alloc(0);
  if (writes) {
    // Redis makes room for the farthest bit written first, even if every write then fails.
    const len = Math.max(buf.length, Math.floor(highest / 8) + 1);
    if (len > ks.maxValueBytes) return TOO_BIG;
    const out = Buffer.alloc(len);
    buf.copy(out);
    buf = out;
  }
  const replies: Reply[] = [];
  for (const f of ops) {
    const old = readField(buf, f.offset, f.bits, f.signed);
    if (f.op === 'get') {
      replies.push(intReply(old));
      continue;
    }
    const next = f.op === 'incrby' ? fieldSum(old, f.value, f) : fieldSum(f.value, 0n, f);
    if (next === null) {
      replies.push(null);
      continue;
    }
    writeField(buf, f.offset, f.bits, next);
    replies.push(intReply(f.op === 'incrby' ? next : old));
  }
  if (writes) ks.set(key, buf, true);
  return replies;
}

/** The bit commands, by lower-case name. */
export const bitCommands: Readonly<Record<string, Spec>> = {
  setbit: { arity: 4, run: setbit },
  getbit: { arity: 3, run: getbit },
  bitcount: { arity: -2, run: bitcount },
  bitpos: { arity: -3, run: bitpos },
  bitop: { arity: -4, run: bitop },
  bitfield: { arity: -2, run: (ks, a) => bitfield(ks, a, false) },
  bitfield_ro: { arity: -2, run: (ks, a) => bitfield(ks, a, true) },
};
