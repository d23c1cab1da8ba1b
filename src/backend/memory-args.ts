/**
 * What every command family of the embedded node shares: Redis 7.0's reply
 * texts, its integer and float parsing, and the command table's shape. Kept
 * in one place so the error texts of every family stay identical to Redis's.
 */
import { ErrorCode } from '../errors.js';
import { ReplyError, SimpleString, hsError, type Reply } from '../protocol/reply.js';
import { REDIS_COMMANDS } from '../router/redis-commands.generated.js';
import { Deque } from './memory-deque.js';
import { SortedSet } from './memory-sorted-set.js';
import { Stream } from './memory-stream.js';
import type { Keyspace, Value } from './memory-keyspace.js';

// ---------------------------------------------------------------------------
// Replies shared by many commands (the exact texts of Redis 7.0).

export const WRONGTYPE = new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
export const NOT_INTEGER = new ReplyError('ERR value is not an integer or out of range');
export const NOT_FLOAT = new ReplyError('ERR value is not a valid float');
export const HASH_NOT_INTEGER = new ReplyError('ERR hash value is not an integer');
export const SYNTAX = new ReplyError('ERR syntax error');
export const OVERFLOW = new ReplyError('ERR increment or decrement would overflow');
export const DECR_OVERFLOW = new ReplyError('ERR decrement would overflow');
export const NAN_OR_INF = new ReplyError('ERR increment would produce NaN or Infinity');
export const TOO_BIG = new ReplyError('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
export const TYPE_STRING = new SimpleString('string');
export const TYPE_HASH = new SimpleString('hash');
export const TYPE_NONE = new SimpleString('none');

export const arityError = (name: string): ReplyError =>
  new ReplyError(`ERR wrong number of arguments for '${name}' command`);
export const expireTimeError = (name: string): ReplyError =>
  new ReplyError(`ERR invalid expire time in '${name}' command`);

/** Redis's reply to a command it does not know, quoting at most ~128 bytes of arguments. */
export function unknownCommandError(args: readonly Buffer[]): ReplyError {
  let quoted = '';
  for (let i = 1; i < args.length && quoted.length < 128; i++) {
    quoted += `'${args[i]!.toString('latin1', 0, 128 - quoted.length)}' `;
  }
  const name = args[0]?.toString('latin1', 0, 128) ?? '';
  const text = `ERR unknown command '${name}', with args beginning with: ${quoted}`;
  // addReplyErrorFormat turns CR and LF into spaces so the error stays one line
  return new ReplyError(Buffer.from(text.replace(/[\r\n]/g, ' '), 'latin1').toString('utf8'));
}

/** The commands Redis knows. */
const REDIS_NAMES = new Set(REDIS_COMMANDS.map((c) => c.name));

/**
 * The reply to a command an embedded node does not run (lower-case `name`):
 * a Redis command it does not serve (DUMP, OBJECT, PFDEBUG ...) is refused as
 * such, pointing to Redis nodes, not called unknown; anything else gets
 * Redis's unknown-command text.
 */
export function notServedError(name: string, args: readonly Buffer[]): ReplyError {
  if (!REDIS_NAMES.has(name)) return unknownCommandError(args);
  return hsError(
    ErrorCode.NotAllowed,
    `${name.toUpperCase()} is not served by embedded nodes; use Redis nodes (backend: redis)`,
  );
}

// ---------------------------------------------------------------------------
// Signed 64-bit integers, as Redis's string2ll and overflow checks see them.

export const I64_MAX = 9223372036854775807n;
export const I64_MIN = -9223372036854775808n;
export const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
export const SAFE_MIN = -SAFE_MAX;

/** An integer reply: a number when exact, else a bigint. */
export const intReply = (v: bigint): number | bigint => (v >= SAFE_MIN && v <= SAFE_MAX ? Number(v) : v);

/**
 * Parses like Redis's string2ll: optional '-', no '+', no leading zeros or
 * spaces, at most 20 characters, within int64. Null when it is not one.
 */
export function parseInt64(b: Buffer): number | bigint | null {
  const len = b.length;
  if (len === 0 || len > 20) return null;
  if (len === 1 && b[0] === 0x30) return 0;
  const start = b[0] === 0x2d ? 1 : 0;
  if (start === len) return null;
  const first = b[start]!;
  if (first < 0x31 || first > 0x39) return null;
  let n = 0;
  for (let i = start; i < len; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  if (len - start <= 15) return start === 1 ? -n : n;
  const v = BigInt(b.toString('latin1'));
  return v > I64_MAX || v < I64_MIN ? null : intReply(v);
}

/** a + b in int64, or null when it would overflow. */
export function addInt64(a: number | bigint, b: number | bigint): number | bigint | null {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  const r = BigInt(a) + BigInt(b);
  return r > I64_MAX || r < I64_MIN ? null : intReply(r);
}

// ---------------------------------------------------------------------------
// Commands.

export type Args = readonly Buffer[];
export type Run = (ks: Keyspace, a: Args) => Reply;
export interface Spec {
  /** Redis arity: n means exactly n arguments with the name, -n at least n. */
  readonly arity: number;
  readonly run: Run;
}

export const keyOf = (a: Args, i: number): string => a[i]!.toString('latin1');
/** Stored values are copies: arguments may be views into a socket chunk. */
export const copy = (b: Buffer): Buffer => Buffer.from(b);

/** The string at `key`, null when absent, WRONGTYPE when it is a hash. */
export function readString(ks: Keyspace, key: string): Buffer | null | ReplyError {
  const v = ks.get(key);
  if (v === undefined) return null;
  return v instanceof Buffer ? v : WRONGTYPE;
}

/** The hash at `key`, undefined when absent, WRONGTYPE when it is a string. */
export function readHash(ks: Keyspace, key: string): Map<string, Buffer> | undefined | ReplyError {
  const v = ks.get(key);
  if (v === undefined || v instanceof Map) return v;
  return WRONGTYPE;
}

/** The list at `key`, undefined when absent, WRONGTYPE when it holds another type. */
export function readList(ks: Keyspace, key: string): Deque | undefined | ReplyError {
  const v = ks.get(key);
  if (v === undefined || v instanceof Deque) return v;
  return WRONGTYPE;
}

/** The set at `key`, undefined when absent, WRONGTYPE when it holds another type. */
export function readSet(ks: Keyspace, key: string): Set<string> | undefined | ReplyError {
  const v = ks.get(key);
  if (v === undefined || v instanceof Set) return v;
  return WRONGTYPE;
}

/** The sorted set at `key`, undefined when absent, WRONGTYPE when it holds another type. */
export function readZSet(ks: Keyspace, key: string): SortedSet | undefined | ReplyError {
  const v = ks.get(key);
  if (v === undefined || v instanceof SortedSet) return v;
  return WRONGTYPE;
}

const TYPE_NAMES = {
  string: new SimpleString('string'),
  hash: new SimpleString('hash'),
  list: new SimpleString('list'),
  set: new SimpleString('set'),
  zset: new SimpleString('zset'),
  stream: new SimpleString('stream'),
  none: new SimpleString('none'),
} as const;

/** The name TYPE answers for a value. */
export function typeName(v: Value | undefined): keyof typeof TYPE_NAMES {
  if (v === undefined) return 'none';
  if (v instanceof Buffer) return 'string';
  if (v instanceof Map) return 'hash';
  if (v instanceof Deque) return 'list';
  if (v instanceof Set) return 'set';
  if (v instanceof Stream) return 'stream';
  return 'zset';
}

/** TYPE's reply for a value. */
export const typeReply = (v: Value | undefined): SimpleString => TYPE_NAMES[typeName(v)];

/** A bulk string of latin1-decoded bytes (a set member, hash field or zset member). */
export const bulk = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Parses an integer argument that must fit a long (Redis's getLongFromObjectOrReply). */
export function parseLong(b: Buffer): number | null {
  const v = parseInt64(b);
  if (v === null) return null;
  // beyond 2^53 every index or count is out of any real range: clamp, keeping the sign
  return typeof v === 'number' ? v : v > 0n ? Number.MAX_SAFE_INTEGER : -Number.MAX_SAFE_INTEGER;
}

/** Parses like Redis's string2d (strtod, refusing spaces, trailing bytes, NaN and over/underflow). */
export function parseDouble(b: Buffer): number | null {
  if (b.length === 0 || b.length > 5 * 1024) return null;
  const s = b.toString('latin1');
  if (INFINITE.test(s)) return s[0] === '-' ? -Infinity : Infinity;
  if (DECIMAL.test(s)) {
    const v = Number(s);
    if (!Number.isFinite(v)) return null;
    // strtod's underflow to zero sets ERANGE, which string2d refuses
    if (v === 0 && /[1-9]/.test(s.replace(/[eE].*$/, ''))) return null;
    return v;
  }
  const m = HEX.exec(s);
  if (m === null) return null;
  const ld = parseLongDouble(b);
  if (ld === null) return null;
  if (ld.m === 0n) return m[1] === '-' ? -0 : 0;
  const v = Number(ld.m) * 2 ** ld.e;
  return Number.isFinite(v) && v !== 0 ? (ld.neg ? -v : v) : null;
}

/** A double as Redis 7.0's addReplyDouble writes it: "%.17g", inf and -inf. */
export function formatScore(v: number): string {
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const [mant, expText] = v.toExponential(16).split('e') as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 17) {
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const abs = Math.abs(exp);
    return `${m}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  const fixed = v.toFixed(16 - exp);
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

/** A score as a bulk reply (RESP2's form of a double). */
export const scoreReply = (v: number): Buffer => Buffer.from(formatScore(v), 'latin1');

/** Redis's getPositiveLongFromObjectOrReply default text. */
export const OUT_OF_RANGE_POSITIVE = new ReplyError('ERR value is out of range, must be positive');

export { NULL_ARRAY } from '../protocol/reply.js';

/**
 * getRangeLongFromObjectOrReply: an integer within [min, max], else the
 * given text (or Redis's default one), or NOT_INTEGER when it is no integer.
 */
export function parseRangeLong(b: Buffer, min: number, max: number, msg?: string): number | ReplyError {
  const v = parseLong(b);
  // with a text of its own, Redis answers it for a non-integer too
  if (v === null) return msg === undefined ? NOT_INTEGER : new ReplyError(`ERR ${msg}`);
  if (v < min || v > max) {
    return new ReplyError(`ERR ${msg ?? `value is out of range, value must between ${min} and ${max}`}`);
  }
  return v;
}

/** getPositiveLongFromObjectOrReply: an integer >= 0, else the text (for a non-integer too). */
export function parsePositiveLong(b: Buffer, msg?: string): number | ReplyError {
  const v = parseLong(b);
  if (v === null || v < 0) return msg === undefined ? OUT_OF_RANGE_POSITIVE : new ReplyError(`ERR ${msg}`);
  return v;
}

/** The largest long, as the bound Redis's range checks print. */
export const LONG_MAX = Number.MAX_SAFE_INTEGER;

/**
 * A blocking pop parsed (BLPOP, BZPOPMIN, BLMOVE ...): the keys it waits on,
 * its timeout, and how to serve it. The node runs `serve` at once; when it
 * returns undefined the client waits, and `serveKey` runs each time one of its
 * keys is pushed to, in the FIFO order of the waiters, as Redis's
 * serveClientsBlockedOnKey does.
 */
export interface BlockingCall {
  readonly keys: readonly string[];
  /** Milliseconds to wait; 0 waits for ever. */
  readonly timeoutMs: number;
  /** Serves from the first of the keys that can (an error for a key of the wrong type), or undefined. */
  serve(ks: Keyspace): Reply | undefined;
  /** Serves from `key` when it now holds what the call waits for, else undefined (stays blocked). */
  serveKey(ks: Keyspace, key: string): Reply | undefined;
  /** What the call answers when its time runs out. */
  readonly timedOut: Reply;
  /** What it answers when it cannot block (sent through the non-blocking path, as inside MULTI). */
  readonly cannotBlock: Reply;
}

/** Parses a blocking command's arguments: the call, or the error Redis answers. */
export type BlockingParse = (a: Args) => BlockingCall | ReplyError;

/** getTimeoutFromObjectOrReply for seconds: a non-negative float, in ms. */
export function parseTimeout(b: Buffer): number | ReplyError {
  const ld = parseLongDouble(b);
  if (ld === null || !Number.isFinite(ld.e)) {
    return new ReplyError('ERR timeout is not a float or out of range');
  }
  const seconds = (ld.neg ? -1 : 1) * Number(ld.m) * 2 ** ld.e;
  const ms = Math.trunc(seconds * 1000);
  if (ms < 0) return new ReplyError('ERR timeout is negative');
  if (ms > 9.2e18) return new ReplyError('ERR timeout is out of range');
  return ms;
}

/** Index range of LRANGE / ZRANGE: start and stop clamped into [0, len), or null when empty. */
export function clampRange(start: number, stop: number, len: number): [number, number] | null {
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return null;
  if (stop >= len) stop = len - 1;
  return [start, stop];
}

/** Case-insensitive comparison of an argument with a keyword (lower-case). */
export const is = (b: Buffer | undefined, word: string): boolean =>
  b !== undefined && b.length === word.length && b.toString('latin1').toLowerCase() === word;

// ---------------------------------------------------------------------------
// INCRBYFLOAT in x87 80-bit long double, as Redis computes it: strtold, add,
// then "%.17Lf" with trailing zeros removed. Doubles would print 0.1 + 0.2 as
// 0.30000000000000004 where Redis prints 0.3, so values are m * 2^e with a
// 64-bit significand, rounded half-to-even with exact BigInt arithmetic.

export interface LongDouble {
  readonly neg: boolean;
  /** Significand, < 2^64; 0 for zero. */
  readonly m: bigint;
  readonly e: number;
}

export const LD_ZERO: LongDouble = { neg: false, m: 0n, e: 0 };
export const TWO63 = 1n << 63n;
export const TWO64 = 1n << 64n;
/** Exponent of the smallest subnormal (2^-16445). */
export const LD_MIN_E = -16445;
/** Every finite long double is below 2^16384. */
export const LD_MAX_BITS = 16384;
/** Redis's MAX_LONG_DOUBLE_CHARS: longer inputs are refused. */
export const MAX_LD_CHARS = 5 * 1024;

export const DECIMAL = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
export const HEX =
  /^([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?$/;
export const INFINITE = /^[+-]?(?:inf|infinity)$/i;

export const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);
export const clampExponent = (s: string | undefined): number =>
  s === undefined ? 0 : Math.max(-1e7, Math.min(1e7, Number(s)));

/** Rounds num/den * 2^e2 (num, den > 0) to a long double; null when it overflows. */
export function roundLongDouble(neg: boolean, num: bigint, den: bigint, e2: number): LongDouble | null {
  if (num === 0n) return { neg, m: 0n, e: 0 };
  let e = Math.max(bitLength(num) - bitLength(den) + e2 - 64, LD_MIN_E);
  for (;;) {
    const s = e2 - e;
    const n = s >= 0 ? num << BigInt(s) : num;
    const d = s >= 0 ? den : den << BigInt(-s);
    let q = n / d;
    if (q >= TWO64) {
      e++;
      continue;
    }
    if (q < TWO63 && e > LD_MIN_E) {
      e--;
      continue;
    }
    const r2 = (n - q * d) * 2n;
    if (r2 > d || (r2 === d && (q & 1n) === 1n)) q++;
    if (q === TWO64) {
      q = TWO63;
      e++;
    }
    return bitLength(q) + e > LD_MAX_BITS ? null : { neg, m: q, e };
  }
}

/**
 * Parses like Redis's string2ld (strtold, then refusing leading space, trailing
 * bytes, NaN, overflow and underflow to zero). Infinity is a valid input; null
 * means "not a valid float". An infinite value is returned with e = Infinity.
 */
export function parseLongDouble(b: Buffer): LongDouble | null {
  if (b.length === 0 || b.length >= MAX_LD_CHARS) return null;
  const s = b.toString('latin1');
  if (INFINITE.test(s)) return { neg: s[0] === '-', m: 0n, e: Infinity };
  let m = DECIMAL.exec(s);
  if (m !== null) {
    const frac = m[3] ?? m[4] ?? '';
    const digits = ((m[2] ?? '') + frac).replace(/^0+/, '');
    const neg = m[1] === '-';
    if (digits === '') return { neg, m: 0n, e: 0 };
    const p10 = clampExponent(m[5]) - frac.length;
    const magnitude = digits.length + p10; // the value is below 10^magnitude
    if (magnitude > 4934 || magnitude < -4952) return null;
    const r =
      p10 >= 0
        ? roundLongDouble(neg, BigInt(digits) * 10n ** BigInt(p10), 1n, 0)
        : roundLongDouble(neg, BigInt(digits), 10n ** BigInt(-p10), 0);
    return r === null || r.m === 0n ? null : r;
  }
  m = HEX.exec(s);
  if (m !== null) {
    const frac = m[3] ?? m[4] ?? '';
    const digits = ((m[2] ?? '') + frac).replace(/^0+/, '');
    const neg = m[1] === '-';
    if (digits === '') return { neg, m: 0n, e: 0 };
    const e2 = clampExponent(m[5]) - 4 * frac.length;
    const bits = digits.length * 4 + e2;
    if (bits > LD_MAX_BITS + 4 || bits < LD_MIN_E - 4) return null;
    const r = roundLongDouble(neg, BigInt(`0x${digits}`), 1n, e2);
    return r === null || r.m === 0n ? null : r;
  }
  return null;
}

/** a + b rounded to long double; null when the sum is infinite or NaN. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  if (!Number.isFinite(a.e) || !Number.isFinite(b.e)) return null;
  const e0 = Math.min(a.e, b.e);
  const av = (a.m << BigInt(a.e - e0)) * (a.neg ? -1n : 1n);
  const bv = (b.m << BigInt(b.e - e0)) * (b.neg ? -1n : 1n);
  const sum = av + bv;
  if (sum === 0n) return { neg: a.neg && b.neg, m: 0n, e: 0 };
  return roundLongDouble(sum < 0n, sum < 0n ? -sum : sum, 1n, e0);
}

/** "%.17Lf" (round half to even), trailing zeros and a bare "." removed, "-0" as "0". */
export function formatLongDouble(x: LongDouble): string {
  const scale = 10n ** 17n;
  let n: bigint;
  if (x.e >= 0) n = (x.m << BigInt(x.e)) * scale;
  else {
    const num = x.m * scale;
    const den = 1n << BigInt(-x.e);
    n = num / den;
    const r2 = (num - n * den) * 2n;
    if (r2 > den || (r2 === den && (n & 1n) === 1n)) n++;
  }
  const digits = n.toString().padStart(18, '0');
  const frac = digits.slice(-17).replace(/0+$/, '');
  const body = frac === '' ? digits.slice(0, -17) : `${digits.slice(0, -17)}.${frac}`;
  return x.neg && body !== '0' ? `-${body}` : body;
}
