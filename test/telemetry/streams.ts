/** Deterministic test streams: a seeded PRNG, Zipf ranks, and keys written without allocating. */

/** mulberry32: a small, fast, seeded PRNG returning [0, 1). */
export { mulberry32 as random } from '../seeded-random.js';

/**
 * Zipf(s) over ranks 0..n-1 (rank r has weight (r+1)^-s), sampled by inverse
 * CDF with a guide table: the table maps ⌊u·n⌋ to the first rank whose CDF
 * reaches u's cell, so a draw scans ~1 entry instead of a binary search.
 */
export function zipf(n: number, s: number, rand: () => number): { next: () => number; p: Float64Array } {
  const cdf = new Float64Array(n);
  const p = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    p[r] = Math.pow(r + 1, -s);
    sum += p[r]!;
    cdf[r] = sum;
  }
  for (let r = 0; r < n; r++) {
    p[r]! /= sum;
    cdf[r]! /= sum;
  }
  cdf[n - 1] = 1;
  const guide = new Int32Array(n);
  let r = 0;
  for (let g = 0; g < n; g++) {
    while (cdf[r]! < g / n) r++;
    guide[g] = r;
  }
  const next = (): number => {
    const u = rand();
    let i = guide[Math.floor(u * n)]!;
    while (cdf[i]! < u) i++;
    return i;
  };
  return { next, p };
}

/** Key text of a rank: "key:" and 7 digits. */
export const KEY_BYTES = 11;

/** Writes the key of `rank` into `out` (KEY_BYTES long) without allocating. */
export function writeKey(out: Buffer, rank: number): Buffer {
  out[0] = 0x6b;
  out[1] = 0x65;
  out[2] = 0x79;
  out[3] = 0x3a;
  for (let j = KEY_BYTES - 1; j >= 4; j--) {
    out[j] = 48 + (rank % 10);
    rank = Math.floor(rank / 10);
  }
  return out;
}

/** The key of `rank` as a new Buffer. */
export function keyOf(rank: number): Buffer {
  return writeKey(Buffer.alloc(KEY_BYTES), rank);
}

/** The rank a key was written from. */
export function rankOf(key: Buffer): number {
  return Number(key.toString('latin1', 4));
}
