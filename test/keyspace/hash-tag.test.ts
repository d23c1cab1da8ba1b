import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashTag, hashedSpan } from '../../src/keyspace/hash-tag.js';
import { murmur3 } from '../../src/keyspace/hash.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';

const tagOf = (key: string): string | null => hashTag(Buffer.from(key, 'latin1'))?.toString('latin1') ?? null;

/** The spec's rule written the obvious way, on strings, as the oracle. */
function referenceHashed(key: string): string {
  const s = key.indexOf('{');
  if (s === -1) return key;
  const e = key.indexOf('}', s + 1);
  if (e === -1 || e === s + 1) return key;
  return key.slice(s + 1, e);
}

describe('hash tag', () => {
  // Cases from the Redis Cluster specification, "Hash tags".
  it.each([
    ['{user1000}.following', 'user1000'],
    ['{user1000}.followers', 'user1000'],
    ['foo{}{bar}', null],
    ['foo{{bar}}zap', '{bar'],
    ['foo{bar}{zap}', 'bar'],
  ])('hash tag - %s hashes %j (Redis Cluster spec)', (key, expected) => {
    expect(tagOf(key)).toBe(expected);
  });

  it.each([
    ['plain', null],
    ['', null],
    ['{', null],
    ['}', null],
    ['{}', null],
    ['no{close', null],
    ['}x{y}', 'y'],
    ['{a}', 'a'],
    ['x{}}', null],
    ['{{}', '{'],
    ['a{b}c}d', 'b'],
  ])('hash tag - %j hashes %j', (key, expected) => {
    expect(tagOf(key)).toBe(expected);
  });

  it('hash tag - span offsets point into the key without copying', () => {
    const span = { start: -1, end: -1 };
    const key = Buffer.from('{user1000}.following');
    expect(hashedSpan(key, span)).toBe(span);
    expect(span).toEqual({ start: 1, end: 9 });
    expect(hashedSpan(Buffer.from('foo{}{bar}'), span)).toEqual({ start: 0, end: 10 });
    const tag = hashTag(key)!;
    expect(tag.buffer).toBe(key.buffer);
  });

  it('hash tag - keys sharing a tag share a hash position; the position is the hash of the tag', () => {
    const p = hashPartitioner();
    const a = p.position(Buffer.from('{user1000}.following'));
    expect(p.position(Buffer.from('{user1000}.followers'))).toBe(a);
    expect(a).toBe(murmur3(Buffer.from('user1000')));
    expect(p.position(Buffer.from('foo{}{bar}'))).toBe(murmur3(Buffer.from('foo{}{bar}')));
    expect(p.position(Buffer.from('foo{{bar}}zap'))).toBe(murmur3(Buffer.from('{bar')));
  });

  it('hash tag - binary keys: only the bytes 0x7b and 0x7d delimit a tag', () => {
    const key = Buffer.from([0x00, 0x7b, 0xff, 0x00, 0x7d, 0xfe]);
    expect(hashTag(key)).toEqual(Buffer.from([0xff, 0x00]));
  });

  it('hash tag - agrees with the spec rule on random keys', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', 'a', 'b'), maxLength: 12 }), (key) => {
        const buf = Buffer.from(key, 'latin1');
        const span = hashedSpan(buf, { start: 0, end: 0 });
        expect(buf.subarray(span.start, span.end).toString('latin1')).toBe(referenceHashed(key));
      }),
      { numRuns: 500 },
    );
  });
});
