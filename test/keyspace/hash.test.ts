import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HASH_SEED, murmur3 } from '../../src/keyspace/hash.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { nodeId } from '../../src/keyspace/ids.js';

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

// Reference vectors of MurmurHash3_x86_32 (SMHasher's reference implementation, as
// collected in the Wikipedia article and widely used test suites).
const VECTORS: Array<[string, number, number]> = [
  ['', 0, 0],
  ['', 1, 0x514e28b7],
  ['', 0xffffffff, 0x81f16f39],
  ['\0\0\0\0', 0, 0x2362f9de],
  ['\0\0\0', 0, 0x85f0b427],
  ['\0\0', 0, 0x30f4c306],
  ['\0', 0, 0x514e28b7],
  ['\xff\xff\xff\xff', 0, 0x76293b50],
  ['\x21\x43\x65\x87', 0, 0xf55b516b],
  ['\x21\x43\x65', 0, 0x7e4a8634],
  ['\x21\x43', 0, 0xa0f7b07a],
  ['\x21', 0, 0x72661cf4],
  ['abc', 0, 0xb3dd93fa],
  ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ['a', 0x9747b28c, 0x7fa09ea6],
  ['ab', 0x9747b28c, 0x74875592],
  ['abc', 0x9747b28c, 0xc84a62dd],
  ['abcd', 0x9747b28c, 0xf0478627],
  ['aaaa', 0x9747b28c, 0x5a97808a],
  ['Hello, world!', 0x9747b28c, 0x24884cba],
  ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
];

describe('hash', () => {
  it.each(VECTORS)('hash - murmur3 of %j with seed %i matches the reference', (input, seed, expected) => {
    expect(murmur3(bytes(input), seed)).toBe(expected);
  });

  it('hash - the fixed seed is 0, so positions match any standard murmur3', () => {
    expect(HASH_SEED).toBe(0);
    expect(murmur3(bytes('abc'))).toBe(0xb3dd93fa);
  });

  it('hash - hashing a sub-range equals hashing a copy of those bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.nat(), (data, a, b) => {
        const buf = Buffer.from(data);
        const start = buf.length === 0 ? 0 : a % (buf.length + 1);
        const end = start + (b % (buf.length - start + 1));
        expect(murmur3(buf, 0, start, end)).toBe(murmur3(Buffer.from(buf.subarray(start, end))));
      }),
      { numRuns: 300 },
    );
  });

  it('hash - results are unsigned 32-bit integers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 0xffffffff }), (data, seed) => {
        const h = murmur3(data, seed);
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it.each([4, 16])('hash - 100k sequential keys spread evenly over %i shards', (shards) => {
    const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: [nodeId('n0')], shards });
    const counts = new Map<string, number>();
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const id = table.shardFor(Buffer.from(`key:${i}`)).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.size).toBe(shards);
    const mean = n / shards;
    // Binomial standard deviation is ~1.3% of the mean at 16 shards; 4% is a wide margin.
    for (const c of counts.values()) expect(Math.abs(c - mean) / mean).toBeLessThan(0.04);
  });
});
