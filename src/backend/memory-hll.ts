/**
 * PFADD, PFCOUNT and PFMERGE on an embedded node, after Redis 7.0's
 * hyperloglog.c. A HyperLogLog is a string holding Redis's own bytes — the
 * "HYLL" header with its cached cardinality, the sparse opcodes (ZERO, XZERO,
 * VAL) until they pass 3000 bytes or a register passes 32, then 16384 dense
 * 6-bit registers — built the way Redis builds it, so GET returns what Redis
 * would, a dump moves it as any string, and the router's PFCOUNT across
 * shards (gather.ts) reads it as it reads a Redis node's.
 */
import { ReplyError, OK, type Reply } from '../protocol/reply.js';
import { countRegisters, emptyRegisters, mergeHll } from './hll.js';
import { keyOf, TOO_BIG, WRONGTYPE, type Args, type Spec } from './memory-args.js';
import type { Keyspace } from './memory-keyspace.js';

const P = 14;
const REGISTERS = 1 << P;
const Q = 64 - P;
const HEADER = 16;
const DENSE_SIZE = HEADER + (REGISTERS * 6) / 8;
const SPARSE = 1;
const DENSE = 0;
/** hll-sparse-max-bytes: past this a sparse HLL turns dense. */
const SPARSE_MAX_BYTES = 3000;
const SPARSE_VAL_MAX_VALUE = 32;
const SPARSE_VAL_MAX_LEN = 4;
const SPARSE_ZERO_MAX_LEN = 64;
const SPARSE_XZERO_MAX_LEN = 16384;

const NOT_HLL = new ReplyError('WRONGTYPE Key is not a valid HyperLogLog string value.');
const CORRUPT = new ReplyError('INVALIDOBJ Corrupted HLL object detected');

const M = 0xc6a4a7935bd1e995n;
const MASK64 = (1n << 64n) - 1n;

/** Redis's MurmurHash64A (seed 0xadc83b19), little-endian reads as on x86 and ARM. */
export function murmurHash64A(key: Buffer, seed = 0xadc83b19n): bigint {
  const len = key.length;
  let h = (seed ^ ((BigInt(len) * M) & MASK64)) & MASK64;
  const whole = len - (len & 7);
  for (let i = 0; i < whole; i += 8) {
    let k = key.readBigUInt64LE(i);
    k = (k * M) & MASK64;
    k ^= k >> 47n;
    k = (k * M) & MASK64;
    h ^= k;
    h = (h * M) & MASK64;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) h ^= BigInt(key[whole + j]!) << BigInt(8 * j);
    h = (h * M) & MASK64;
  }
  h ^= h >> 47n;
  h = (h * M) & MASK64;
  h ^= h >> 47n;
  return h;
}

/** hllPatLen: the register an element lands in and the run of zeros (+1) it brings. */
export function patLen(ele: Buffer): { index: number; count: number } {
  let hash = murmurHash64A(ele);
  const index = Number(hash & BigInt(REGISTERS - 1));
  hash >>= BigInt(P);
  hash |= 1n << BigInt(Q);
  let count = 1;
  while ((hash & 1n) === 0n) {
    count++;
    hash >>= 1n;
  }
  return { index, count };
}

/** A new, empty HLL as createHLLObject makes it: sparse, one XZERO over every register. */
function createHll(): Buffer {
  const b = Buffer.alloc(HEADER + 2);
  b.write('HYLL', 0, 'latin1');
  b[4] = SPARSE;
  b[HEADER] = 0x40 | ((SPARSE_XZERO_MAX_LEN - 1) >> 8);
  b[HEADER + 1] = (SPARSE_XZERO_MAX_LEN - 1) & 0xff;
  return b;
}

/** Whether a string is a HyperLogLog (isHLLObjectOrReply). */
function isHll(v: Buffer): boolean {
  if (v.length < HEADER || v.toString('latin1', 0, 4) !== 'HYLL') return false;
  if (v[4]! > SPARSE) return false;
  return v[4] !== DENSE || v.length === DENSE_SIZE;
}

const invalidateCache = (v: Buffer): void => {
  v[15] = v[15]! | 0x80;
};

function denseGet(v: Buffer, reg: number): number {
  const bit = reg * 6;
  const byte = HEADER + (bit >> 3);
  const fb = bit & 7;
  const b1 = byte + 1 < v.length ? v[byte + 1]! : 0;
  return ((v[byte]! >> fb) | (b1 << (8 - fb))) & 63;
}

