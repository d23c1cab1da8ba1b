/**
 * Redis's HyperLogLog, read side: decodes the dense and sparse encodings of
 * the strings PFADD writes (a port of hyperloglog.c's register layout and
 * opcodes) and counts a union with Redis's estimator (Ertl's improved
 * estimator, as hllCount since Redis 5), so PFCOUNT over keys on several
 * shards answers what one Redis holding them all would.
 */

const P = 14;
const REGISTERS = 1 << P;
const Q = 64 - P;
const BITS = 6;
const HEADER = 16;
const DENSE_SIZE = HEADER + Math.floor((REGISTERS * BITS + 7) / 8);
const ALPHA_INF = 0.7213475204444817; // 0.5 / ln 2, Redis's HLL_ALPHA_INF

/** Why a string could not be read as an HLL; the reply Redis gives for each. */
export type HllProblem = 'wrongtype' | 'corrupt';

/**
 * Merges the registers of the HLL string `hll` into `registers` (max per
 * register); returns the problem instead when it is not a valid HLL, as
 * Redis's isHLLObjectOrReply and hllMerge judge it.
 */
export function mergeHll(registers: Uint8Array, hll: Buffer): HllProblem | undefined {
  if (hll.length < HEADER || hll.toString('latin1', 0, 4) !== 'HYLL') return 'wrongtype';
  const encoding = hll[4]!;
  if (encoding === 0) {
    if (hll.length !== DENSE_SIZE) return 'wrongtype';
    for (let i = 0; i < REGISTERS; i++) {
      const bit = i * BITS;
      const byte = HEADER + (bit >> 3);
      const fb = bit & 7;
      const b1 = byte + 1 < hll.length ? hll[byte + 1]! : 0;
      const v = ((hll[byte]! >> fb) | (b1 << (8 - fb))) & 63;
      if (v > registers[i]!) registers[i] = v;
    }
    return undefined;
  }
  if (encoding !== 1) return 'wrongtype';
  let i = 0;
  for (let p = HEADER; p < hll.length;) {
    const op = hll[p]!;
    if ((op & 0xc0) === 0) {
      i += (op & 0x3f) + 1; // ZERO
      p += 1;
    } else if ((op & 0xc0) === 0x40) {
      if (p + 1 >= hll.length) return 'corrupt';
      i += (((op & 0x3f) << 8) | hll[p + 1]!) + 1; // XZERO
      p += 2;
    } else {
      const run = (op & 0x3) + 1; // VAL
      const v = ((op >> 2) & 0x1f) + 1;
      if (i + run > REGISTERS) return 'corrupt';
      for (let r = 0; r < run; r++, i++) if (v > registers[i]!) registers[i] = v;
      p += 1;
    }
    if (i > REGISTERS) return 'corrupt';
  }
  return i === REGISTERS ? undefined : 'corrupt';
}

/** Fresh registers for mergeHll. */
export function emptyRegisters(): Uint8Array {
  return new Uint8Array(REGISTERS);
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let zPrime: number;
  do {
    x *= x;
    zPrime = z;
    z += x * y;
    y += y;
  } while (zPrime !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let zPrime: number;
  do {
    x = Math.sqrt(x);
    zPrime = z;
    y *= 0.5;
    z -= Math.pow(1 - x, 2) * y;
  } while (zPrime !== z);
  return z / 3;
}

/** The cardinality estimate of `registers`, as Redis's hllCount. */
export function countRegisters(registers: Uint8Array): number {
  const histo = new Array<number>(64).fill(0);
  for (let i = 0; i < REGISTERS; i++) histo[registers[i]!]!++;
  const m = REGISTERS;
  let z = m * tau((m - histo[Q + 1]!) / m);
  for (let j = Q; j >= 1; --j) {
    z += histo[j]!;
    z *= 0.5;
  }
  z += m * sigma(histo[0]! / m);
  return Math.round((ALPHA_INF * m * m) / z);
}
