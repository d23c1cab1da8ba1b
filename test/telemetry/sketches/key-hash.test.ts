import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { murmur3 } from '../../../src/keyspace/hash.js';
import { SKETCH_SEED, keyHash, remix } from '../../../src/telemetry/sketches/key-hash.js';

describe('sketch key hash', () => {
  it('key hash - is murmur3 with the sketch seed, as a signed int32', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const h = keyHash(bytes);
        expect(h | 0).toBe(h);
        expect(h >>> 0).toBe(murmur3(bytes, SKETCH_SEED));
      }),
      { numRuns: 500 },
    );
    expect(keyHash(Buffer.from('abc')) >>> 0).not.toBe(murmur3(Buffer.from('abc'))); // not the position hash
  });

  it('key hash - remix is a bijection on a sample (no two hashes collide after remixing)', () => {
    const seen = new Set<number>();
    for (let h = -50_000; h < 50_000; h++) seen.add(remix(h * 40_503));
    expect(seen.size).toBe(100_000);
  });
});
