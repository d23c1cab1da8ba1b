import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { murmur3 } from '../../src/keyspace/hash.js';
import { hashPartitioner, partitionerFor, rangePartitioner } from '../../src/keyspace/partitioner.js';
import { runPartitionerCases } from './partitioner.case.js';

const hash = hashPartitioner();
const range = rangePartitioner();
/** Byte strings over a few values that sit on or next to the boundaries splits produce. */
const keyBytes = fc
  .array(fc.constantFrom(0x00, 0x01, 0x40, 0x5c, 0x61, 0x7f, 0x80, 0xc0, 0xff), { maxLength: 6 })
  .map((a) => Buffer.from(a));

describe('hash partitioner', () => {
  runPartitionerCases(hash, fc.integer({ min: 0, max: 0xffffffff }), [
    '',
    '-1',
    '4294967296',
    '1.5',
    ' 1',
    '01',
    'abc',
    '0x',
    '0x100000000',
  ]);

  it('hash partitioner - position is murmur3 of the whole key when there is no tag', () => {
    expect(hash.position(Buffer.from('user:42'))).toBe(murmur3(Buffer.from('user:42')));
  });

  it('hash partitioner - initial splits are even over 2^32', () => {
    expect(hash.initialSplits(4)).toEqual([2 ** 30, 2 ** 31, 3 * 2 ** 30]);
    expect(hash.initialSplits(1)).toEqual([]);
    expect(hash.initialSplits(3)).toEqual([1431655765, 2863311530]);
  });

  it('hash partitioner - text is decimal; 0x hex is accepted on input', () => {
    expect(hash.format(4294967295)).toBe('4294967295');
    expect(hash.parse('4294967295')).toBe(4294967295);
    expect(hash.parse('0x40000000')).toBe(2 ** 30);
    expect(hash.parse('0')).toBe(0);
  });

  it('hash partitioner - midpoint halves the range and is null for a single position', () => {
    expect(hash.midpoint(0, null)).toBe(2 ** 31);
    expect(hash.midpoint(2 ** 31, null)).toBe(3 * 2 ** 30);
    expect(hash.midpoint(10, 20)).toBe(15);
    expect(hash.midpoint(10, 12)).toBe(11);
    expect(hash.midpoint(10, 11)).toBeNull();
    expect(hash.midpoint(0xffffffff, null)).toBeNull();
  });

  it('hash partitioner - rejects non-positions', () => {
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN, '1', Buffer.from('a')])
      expect(hash.isPosition(bad)).toBe(false);
  });
});

describe('range partitioner', () => {
  runPartitionerCases(
    range,
    fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
    ['\\', 'a\\q', '\\x', '\\x1', '\\xzz'],
  );

  it('range partitioner - midpoint property holds on boundary-heavy byte strings', () => {
    fc.assert(
      fc.property(keyBytes, fc.option(keyBytes), (a, b) => {
        if (b !== null && Buffer.compare(a, b) >= 0) return;
        const m = range.midpoint(a, b);
        const successor = Buffer.concat([a, Buffer.of(0)]);
        // Null exactly when end is the immediate successor of start.
        expect(m === null).toBe(b !== null && b.equals(successor));
        if (m === null) return;
        expect(Buffer.compare(a, m as Buffer)).toBeLessThan(0);
        if (b !== null) expect(Buffer.compare(m as Buffer, b)).toBeLessThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it('range partitioner - position is the key itself, in byte order', () => {
    const key = Buffer.from('ts:2024-01-01');
    expect(range.position(key)).toBe(key);
    expect(range.compare(Buffer.from('a'), Buffer.from('ab'))).toBeLessThan(0);
    expect(range.compare(Buffer.from([0xff]), Buffer.from('z'))).toBeGreaterThan(0);
  });

  it('range partitioner - compare agrees with Buffer.compare for short and long keys', () => {
    const long = fc.tuple(fc.uint8Array({ maxLength: 90 }), keyBytes, keyBytes);
    fc.assert(
      fc.property(long, ([prefix, x, y]) => {
        const a = Buffer.concat([prefix, x]);
        const b = Buffer.concat([prefix, y]);
        expect(Math.sign(range.compare(a, b))).toBe(Buffer.compare(a, b));
      }),
      { numRuns: 300 },
    );
  });

  it('range partitioner - text shows printable ASCII as is and escapes the rest', () => {
    expect(range.format(Buffer.from('user:1000'))).toBe('user:1000');
    expect(range.format(Buffer.from([0x61, 0x5c, 0x00, 0xff, 0x0a]))).toBe('a\\\\\\x00\\xff\\x0a');
    expect(range.parse('a\\\\\\x00\\xFF\\x0a')).toEqual(Buffer.from([0x61, 0x5c, 0x00, 0xff, 0x0a]));
    expect(range.parse('é')).toEqual(Buffer.from('é', 'utf8'));
    expect(range.format(Buffer.alloc(0))).toBe('');
  });

  it('range partitioner - initial splits are even over the first byte, then over two', () => {
    expect(range.initialSplits(4).map((p) => range.format(p))).toEqual(['@', '\\x80', '\\xc0']);
    expect(range.initialSplits(2)).toEqual([Buffer.from([0x80])]);
    const wide = range.initialSplits(512);
    expect(wide[0]).toEqual(Buffer.from([0x00, 0x80]));
    expect(wide[1]).toEqual(Buffer.from([0x01]));
  });

  it('range partitioner - midpoint splits text keys near their middle', () => {
    expect(range.midpoint(Buffer.alloc(0), null)).toEqual(Buffer.from([0x80]));
    const m = range.midpoint(Buffer.from('user:1000'), Buffer.from('user:2000')) as Buffer;
    expect(m.subarray(0, 5).toString()).toBe('user:');
    expect(m[5]).toBe(0x31);
    expect(range.midpoint(Buffer.from('a'), Buffer.from('a\0'))).toBeNull();
    expect(range.midpoint(Buffer.from('a'), Buffer.from('a\0\0'))).toEqual(Buffer.from('a\0'));
  });
});

describe('partitioner', () => {
  it('partitioner - kinds are looked up by name; unknown names list the accepted ones', () => {
    expect(partitionerFor('hash')).toBe(hash);
    expect(partitionerFor('range')).toBe(range);
    expect(() => partitionerFor('consistent')).toThrow(/one of hash, range, got "consistent"/);
    expect(() => partitionerFor('consistent')).toThrow(expect.objectContaining({ code: ErrorCode.Config }));
  });
});
