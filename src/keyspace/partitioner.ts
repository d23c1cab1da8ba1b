/**
 * Partitioners map a key to a position in an ordered keyspace; the routing table cuts that
 * keyspace into contiguous ranges. Two kinds, as in DESIGN.md:
 *
 * - `hash`: position = MurmurHash3 of the key, or of its `{hash tag}` (a uint32). Spreads
 *   sequential keys evenly; only a single hot key makes a hot range.
 * - `range`: position = the key bytes themselves, in byte order (`Buffer.compare`).
 *   Keeps neighbouring keys together for scans, and is where time-series and sequential ids
 *   pile onto the last range — the hot ranges the splitter exists for.
 */
import { ConfigError } from '../errors.js';
import { hashedSpan } from './hash-tag.js';
import { HASH_SEED, murmur3 } from './hash.js';

/** A point in the keyspace: a uint32 for `hash`, the key bytes for `range`. */
export type Position = number | Buffer;

/** The partitioner kinds. */
export const PartitionerKind = { Hash: 'hash', Range: 'range' } as const;
/** One of the partitioner kinds. */
export type PartitionerKind = (typeof PartitionerKind)[keyof typeof PartitionerKind];

/** Maps keys to ordered positions; one implementation per {@link PartitionerKind}. */
export interface Partitioner {
  readonly kind: PartitionerKind;
  /** The smallest position: where the first range of every table starts. */
  readonly min: Position;
  /** The key's position. Hot path: allocation-free for `hash`; `range` returns `key` itself. */
  position(key: Buffer): Position;
  /** Negative, zero or positive as `a` sorts before, with or after `b`. */
  compare(a: Position, b: Position): number;
  /** True when `p` is a position of this partitioner (guards input from callers and JSON). */
  isPosition(p: unknown): p is Position;
  /** Positions as text for JSON/config stores and the control API; `parse(format(p))` equals `p`. */
  format(p: Position): string;
  /** Reads a position back from text; throws a ConfigError (HS_ERR_CONFIG) naming what is wrong. */
  parse(text: string): Position;
  /** N-1 increasing split points, all above `min`, that cut the keyspace into N initial ranges. */
  initialSplits(n: number): Position[];
  /**
   * A position strictly between `start` and `end` (null = end of keyspace), near the middle,
   * for "split this range" without an explicit point; null when none lies strictly between.
   */
  midpoint(start: Position, end: Position | null): Position | null;
}

const HASH_SPACE = 2 ** 32;
/** Most initial ranges a partitioner cuts; four times Redis Cluster's 16384 slots. Splits can go further. */
export const MAX_INITIAL_SHARDS = 65536;

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_INITIAL_SHARDS) {
    throw new ConfigError(`shard count must be an integer in [1, ${MAX_INITIAL_SHARDS}], got ${n}`);
  }
}

class HashPartitioner implements Partitioner {
  readonly kind = PartitionerKind.Hash;
  readonly min: Position = 0;
  // Reused by every position() call so the hot path allocates nothing; safe because
  // position() is synchronous and each worker thread has its own module instance.
  readonly #span = { start: 0, end: 0 };

  position(key: Buffer): number {
    const span = hashedSpan(key, this.#span);
    return murmur3(key, HASH_SEED, span.start, span.end);
  }
  compare(a: Position, b: Position): number {
    return (a as number) - (b as number);
  }
  isPosition(p: unknown): p is number {
    return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p < HASH_SPACE;
  }
  format(p: Position): string {
    return String(p);
  }
  parse(text: string): number {
    const p = /^(0|[1-9][0-9]{0,9}|0x[0-9a-fA-F]{1,8})$/.test(text) ? Number(text) : NaN;
    if (!this.isPosition(p)) {
      throw new ConfigError(
        `hash position ${JSON.stringify(text)} is not an integer in [0, ${HASH_SPACE - 1}] (decimal or 0x hex)`,
      );
    }
    return p;
  }
  initialSplits(n: number): number[] {
    checkCount(n);
    const splits: number[] = [];
    for (let i = 1; i < n; i++) splits.push(Math.floor((i * HASH_SPACE) / n));
    return splits;
  }
  midpoint(start: Position, end: Position | null): number | null {
    const s = start as number;
    const e = end === null ? HASH_SPACE : (end as number);
    const mid = s + Math.floor((e - s) / 2);
    return mid > s && mid < e ? mid : null;
  }
}

const BACKSLASH = 0x5c;
const EMPTY = Buffer.alloc(0);

class RangePartitioner implements Partitioner {
  readonly kind = PartitionerKind.Range;
  readonly min: Position = EMPTY;