/** hllDenseSet: raises the register; true when it changed. */
function denseSet(v: Buffer, reg: number, count: number): boolean {
  if (denseGet(v, reg) >= count) return false;
  const bit = reg * 6;
  const byte = HEADER + (bit >> 3);
  const fb = bit & 7;
  v[byte] = (v[byte]! & ~(63 << fb)) | ((count << fb) & 0xff);
  if (byte + 1 < v.length) v[byte + 1] = (v[byte + 1]! & ~(63 >> (8 - fb))) | (count >> (8 - fb));
  return true;
}

/** hllSparseToDense: the same registers, dense; null when the opcodes do not cover exactly 16384 registers. */
function sparseToDense(v: Buffer): Buffer | null {
  const registers = emptyRegisters();
  if (mergeHll(registers, v) !== undefined) return null;
  const dense = Buffer.alloc(DENSE_SIZE);
  v.copy(dense, 0, 0, HEADER);
  dense[4] = DENSE;
  for (let i = 0; i < REGISTERS; i++) if (registers[i]! > 0) denseSet(dense, i, registers[i]!);
  return dense;
}

const isZero = (op: number): boolean => (op & 0xc0) === 0;
const isXzero = (op: number): boolean => (op & 0xc0) === 0x40;
const valValue = (op: number): number => ((op >> 2) & 0x1f) + 1;
const valLen = (op: number): number => (op & 0x3) + 1;
const valOp = (value: number, len: number): number => 0x80 | ((value - 1) << 2) | (len - 1);

/** ZERO or XZERO opcodes for a run of `len` zero registers. */
const zeros = (len: number): number[] =>
  len > SPARSE_ZERO_MAX_LEN ? [0x40 | ((len - 1) >> 8), (len - 1) & 0xff] : [len - 1];

/**
 * hllSparseSet: raises register `index` to `count` in a sparse HLL, splitting
 * the opcode that covers it and merging equal neighbours as Redis does.
 * Returns the new value (a dense one when it outgrew sparse), whether a
 * register changed, or null when the opcodes are corrupt.
 */
function sparseSet(v: Buffer, index: number, count: number): { v: Buffer; changed: boolean } | null {
  const promote = (): { v: Buffer; changed: boolean } | null => {
    const dense = sparseToDense(v);
    if (dense === null) return null;
    denseSet(dense, index, count);
    return { v: dense, changed: true };
  };
  if (count > SPARSE_VAL_MAX_VALUE) return promote();
  let p = HEADER;
  let prev = -1;
  let first = 0;
  let span = 0;
  while (p < v.length) {
    const op = v[p]!;
    let oplen = 1;
    if (isZero(op)) span = (op & 0x3f) + 1;
    else if (isXzero(op)) {
      if (p + 1 >= v.length) return null;
      span = (((op & 0x3f) << 8) | v[p + 1]!) + 1;
      oplen = 2;
    } else span = valLen(op);
    if (index <= first + span - 1) break;
    prev = p;
    p += oplen;
    first += span;
  }
  if (span === 0 || p >= v.length) return null;
  const op = v[p]!;
  const xzero = isXzero(op);
  const zero = isZero(op);
  const runlen = zero ? (op & 0x3f) + 1 : xzero ? span : valLen(op);
  let out = v;
  if (!zero && !xzero && valValue(op) >= count) return { v, changed: false };
  if ((!zero && !xzero && runlen === 1) || (zero && runlen === 1)) {
    out[p] = valOp(count, 1);
  } else {
    const last = first + span - 1;
    const seq: number[] = [];
    if (zero || xzero) {
      if (index !== first) seq.push(...zeros(index - first));
      seq.push(valOp(count, 1));
      if (index !== last) seq.push(...zeros(last - index));
    } else {
      const cur = valValue(op);
      if (index !== first) seq.push(valOp(cur, index - first));
      seq.push(valOp(count, 1));
      if (index !== last) seq.push(valOp(cur, last - index));
    }
    const oldlen = xzero ? 2 : 1;
    if (seq.length > oldlen && v.length + seq.length - oldlen > SPARSE_MAX_BYTES) return promote();
    out = Buffer.concat([v.subarray(0, p), Buffer.from(seq), v.subarray(p + oldlen)]);
  }
  // Merge adjacent VAL opcodes of one value, scanning up to 5 opcodes from the one before
  let q = prev === -1 ? HEADER : prev;
  let end = out.length;
  for (let scan = 5; q < end && scan-- > 0;) {
    const o = out[q]!;
    if (isXzero(o)) {
      q += 2;
      continue;
    }
    if (isZero(o)) {
      q++;
      continue;
    }
    if (
      q + 1 < end &&
      !isZero(out[q + 1]!) &&
      !isXzero(out[q + 1]!) &&
      valValue(o) === valValue(out[q + 1]!)
    ) {
      const len = valLen(o) + valLen(out[q + 1]!);
      if (len <= SPARSE_VAL_MAX_LEN) {
        out[q + 1] = valOp(valValue(o), len);
        out = Buffer.concat([out.subarray(0, q), out.subarray(q + 1)]);
        end--;
        continue;
      }
    }
    q++;
  }
  return { v: out, changed: true };
}

