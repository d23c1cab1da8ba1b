/**
 * The 32-bit key hash behind the `hash` partitioner.
 *
 * MurmurHash3 x86_32 (Austin Appleby, public domain; reference:
 * https://github.com/aappleby/smhasher/blob/master/src/MurmurHash3.cpp), hand-written over
 * the bytes with `Math.imul` so it stays in 32-bit integer arithmetic and allocates nothing.
 * Why this hash: it is fast on short keys (one multiply-rotate round per 4 bytes), it
 * avalanches well, so sequential ids (`user:1`, `user:2`, ...) spread evenly over ranges of
 * the 2^32 space, and it is the most widely implemented 32-bit hash, so another router or
 * an operator's script in any language (Python `mmh3.hash(key, 0, signed=False)`, Guava
 * `murmur3_32_fixed(0)`) can compute the same positions. It is not a keyed / DoS-resistant
 * hash; a client that wants to aim all its keys at one shard can, but it can do that with
 * a hash tag anyway and the hot-spot machinery handles it.
 *
 * The seed is fixed at 0: positions are persisted in routing tables, so the hash of a key
 * must never change between versions or processes.
 */

/** Seed of every position hash. Changing it would move every key of every stored table. */
export const HASH_SEED = 0;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * MurmurHash3 x86_32 of `data[start, end)`, as an unsigned 32-bit integer.
 *
 * @example
 * murmur3(Buffer.from('abc')) // 0xb3dd93fa
 * murmur3(Buffer.from('{user1000}.following'), 0, 1, 9) // hash of "user1000"
 */
export function murmur3(data: Uint8Array, seed = HASH_SEED, start = 0, end = data.length): number {
  let h = seed | 0;
  const len = end - start;
  const blocksEnd = start + (len & ~3);
  let i = start;
  for (; i < blocksEnd; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  // Tail: the last 1-3 bytes, little-endian, mixed in without the h rotate.
  const rem = len & 3;
  if (rem !== 0) {
    let k = data[i]!;
    if (rem >= 2) k ^= data[i + 1]! << 8;
    if (rem === 3) k ^= data[i + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  // Finalization: force all bits of the hash to avalanche.
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
