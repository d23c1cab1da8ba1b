/**
 * The one key hash every sketch shares: MurmurHash3 x86_32 of the key bytes
 * under a seed of its own, plus a second 32-bit value derived from it.
 *
 * Why not the position hash (seed 0): under a hot range on the `hash`
 * partitioner, the busy keys share the high bits of their position, and a
 * HyperLogLog indexed by those bits would see a fraction of its registers.
 * A different seed makes the sketch hash independent of placement.
 *
 * Why a copy of keyspace/hash.ts's murmur3 rather than a call: that one
 * returns an unsigned value, and a uint32 ≥ 2^31 crossing a call boundary V8
 * did not inline is boxed as a heap number — an allocation per request. This
 * one returns the same bits as a signed int32 (`keyHash(k) >>> 0 ===
 * murmur3(k, SKETCH_SEED)`, checked by a test), which stays unboxed; every
 * sketch uses hashes only through bit operations, so the sign is immaterial.
 *
 * `h2` is a bijective remix of `h1` (the murmur3 finalizer over `h1` xor a
 * constant): Count-Min rows use `h1 + i·h2` (Kirsch–Mitzenmacher double
 * hashing), HyperLogLog takes its register from `h2` and its rank from `h1`.
 * Two keys that collide on all 32 bits of `h1` share every cell; with 10^6
 * keys that is ~10^2 pairs among ~5·10^11, far below the sketches' own error.
 */

/** Seed of the sketch hash. Part of the binary format: changing it breaks merges. */
export const SKETCH_SEED = 0x9747b28c;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The sketch hash of `key`: MurmurHash3 x86_32 with SKETCH_SEED, as a signed int32. */
export function keyHash(key: Uint8Array): number {
  let h = SKETCH_SEED | 0;
  const len = key.length;
  const blocksEnd = len & ~3;
  let i = 0;
  for (; i < blocksEnd; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rem = len & 3;
  if (rem !== 0) {
    let k = key[i]!;
    if (rem >= 2) k ^= key[i + 1]! << 8;
    if (rem === 3) k ^= key[i + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** The second hash derived from `h1`, as a signed int32. */
export function remix(h1: number): number {
  let h = (h1 ^ 0x9e3779b9) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
