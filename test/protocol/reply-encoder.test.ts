import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { decodeReply, scanReply } from '../../src/protocol/reply-decoder.js';
import { encodeReply, formatDouble, ReplyWriter } from '../../src/protocol/reply-encoder.js';
import {
  DoubleReply,
  MapReply,
  SetReply,
  VerbatimReply,
  OK,
  PONG,
  QUEUED,
  RawReply,
  ReplyError,
  SimpleString,
  type Reply,
} from '../../src/protocol/reply.js';

// redis-parser (the parser of ioredis and node-redis v3) is the oracle for RESP2 output.
interface RedisParser {
  execute(buf: Buffer): void;
}
type RedisParserCtor = new (options: {
  returnReply: (reply: unknown) => void;
  returnError: (err: Error) => void;
  returnBuffers: boolean;
  stringNumbers: boolean;
}) => RedisParser;
const RedisParserClass = createRequire(import.meta.url)('redis-parser') as RedisParserCtor;

/** What redis-parser gives back, in a comparable form: bulk and simple strings as hex, errors as `ERR:<message>`. */
type Parsed = null | string | Parsed[];

function normalizeParsed(value: unknown): Parsed {
  if (value === null) return null;
  if (Buffer.isBuffer(value)) return `hex:${value.toString('hex')}`;
  if (value instanceof Error) return `ERR:${value.message}`;
  if (typeof value === 'string') return `int:${value}`; // stringNumbers: integers arrive as strings
  if (Array.isArray(value)) return value.map(normalizeParsed);
  throw new Error(`unexpected parsed value of type ${typeof value}`);
}

function parseResp2(bytes: Buffer): Parsed[] {
  const out: Parsed[] = [];
  const parser = new RedisParserClass({
    returnReply: (reply) => out.push(normalizeParsed(reply)),
    returnError: (err) => out.push(normalizeParsed(err)),
    returnBuffers: true,
    stringNumbers: true,
  });
  parser.execute(bytes);
  return out;
}

/** The RESP2 meaning of a reply, in the same form as normalizeParsed. */
function expectedResp2(reply: Reply): Parsed {
  const hex = (s: string | Buffer): string => `hex:${Buffer.from(s).toString('hex')}`;
  if (reply === null) return null;
  if (typeof reply === 'number') {
    return Number.isInteger(reply) ? expectedResp2(BigInt(reply)) : hex(formatDouble(reply));
  }
  if (typeof reply === 'bigint') {
    return reply >= -(2n ** 63n) && reply < 2n ** 63n ? `int:${reply}` : hex(reply.toString());
  }
  if (typeof reply === 'string' || Buffer.isBuffer(reply)) return hex(reply);
  if (reply instanceof SimpleString) return hex(reply.value.replace(/[\r\n]/g, ' '));
  if (reply instanceof ReplyError) return `ERR:${reply.message.replace(/[\r\n]/g, ' ')}`;
  if (reply instanceof DoubleReply) return hex(formatDouble(reply.value));
  if (reply instanceof MapReply) return reply.entries.map(expectedResp2);
  if (reply instanceof SetReply) return reply.items.map(expectedResp2);
  if (reply instanceof VerbatimReply) return hex(reply.text);
  if (reply instanceof RawReply) throw new Error('raw replies are not generated');
  return reply.map(expectedResp2);
}

const text = fc.string({ unit: 'grapheme', maxLength: 30 });
const replyArb: fc.Arbitrary<Reply> = fc.letrec<{ reply: Reply }>((tie) => ({
  reply: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
    fc.double({ noNaN: false }),
    text,
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
    text.map((s) => new SimpleString(s)),
    fc.constantFrom<Reply>(OK, PONG, QUEUED, new SimpleString('a\r\nb')),
    text.map((s) => new ReplyError(`ERR ${s}`)),
    fc.double().map((d) => new DoubleReply(d)),
    fc
      .array(tie('reply'), { maxLength: 5 })
      .map((entries) => new MapReply(entries.length % 2 ? entries.slice(1) : entries)),
    fc.array(tie('reply'), { maxLength: 5 }),
  ),
})).reply;

