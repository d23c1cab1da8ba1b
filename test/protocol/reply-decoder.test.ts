import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkScan, decodeReply, ReplyProtocolError, scanReply } from '../../src/protocol/reply-decoder.js';
import { DoubleReply, MapReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';

// A float Redis formatted with long double precision (INCRBYFLOAT f 1e300).
const BIG_FLOAT =
  '1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144';

const b = (s: string): Buffer => Buffer.from(s);
const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

/**
 * Replies exactly as redis-server 7.0.15 sent them, captured from a raw socket
 * (the command that produced each is its name), with the value decodeReply
 * should build. RESP3 ones were captured after HELLO 3 on the same connection.
 */
const FIXTURES: Array<[string, string, Reply]> = [
  ['SET k v', '+OK\r\n', new SimpleString('OK')],
  ['GET k', '$1\r\nv\r\n', b('v')],
  ['GET missing', '$-1\r\n', null],
  ['GET of an empty string', '$0\r\n\r\n', b('')],
  ['GET of a UTF-8 value', '$6\r\né€x\r\n', b('é€x')],
  ['INCRBY n -5', ':-4\r\n', -4],
  ['INCRBYFLOAT f 1e300', `$301\r\n${BIG_FLOAT}\r\n`, b(BIG_FLOAT)],
  [
    'HGETALL (RESP2)',
    '*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n',
    [b('f1'), b('v1'), b('f2'), b('v2')],
  ],
  ['ZSCORE (RESP2)', '$3\r\n1.5\r\n', b('1.5')],
  ['LPOP on a string', `-${WRONGTYPE}\r\n`, new ReplyError(WRONGTYPE)],
  [
    'an unknown command',
    "-ERR unknown command 'NOSUCH', with args beginning with: \r\n",
    new ReplyError("ERR unknown command 'NOSUCH', with args beginning with: "),
  ],
  ['MGET k missing k', '*3\r\n$1\r\nv\r\n$-1\r\n$1\r\nv\r\n', [b('v'), null, b('v')]],
  ['BLPOP timing out (RESP2)', '*-1\r\n', null],
  [
    'EXEC with a failed command',
    `*2\r\n+OK\r\n-${WRONGTYPE}\r\n`,
    [new SimpleString('OK'), new ReplyError(WRONGTYPE)],
  ],
  ['EVAL returning nested tables', '*3\r\n:1\r\n*2\r\n:2\r\n*1\r\n$1\r\nx\r\n*0\r\n', [1, [2, [b('x')]], []]],
  ['XRANGE', '*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n', [[b('1-1'), [b('f'), b('v')]]]],
  [
    'HELLO 3',
    '%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:4\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n',
    new MapReply([
      b('server'),
      b('redis'),
      b('version'),
      b('7.0.15'),
      b('proto'),
      3,
      b('id'),
      4,
      b('mode'),
      b('standalone'),
      b('role'),
      b('master'),
      b('modules'),
      [],
    ]),
  ],
  ['GET missing (RESP3)', '_\r\n', null],
  [
    'HGETALL (RESP3)',
    '%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n',
    new MapReply([b('f1'), b('v1'), b('f2'), b('v2')]),
  ],
  ['ZSCORE (RESP3)', ',1.5\r\n', new DoubleReply(1.5)],
  [
    'ZRANGE WITHSCORES (RESP3)',
    '*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,3\r\n',
    [
      [b('a'), new DoubleReply(1.5)],
      [b('b'), new DoubleReply(3)],
    ],
  ],
  ['SMEMBERS of nothing', '~0\r\n', []],
  ['SMEMBERS', '~1\r\n$1\r\nm\r\n', [b('m')]],
  [
    'DEBUG PROTOCOL bignum',
    '(1234567999999999999999999999999999999\r\n',
    1234567999999999999999999999999999999n,
  ],
  ['DEBUG PROTOCOL true', '#t\r\n', 1],
  ['DEBUG PROTOCOL false', '#f\r\n', 0],
  ['DEBUG PROTOCOL verbatim', '=29\r\ntxt:This is a verbatim\nstring\r\n', b('This is a verbatim\nstring')],
  ['DEBUG PROTOCOL double', ',3.141\r\n', new DoubleReply(3.141)],
  ['DEBUG PROTOCOL map', '%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n', new MapReply([0, 0, 1, 1, 2, 0])],
  ['DEBUG PROTOCOL set', '~3\r\n:0\r\n:1\r\n:2\r\n', [0, 1, 2]],
  // DEBUG PROTOCOL push sends the push message, then the command's own reply
  ['DEBUG PROTOCOL push (the push)', '>2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n', [b('server-cpu-usage'), 42]],
  [
    'DEBUG PROTOCOL push (the reply)',
    '$40\r\nSome real reply following the push reply\r\n',
    b('Some real reply following the push reply'),
  ],
];

/** Collects whole replies from chunks the way the Redis backend does: scan, and wait when scanReply says -1. */
function collect(chunks: readonly Buffer[]): Buffer[] {
  const replies: Buffer[] = [];
  let pending = Buffer.alloc(0);
  for (const chunk of chunks) {
    pending = Buffer.concat([pending, chunk]);
    let pos = 0;
    for (let end = scanReply(pending, pos); end !== -1; end = scanReply(pending, pos)) {
      replies.push(pending.subarray(pos, end));
      pos = end;
    }
    pending = pending.subarray(pos);
  }
  expect(pending.length).toBe(0);
  return replies;
}

describe('reply decoder - replies captured from Redis', () => {
  for (const [what, text, value] of FIXTURES) {
    it(`reply decoder - ${what}: scanned whole, -1 for every cut, decoded to its value`, () => {
      const bytes = b(text);
      expect(scanReply(bytes, 0)).toBe(bytes.length);
      for (let cut = 0; cut < bytes.length; cut++) expect(scanReply(bytes.subarray(0, cut), 0)).toBe(-1);
      expect(decodeReply(bytes)).toStrictEqual(value);
    });
  }

  it('reply decoder - scanReply and decodeReply start at the given offset', () => {
    const bytes = b('+OK\r\n*2\r\n:1\r\n$1\r\nx\r\n:7\r\n');
    expect(scanReply(bytes, 5)).toBe(bytes.length - 4);
    expect(decodeReply(bytes, 5)).toStrictEqual([1, b('x')]);
    expect(scanReply(bytes, bytes.length)).toBe(-1);
  });

  it('reply decoder - property: any chunking of a stream of Redis replies gives back each reply exactly', () => {
    const replies = FIXTURES.map(([, text]) => b(text));
    const stream = Buffer.concat(replies);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 40 }), (offsets) => {
        const points = [...new Set(offsets)].sort((x, y) => x - y);
        const chunks = [0, ...points].map((from, i) => stream.subarray(from, points[i] ?? stream.length));
        expect(collect(chunks).map((r) => r.toString('latin1'))).toEqual(
          replies.map((r) => r.toString('latin1')),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('reply decoder - a byte-at-a-time stream gives back each reply exactly', () => {
    const replies = FIXTURES.map(([, text]) => b(text));
    const stream = Buffer.concat(replies);
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(collect(chunks).map((r) => r.toString('latin1'))).toEqual(
      replies.map((r) => r.toString('latin1')),
    );
  });

  it('reply decoder - ChunkScan finds where a reply ends however its reads cut it, and starts over after it', () => {
    const nested = b(`*2\r\n$1\r\n0\r\n*3\r\n${'$3\r\nabc\r\n'.repeat(2)}%1\r\n+k\r\n*2\r\n:1\r\n$-1\r\n`);
    const big = b(`*3\r\n$300\r\n${'v'.repeat(300)}\r\n*0\r\n$0\r\n\r\n`);
    const replies = [...FIXTURES.map(([, text]) => b(text)), nested, big];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...replies), { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 40 }),
        (sequence, cuts) => {
          // The replies back to back, cut into reads; each read is copied so
          // a scan that kept a reference into one would see it wiped.
          const stream = Buffer.concat(sequence);
          const reads: Buffer[] = [];
          let at = 0;
          for (const step of cuts) {
            if (at >= stream.length) break;
            reads.push(stream.subarray(at, Math.min(stream.length, at + step)));
            at += step;
          }
          if (at < stream.length) reads.push(stream.subarray(at));
          const scan = new ChunkScan();
          const found: number[] = [];
          let consumed = 0;
          for (const read of reads) {
            const copy = Buffer.from(read);
            let offset = 0;
            while (offset < copy.length) {
              const end = scan.next(copy.subarray(offset));
              if (end === -1) break;
              offset += end;
              found.push(consumed + offset);
            }
            consumed += copy.length;
            copy.fill(0);
          }
          let total = 0;
          expect(found).toEqual(sequence.map((r) => (total += r.length)));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reply decoder - scanReply finds the end of an array of bulk strings of any length, and -1 at every cut', () => {
    const element = fc.oneof(
      fc.integer({ min: 0, max: 1200 }).map((n) => `$${n}\r\n${'v'.repeat(n)}\r\n`),
      fc.constantFrom('$-1\r\n', ':7\r\n', '*1\r\n$2\r\nab\r\n', '$010\r\n0123456789\r\n'),
    );
    fc.assert(
      fc.property(
        fc.array(element, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (items, cuts) => {
          const bytes = b(`*${items.length}\r\n${items.join('')}`);
          // Followed by the next reply, as in a read: the end is where this one ends.
          expect(scanReply(Buffer.concat([bytes, b('+OK\r\n')]), 0)).toBe(bytes.length);
          for (const cut of cuts) expect(scanReply(bytes.subarray(0, cut % bytes.length), 0)).toBe(-1);
          // The last byte missing, and then only the final LF missing.
          expect(scanReply(bytes.subarray(0, bytes.length - 1), 0)).toBe(-1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reply decoder - ChunkScan rejects bytes that are not RESP, also in a line cut in two', () => {
    expect(() => new ChunkScan().next(b('?oops\r\n'))).toThrow(ReplyProtocolError);
    const scan = new ChunkScan();
    expect(scan.next(b('*2\r\n$1'))).toBe(-1);
    expect(() => scan.next(b('x\r\n'))).toThrow(ReplyProtocolError);
  });

  it('reply decoder - a large bulk value is incomplete until its last byte and CRLF', () => {
    const value = Buffer.alloc(100_000, 0x7a);
    const bytes = Buffer.concat([b('$100000\r\n'), value, b('\r\n')]);
    expect(scanReply(bytes.subarray(0, bytes.length - 1), 0)).toBe(-1);
    expect(scanReply(bytes.subarray(0, 9), 0)).toBe(-1);
    expect(scanReply(bytes, 0)).toBe(bytes.length);
    expect((decodeReply(bytes) as Buffer).equals(value)).toBe(true);
  });

  it('reply decoder - integers beyond 2^53 decode as bigint, within as number', () => {
    expect(decodeReply(b(':9007199254740991\r\n'))).toBe(9007199254740991);
    expect(decodeReply(b(':9223372036854775807\r\n'))).toBe(9223372036854775807n);
    expect(decodeReply(b(':-9223372036854775808\r\n'))).toBe(-9223372036854775808n);
  });

  it('reply decoder - a RESP3 double of inf decodes to Infinity', () => {
    expect(decodeReply(b(',inf\r\n'))).toStrictEqual(new DoubleReply(Infinity));
    expect(decodeReply(b(',-inf\r\n'))).toStrictEqual(new DoubleReply(-Infinity));
  });

  it('reply decoder - null and empty aggregates and bulks end after their length line', () => {
    for (const text of ['$-1\r\n', '*-1\r\n', '*0\r\n', '%0\r\n', '$0\r\n\r\n', '*2\r\n$-1\r\n*-1\r\n']) {
      const bytes = b(text);
      expect(scanReply(bytes, 0), text).toBe(bytes.length);
      for (let cut = 0; cut < bytes.length; cut++) expect(scanReply(bytes.subarray(0, cut), 0)).toBe(-1);
    }
  });

  it('reply decoder - bytes that are not RESP throw ReplyProtocolError', () => {
    expect(() => scanReply(b('hello\r\n'), 0)).toThrow(ReplyProtocolError);
    expect(() => scanReply(b('$x\r\n'), 0)).toThrow(ReplyProtocolError);
    expect(() => scanReply(b('*1\r\n?\r\n'), 0)).toThrow(ReplyProtocolError);
    // Length lines: empty, a bare sign, a stray character, in a bulk and inside an array.
    for (const bad of [
      '$\r\n',
      '$-\r\n',
      '*1x\r\n',
      '*2\r\n$1\r\na\r\n$ 1\r\nb\r\n',
      '%1\r\n$1\r\na\r\n$1a\r\n',
    ])
      expect(() => scanReply(b(bad), 0), bad).toThrow(ReplyProtocolError);
    expect(() => decodeReply(b('$3\r\nab'))).toThrow(ReplyProtocolError);
  });
});
