/**
 * Seeded randomness for the load generator: every key, op and value size a run
 * draws comes from one of these, so a seed reproduces a workload exactly.
 *
 * xoshiro128** (Blackman & Vigna, https://prng.di.unimi.it/) on 32-bit
 * integers: four words of state, a handful of Math.imul/shift operations per
 * draw, and statistically far better than Math.random needs to be for a
 * workload — without BigInt, which would cost more than the draw itself.
 * The state is expanded from the seed with splitmix32, as the authors advise,
 * so that close seeds (1, 2, 3) give unrelated streams.
 */

/** A seeded source of random numbers. */
export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number;
  /** A uniform integer in [0, n), without modulo bias; `n` ≤ 2^32. */
  nextInt(n: number): number;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** splitmix32: a 32-bit mixer with a Weyl sequence; used to seed and to derive substreams. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** xoshiro128**: the generator behind every seeded draw. */
export class Xoshiro128 implements Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** `seed` is any number (its integer part and up to 53 bits are used); equal seeds give equal streams. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
    const int = Math.trunc(seed);
    const state = { s: (int % TWO_POW_32) ^ Math.floor(int / TWO_POW_32) };
    this.#a = splitmix32(state);
    this.#b = splitmix32(state);
    this.#c = splitmix32(state);
    this.#d = splitmix32(state);
    // An all-zero state would only ever yield zeros; splitmix32 cannot produce it, but be sure.
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
  }

  nextU32(): number {
    const b = this.#b;
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9);
    const t = b << 9;
    this.#c ^= this.#a;
    this.#d ^= b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return result >>> 0;
  }

  nextFloat(): number {
    // 27 + 26 bits, as in Java's SplittableRandom.nextDouble.
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  nextInt(n: number): number {
    if (n <= 1) return 0;
    if (n <= TWO_POW_32) {
      // Lemire-style rejection on the 32-bit draw: exact for any n.
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return x % n;
      }
    }
    return Math.floor(this.nextFloat() * n);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A generator seeded from `seed` and a label, independent of the streams for
 * other labels: one per tenant or purpose, so adding a tenant does not change
 * the keys another tenant draws.
 *
 * @example
 * const rng = createRng(42);
 * const keys = createRng(42, 'tenant:a');
 */
export function createRng(seed: number, label = ''): Rng {
  if (label === '') return new Xoshiro128(seed);
  let h = 0x811c9dc5; // FNV-1a over the label, mixed into the seed
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return new Xoshiro128(Math.trunc(seed) * 4099 + (h >>> 0));
}
