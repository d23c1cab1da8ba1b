/**
 * mulberry32 (Tommy Ettinger, public domain): a small seeded generator of
 * uniform numbers in [0, 1), for tests and fixtures that must draw the same
 * sequence on every run. Seeded tests and checked-in fixtures depend on this
 * exact sequence, so it is not src/load/random.ts's xoshiro, which draws another.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