/** hllAdd: the value after (changed in place, or a new buffer) and whether a register rose; null when corrupt. */
function add(v: Buffer, ele: Buffer): { v: Buffer; changed: boolean } | null {
  const { index, count } = patLen(ele);
  if (v[4] === DENSE) return { v, changed: denseSet(v, index, count) };
  return sparseSet(v, index, count);
}

/** The HLL at `key`, null when absent, or the error PF* commands answer for anything else. */
function readHll(ks: Keyspace, key: string): Buffer | null | ReplyError {
  const v = ks.get(key);
  if (v === undefined) return null;
  if (!(v instanceof Buffer)) return WRONGTYPE;
  return isHll(v) ? v : NOT_HLL;
}

function pfadd(ks: Keyspace, a: Args): Reply {
  const key = keyOf(a, 1);
  const found = readHll(ks, key);
  if (found instanceof ReplyError) return found;
  // stored strings are never changed in place: a reply may still hold them
  let v = found === null ? createHll() : Buffer.from(found);
  let updated = found === null;
  for (let j = 2; j < a.length; j++) {
    const r = add(v, a[j]!);
    if (r === null) {
      // Redis changes the string in place, element by element: what the
      // elements before the bad spot changed stays, cache invalidated by each
      if (updated && found !== null) ks.set(key, v, true);
      return CORRUPT;
    }
    v = r.v;
    if (r.changed) {
      updated = true;
      if (v[4] === SPARSE) invalidateCache(v);
    }
  }
  if (!updated) return 0;
  invalidateCache(v);
  if (v.length > ks.maxValueBytes) return TOO_BIG;
  ks.set(key, v, true);
  return 1;
}

function pfcount(ks: Keyspace, a: Args): Reply {
  if (a.length > 2) {
    const registers = emptyRegisters();
    for (let j = 1; j < a.length; j++) {
      const v = readHll(ks, keyOf(a, j));
      if (v instanceof ReplyError) return v;
      if (v !== null && mergeHll(registers, v) !== undefined) return CORRUPT;
    }
    return countRegisters(registers);
  }
  const key = keyOf(a, 1);
  const v = readHll(ks, key);
  if (v instanceof ReplyError) return v;
  if (v === null) return 0;
  if ((v[15]! & 0x80) === 0) return Number(v.readBigUInt64LE(8));
  const registers = emptyRegisters();
  if (mergeHll(registers, v) !== undefined) return CORRUPT;
  const card = countRegisters(registers);
  // the count is cached in the header, so the string changes (as in Redis)
  const cached = Buffer.from(v);
  cached.writeBigUInt64LE(BigInt(card), 8);
  ks.set(key, cached, true);
  return card;
}

function pfmerge(ks: Keyspace, a: Args): Reply {
  const registers = emptyRegisters();
  let dense = false;
  for (let j = 1; j < a.length; j++) {
    const v = readHll(ks, keyOf(a, j));
    if (v instanceof ReplyError) return v;
    if (v === null) continue;
    if (v[4] === DENSE) dense = true;
    if (mergeHll(registers, v) !== undefined) return CORRUPT;
  }
  const key = keyOf(a, 1);
  const found = readHll(ks, key) as Buffer | null;
  let v = found === null ? createHll() : Buffer.from(found);
  if (dense && v[4] === SPARSE) {
    const d = sparseToDense(v);
    if (d === null) return CORRUPT;
    v = d;
  }
  for (let j = 0; j < REGISTERS; j++) {
    if (registers[j] === 0) continue;
    if (v[4] === DENSE) denseSet(v, j, registers[j]!);
    else {
      const r = sparseSet(v, j, registers[j]!);
      if (r === null) return CORRUPT;
      v = r.v;
    }
  }
  invalidateCache(v);
  ks.set(key, v, true);
  return OK;
}

export const hllCommands: Readonly<Record<string, Spec>> = {
  pfadd: { arity: -2, run: pfadd },
  pfcount: { arity: -2, run: pfcount },
  pfmerge: { arity: -2, run: pfmerge },
};