describe('reply encoder - RESP2', () => {
  const cases: Array<[string, Reply, string]> = [
    ['OK', OK, '+OK\r\n'],
    ['PONG', PONG, '+PONG\r\n'],
    ['QUEUED', QUEUED, '+QUEUED\r\n'],
    ['another simple string', new SimpleString('RESET'), '+RESET\r\n'],
    ['null as a null bulk', null, '$-1\r\n'],
    ['a positive integer', 42, ':42\r\n'],
    ['zero', 0, ':0\r\n'],
    ['a negative integer', -4, ':-4\r\n'],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER, ':9007199254740991\r\n'],
    ['an integer number beyond 2^53', 2 ** 60, ':1152921504606846976\r\n'],
    ['a fractional number as a double', 1.5, '$3\r\n1.5\r\n'],
    ['a bigint', -(2n ** 63n), ':-9223372036854775808\r\n'],
    ['a bigint beyond 64 bits as a bulk string', 2n ** 64n, '$20\r\n18446744073709551616\r\n'],
    ['an empty string', '', '$0\r\n\r\n'],
    ['a string by its UTF-8 byte length', 'é€x', '$6\r\né€x\r\n'],
    ['a Buffer', Buffer.from([0, 13, 10]), '$3\r\n\u0000\r\n\r\n'],
    [
      'an error',
      new ReplyError('WRONGTYPE Operation against a key'),
      '-WRONGTYPE Operation against a key\r\n',
    ],
    ['CR and LF in an error become spaces', new ReplyError('ERR a\r\nb\nc'), '-ERR a  b c\r\n'],
    ['CR and LF in a non-ASCII simple string become spaces', new SimpleString('é\r\n'), '+é  \r\n'],
    ['a double as a bulk string', new DoubleReply(3), '$1\r\n3\r\n'],
    ['infinity as inf', new DoubleReply(-Infinity), '$4\r\n-inf\r\n'],
    [
      'a double as the node wrote it',
      new DoubleReply(0.1, '0.10000000000000001'),
      '$19\r\n0.10000000000000001\r\n',
    ],
    ['a set as an array', new SetReply(['a', 1]), '*2\r\n$1\r\na\r\n:1\r\n'],
    ['verbatim text as a bulk string', new VerbatimReply('a:1\r\n'), '$5\r\na:1\r\n\r\n'],
    [
      'a map as a flat array',
      new MapReply(['f1', 'v1', 'f2', 2]),
      '*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n:2\r\n',
    ],
    ['a map missing its last value gets a null', new MapReply(['k']), '*2\r\n$1\r\nk\r\n$-1\r\n'],
    ['an empty array', [], '*0\r\n'],
    [
      'nested arrays with nulls',
      [1, [2, ['x']], [], null],
      '*4\r\n:1\r\n*2\r\n:2\r\n*1\r\n$1\r\nx\r\n*0\r\n$-1\r\n',
    ],
    ['raw bytes as they are', new RawReply(Buffer.from('*1\r\n$1\r\nv\r\n')), '*1\r\n$1\r\nv\r\n'],
  ];
  for (const [what, reply, bytes] of cases) {
    it(`reply encoder - RESP2: ${what}`, () => {
      expect(encodeReply(reply, 2).toString('latin1')).toBe(Buffer.from(bytes).toString('latin1'));
    });
  }

  it('reply encoder - property: redis-parser reads back what was written, in RESP2', () => {
    fc.assert(
      fc.property(fc.array(replyArb, { minLength: 1, maxLength: 8 }), (replies) => {
        const writer = new ReplyWriter({ slabBytes: 128 }); // small slabs: replies straddle slabs
        for (const reply of replies) writer.write(reply, 2);
        const bytes = writer.take();
        expect(parseResp2(bytes)).toEqual(replies.map(expectedResp2));
      }),
      { numRuns: 300 },
    );
  });

  it('reply encoder - property: integers are written as their decimal digits', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.integer({ min: -20, max: 1100 })), (n) => {
        expect(encodeReply(n, 2).toString()).toBe(`:${n}\r\n`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('reply encoder - RESP3', () => {
  const cases: Array<[string, Reply, string]> = [
    ['null', null, '_\r\n'],
    ['null in an array', [null, 'a'], '*2\r\n_\r\n$1\r\na\r\n'],
    ['a map', new MapReply(['f1', 'v1', 'n', 1]), '%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$1\r\nn\r\n:1\r\n'],
    ['a double', new DoubleReply(1.5), ',1.5\r\n'],
    [
      'a double as the node wrote it',
      new DoubleReply(0.1, '0.10000000000000001'),
      ',0.10000000000000001\r\n',
    ],
    ['a set', new SetReply(['a', 1]), '~2\r\n$1\r\na\r\n:1\r\n'],
    ['verbatim text with its format', new VerbatimReply('a:1\r\n'), '=9\r\ntxt:a:1\r\n\r\n'],
    ['an integral double without .0', new DoubleReply(3), ',3\r\n'],
    ['inf', new DoubleReply(Infinity), ',inf\r\n'],
    ['-inf', new DoubleReply(-Infinity), ',-inf\r\n'],
    ['nan', new DoubleReply(Number.NaN), ',nan\r\n'],
    ['negative zero', new DoubleReply(-0), ',-0\r\n'],
    ['a fractional number', -0.25, ',-0.25\r\n'],
    ['a bigint beyond 64 bits as a big number', -(2n ** 70n), '(-1180591620717411303424\r\n'],
    ['a bigint within 64 bits as an integer', 2n ** 63n - 1n, ':9223372036854775807\r\n'],
    ['an error', new ReplyError('ERR nope'), '-ERR nope\r\n'],
    ['OK', OK, '+OK\r\n'],
  ];
  for (const [what, reply, bytes] of cases) {
    it(`reply encoder - RESP3: ${what}`, () => {
      expect(encodeReply(reply, 3).toString()).toBe(bytes);
    });
  }

  it('reply encoder - property: RESP3 output is one whole reply that decodes back to the value', () => {
    fc.assert(
      fc.property(replyArb, (reply) => {
        const bytes = encodeReply(reply, 3);
        expect(scanReply(bytes, 0)).toBe(bytes.length);
        expect(normalize3(decodeReply(bytes))).toEqual(normalize3(reply));
      }),
      { numRuns: 300 },
    );
  });

  it('reply encoder - the protocol is chosen per reply', () => {
    const writer = new ReplyWriter();
    writer.write(null, 2);
    writer.write(null, 3);
    writer.write(new MapReply(['a', 1]), 2);
    writer.write(new MapReply(['a', 1]), 3);
    expect(writer.take().toString()).toBe('$-1\r\n_\r\n*2\r\n$1\r\na\r\n:1\r\n%1\r\n$1\r\na\r\n:1\r\n');
  });
});

/** A reply as RESP3 round-trips it through decodeReply: text as Buffers, numbers as bigint-or-number, doubles by value. */
function normalize3(reply: Reply): unknown {
  if (reply === null) return null;
  if (typeof reply === 'number') {
    return Number.isInteger(reply) ? BigInt(reply) : { double: formatDouble(reply) };
  }
  if (typeof reply === 'bigint') return reply;
  if (typeof reply === 'string' || Buffer.isBuffer(reply)) return Buffer.from(reply).toString('hex');
  if (reply instanceof SimpleString) return { simple: reply.value.replace(/[\r\n]/g, ' ') };
  if (reply instanceof ReplyError) return { error: reply.message.replace(/[\r\n]/g, ' ') };
  if (reply instanceof DoubleReply) return { double: formatDouble(reply.value) };
  if (reply instanceof MapReply) return { map: reply.entries.map(normalize3) };
  if (reply instanceof SetReply) return { set: reply.items.map(normalize3) };
  if (reply instanceof VerbatimReply) return { verbatim: `${reply.format}:${reply.text}` };
  if (reply instanceof RawReply) return { raw: reply.bytes.toString('hex') };
  return reply.map(normalize3);
}

describe('reply encoder - writer', () => {
  it('reply encoder - a slab smaller than 64 bytes is refused with the option name', () => {
    expect(() => new ReplyWriter({ slabBytes: 10 })).toThrow(ConfigError);
    expect(() => new ReplyWriter({ slabBytes: 10 })).toThrow(/slabBytes/);
  });

  it('reply encoder - length counts the bytes pending until take()', () => {
    const writer = new ReplyWriter();
    expect(writer.length).toBe(0);
    writer.write(OK, 2);
    writer.write(12345, 2);
    expect(writer.length).toBe(5 + 8);
    expect(writer.take().toString()).toBe('+OK\r\n:12345\r\n');
    expect(writer.length).toBe(0);
    expect(writer.take()).toHaveLength(0);
    expect(writer.takeChunks()).toEqual([]);
  });

  it('reply encoder - bytes already taken are never written over', () => {
    const writer = new ReplyWriter({ slabBytes: 64 });
    const taken: Array<[Buffer, string]> = [];
    for (let i = 0; i < 200; i++) {
      writer.write([`value-${i}`, i, null], 2);
      if (i % 3 === 0) {
        const out = writer.take();
        taken.push([out, out.toString('hex')]);
      }
    }
    for (const [out, hexAtTake] of taken) expect(out.toString('hex')).toBe(hexAtTake);
  });

  it('reply encoder - rewind reuses the slab once everything taken is consumed, and only then', () => {
    const writer = new ReplyWriter({ slabBytes: 1024 });
    writer.write('a'.repeat(300), 2);
    const first = writer.take();
    writer.rewind();
    writer.write('b'.repeat(300), 2);
    const second = writer.take();
    // Same memory, written from its start: the next batch costs no new slab.
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    expect(second.toString()).toBe(`$300\r\n${'b'.repeat(300)}\r\n`);

    // Bytes written and not yet taken must survive a rewind untouched.
    writer.write('c'.repeat(10), 2);
    writer.rewind();
    writer.write('d'.repeat(10), 2);
    expect(writer.take().toString()).toBe(`$10\r\n${'c'.repeat(10)}\r\n$10\r\n${'d'.repeat(10)}\r\n`);

    // Sealed chunks pending (a slab filled mid-batch): rewind leaves them alone too.
    for (let i = 0; i < 6; i++) writer.write('e'.repeat(300), 2);
    writer.rewind();
    writer.write(OK, 2);
    expect(writer.take().toString()).toBe(`${`$300\r\n${'e'.repeat(300)}\r\n`.repeat(6)}+OK\r\n`);
  });

  it('reply encoder - a batch across many small slabs comes out whole and in order', () => {
    const replies: Reply[] = Array.from({ length: 500 }, (_, i) => [
      `k${i}`,
      Buffer.alloc(i % 50, 0x61),
      i,
      null,
    ]);
    const writer = new ReplyWriter({ slabBytes: 100 });
    for (const r of replies) writer.write(r, 2);
    const expected = Buffer.concat(replies.map((r) => encodeReply(r, 2)));
    expect(writer.length).toBe(expected.length);
    expect(writer.take().equals(expected)).toBe(true);
  });

  it('reply encoder - a big RawReply or Buffer is passed on as its own chunk, not copied', () => {
    const raw = Buffer.concat([Buffer.from('$20000\r\n'), Buffer.alloc(20_000, 0x62), Buffer.from('\r\n')]);
    const big = Buffer.alloc(16 * 1024, 0x63);
    const writer = new ReplyWriter();
    writer.write(OK, 2);
    writer.write(new RawReply(raw), 2);
    writer.write(big, 2);
    writer.write(7, 2);
    const chunks = writer.takeChunks();
    expect(chunks).toContain(raw);
    expect(chunks).toContain(big);
    const all = Buffer.concat(chunks);
    expect(
      all.equals(
        Buffer.concat([
          Buffer.from('+OK\r\n'),
          raw,
          Buffer.from('$16384\r\n'),
          big,
          Buffer.from('\r\n:7\r\n'),
        ]),
      ),
    ).toBe(true);

    writer.write(new RawReply(raw), 2);
    writer.write(PONG, 2);
    expect(writer.take().equals(Buffer.concat([raw, Buffer.from('+PONG\r\n')]))).toBe(true);
  });

  it('reply encoder - strings around the short-string fast path keep their byte lengths', () => {
    for (const s of [
      'a'.repeat(64),
      'a'.repeat(65),
      `${'a'.repeat(63)}é`,
      `é${'a'.repeat(70)}`,
      '😀',
      'x'.repeat(100_000),
    ]) {
      const bytes = encodeReply(s, 2);
      const len = Buffer.byteLength(s);
      expect(bytes.subarray(0, `$${len}\r\n`.length).toString()).toBe(`$${len}\r\n`);
      expect(bytes.subarray(`$${len}\r\n`.length, -2).toString()).toBe(s);
      expect(scanReply(bytes, 0)).toBe(bytes.length);
    }
  });
});