  position(key: Buffer): Buffer {
    return key;
  }
  /** Byte order, as Buffer.compare; a JS loop for short keys, where the native call costs more than the scan. */
  compare(a: Position, b: Position): number {
    const x = a as Buffer;
    const y = b as Buffer;
    const n = Math.min(x.length, y.length);
    if (n > 64) return Buffer.compare(x, y);
    for (let i = 0; i < n; i++) {
      const d = x[i]! - y[i]!;
      if (d !== 0) return d;
    }
    return x.length - y.length;
  }
  isPosition(p: unknown): p is Buffer {
    return Buffer.isBuffer(p);
  }
  /** Printable ASCII as is, `\` as `\\`, every other byte as `\xNN` — like redis-cli shows keys. */
  format(p: Position): string {
    let out = '';
    for (const byte of p as Buffer) {
      if (byte === BACKSLASH) out += '\\\\';
      else if (byte >= 0x20 && byte <= 0x7e) out += String.fromCharCode(byte);
      else out += '\\x' + byte.toString(16).padStart(2, '0');
    }
    return out;
  }
  /** The inverse of format; characters outside ASCII are taken as their UTF-8 bytes. */
  parse(text: string): Buffer {
    const bytes: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch !== BACKSLASH) {
        if (ch < 0x80) bytes.push(ch);
        else {
          const cp = text.codePointAt(i)!;
          if (cp > 0xffff) i++;
          bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
        }
      } else if (text[i + 1] === '\\') {
        bytes.push(BACKSLASH);
        i++;
      } else if (text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
        bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
        i += 3;
      } else {
        throw new ConfigError(
          `range position ${JSON.stringify(text)} has a bad escape at offset ${i}; use \\\\ or \\xNN`,
        );
      }
    }
    return Buffer.from(bytes);
  }
  /**
   * Even over the first byte (n ≤ 256), or over as many leading bytes as it takes for n
   * distinct points; trailing zero bytes are dropped so splits read well ("@" not "@\x00").
   */
  initialSplits(n: number): Buffer[] {
    checkCount(n);
    let width = 1;
    while (256 ** width < n) width++;
    const space = BigInt(256) ** BigInt(width);
    const splits: Buffer[] = [];
    for (let i = 1; i < n; i++) {
      const point = bigToBytes((BigInt(i) * space) / BigInt(n), width);
      splits.push(trimZeros(point));
    }
    return splits;
  }
  /**
   * Reads both bounds as base-256 fractions one byte longer than the longer bound and takes
   * their mean, so "user:1000".."user:2000" splits near "user:15". When that is not strictly
   * between (bounds equal up to trailing zeros), falls back to start + "\x00", the
   * immediate successor of start; null only when end is exactly that successor.
   */
  midpoint(start: Position, end: Position | null): Buffer | null {
    const s = start as Buffer;
    const e = end as Buffer | null;
    const width = Math.max(s.length, e?.length ?? 0) + 1;
    const lo = bytesToBig(s, width);
    const hi = e === null ? BigInt(256) ** BigInt(width) : bytesToBig(e, width);
    const mid = bigToBytes((lo + hi) / 2n, width);
    for (const candidate of [trimZeros(mid), mid, Buffer.concat([s, Buffer.of(0)])]) {
      if (Buffer.compare(s, candidate) < 0 && (e === null || Buffer.compare(candidate, e) < 0))
        return candidate;
    }
    return null;
  }
}

function bytesToBig(b: Buffer, width: number): bigint {
  const padded = Buffer.alloc(width);
  b.copy(padded);
  return BigInt('0x' + padded.toString('hex'));
}

function bigToBytes(v: bigint, width: number): Buffer {
  return Buffer.from(v.toString(16).padStart(width * 2, '0'), 'hex');
}

function trimZeros(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.subarray(0, end);
}

const HASH = new HashPartitioner();
const RANGE = new RangePartitioner();

/**
 * The `hash` partitioner: MurmurHash3 x86_32 (seed 0) of the key or its hash tag.
 *
 * @example
 * hashPartitioner().position(Buffer.from('{user1000}.followers')) // same as for '{user1000}.following'
 */
export function hashPartitioner(): Partitioner {
  return HASH;
}

/**
 * The `range` partitioner: the key bytes in byte order.
 *
 * @example
 * rangePartitioner().initialSplits(4).map((p) => rangePartitioner().format(p)) // ['@', '\\x80', '\\xc0']
 */
export function rangePartitioner(): Partitioner {
  return RANGE;
}

/** The partitioner of a kind named in config or JSON; throws HS_ERR_CONFIG naming the accepted kinds. */
export function partitionerFor(kind: string): Partitioner {
  if (kind === PartitionerKind.Hash) return HASH;
  if (kind === PartitionerKind.Range) return RANGE;
  throw new ConfigError(
    `partitioner must be one of ${Object.values(PartitionerKind).join(', ')}, got ${JSON.stringify(kind)}`,
  );
}
