import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import { DEFAULT_DECODER_LIMITS, ProtocolError, RequestDecoder } from '../../src/protocol/request-decoder.js';

// redis-parser reads RESP replies; a request is a RESP array of bulk strings,
// so it doubles as an independent oracle for multi-bulk decoding.
interface RedisParser {
  execute(buf: Buffer): void;
}
type RedisParserCtor = new (options: {
  returnReply: (reply: unknown) => void;
  returnError: (err: Error) => void;
  returnBuffers: boolean;
}) => RedisParser;
const RedisParserClass = createRequire(import.meta.url)('redis-parser') as RedisParserCtor;

function oracle(bytes: Buffer): Buffer[][] {
  const replies: Buffer[][] = [];
  const parser = new RedisParserClass({
    returnReply: (reply) => replies.push(reply as Buffer[]),
    returnError: (err) => {
      throw err;
    },
    returnBuffers: true,
  });
  parser.execute(bytes);
  return replies;
}

function multiBulk(args: ReadonlyArray<string | Uint8Array>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : Buffer.from(arg);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

interface Decoded {
  args: Buffer[];
  frame: Buffer | undefined;
  /** Copy of the args taken on delivery, to prove nothing changes them later. */
  snapshot: Buffer[];
}

/** Splits `bytes` at the given offsets (sorted, deduplicated here). */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets)].filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

function bytewise(bytes: Buffer): Buffer[] {
  return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
}

function decode(chunks: readonly Buffer[], decoder = new RequestDecoder()): Decoded[] {
  const out: Decoded[] = [];
  for (const chunk of chunks) {
    decoder.feed(chunk, (args, frame) =>
      out.push({ args, frame, snapshot: args.map((a) => Buffer.from(a)) }),
    );
  }
  return out;
}

/** Feeds chunks until the decoder throws; returns what was delivered and the error. */
function decodeUntilError(chunks: readonly Buffer[]): { commands: string[][]; error: unknown } {
  const decoder = new RequestDecoder();
  const commands: string[][] = [];
  try {
    for (const chunk of chunks)
      decoder.feed(chunk, (args) => commands.push(args.map((a) => a.toString('latin1'))));
  } catch (error) {
    return { commands, error };
  }
  return { commands, error: undefined };
}

const strings = (decoded: readonly Decoded[]): string[][] =>
  decoded.map((d) => d.args.map((a) => a.toString('latin1')));
// Buffers compared as hex strings: vitest's deep equality walks big Buffers byte by byte, slowly.
const hex = (bufs: ReadonlyArray<Uint8Array | undefined>): Array<string | undefined> =>
  bufs.map((b) =>
    b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'),
  );

describe('request decoder - multi-bulk', () => {
  it('request decoder - decodes a command into zero-copy args and its exact frame', () => {
    const chunk = multiBulk(['SET', 'key', 'value']);
    const [cmd, ...rest] = decode([chunk]);
    expect(rest).toHaveLength(0);
    expect(strings([cmd!])).toEqual([['SET', 'key', 'value']]);
    expect(cmd!.frame).toEqual(chunk);
    // subarrays of the chunk, not copies
    expect(cmd!.frame!.buffer).toBe(chunk.buffer);
    expect(cmd!.frame!.byteOffset).toBe(chunk.byteOffset);
    for (const arg of cmd!.args) expect(arg.buffer).toBe(chunk.buffer);
  });

  it('request decoder - args and frames are Buffers to every consumer', () => {
    const [cmd] = decode([multiBulk(['SET', 'key', 'value'])]);
    for (const buf of [...cmd!.args, cmd!.frame!]) {
      expect(Buffer.isBuffer(buf)).toBe(true);
      expect(buf).toBeInstanceOf(Buffer);
      expect(buf.constructor).toBe(Buffer);
    }
    const key = cmd!.args[1]!;
    expect(key).toStrictEqual(Buffer.from('key'));
    expect(inspect(key)).toBe('<Buffer 6b 65 79>');
    expect(key.toString('hex')).toBe('6b6579');
    expect(key.equals(Buffer.from('key'))).toBe(true);
    expect(Buffer.isBuffer(key.subarray(1))).toBe(true);
    expect(key.subarray(1).toString()).toBe('ey');
    expect(Buffer.concat([key, cmd!.args[2]!]).toString()).toBe('keyvalue');
    expect(key.readUInt8(0)).toBe(0x6b);
  });

  it('request decoder - a pipeline in one chunk gives every command with its own frame', () => {
    const frames = [multiBulk(['GET', 'a']), multiBulk(['SET', 'b', '']), multiBulk(['DEL', 'a', 'b', 'c'])];
    const decoded = decode([Buffer.concat(frames)]);
    expect(strings(decoded)).toEqual([
      ['GET', 'a'],
      ['SET', 'b', ''],
      ['DEL', 'a', 'b', 'c'],
    ]);
    expect(decoded.map((d) => d.frame)).toEqual(frames);
  });

  it('request decoder - binary args keep every byte, CRLF and NUL included', () => {
    const arg = Buffer.from([0, 13, 10, 0x2a, 0x24, 255, 13]);
    const [cmd] = decode([multiBulk(['SET', arg, Buffer.alloc(0)])]);
    expect(cmd!.args[1]).toEqual(arg);
    expect(cmd!.args[2]).toEqual(Buffer.alloc(0));
  });

  it('request decoder - *0, *-1 and other negative counts are skipped like Redis does', () => {
    // Redis 7.0.15 answers only the PING for these bytes
    const decoded = decode([
      Buffer.from('*0\r\n*-1\r\n*-5\r\n*-9223372036854775808\r\n*1\r\n$4\r\nPING\r\n'),
    ]);
    expect(strings(decoded)).toEqual([['PING']]);
  });

  it('request decoder - empty chunks change nothing', () => {
    const decoder = new RequestDecoder();
    const out = decode([Buffer.from('*1\r\n$4\r\nPI'), Buffer.alloc(0), Buffer.from('NG\r\n')], decoder);
    expect(strings(out)).toEqual([['PING']]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('request decoder - a frame cut by a chunk boundary is delivered with its exact bytes', () => {
    const frame = multiBulk(['SET', 'k', 'abcdefgh']);
    for (let at = 1; at < frame.length; at++) {
      const decoded = decode(cut(frame, [at]));
      expect(strings(decoded)).toEqual([['SET', 'k', 'abcdefgh']]);
      expect(decoded[0]!.frame).toEqual(frame);
    }
  });

  it('request decoder - frames bigger than the kept prefix survive every kind of cut', () => {
    // args over the 4 KiB kept prefix exercise both ways of holding a cut frame (prefix kept or set aside)
    const frame = multiBulk(['MSET', 'a'.repeat(20_000), 'b', 'c'.repeat(30_000), 'd'.repeat(17_000), 'e']);
    const cuts = [[5], [20_010], [20_030], [50_060], [1000, 2000, 3000, 40_000, 67_000], [frame.length - 1]];
    for (const offsets of cuts) {
      const decoded = decode(cut(frame, offsets));
      expect(decoded).toHaveLength(1);
      expect(decoded[0]!.frame!.equals(frame)).toBe(true);
      expect(decoded[0]!.args.map((a) => a.length)).toEqual([4, 20_000, 1, 30_000, 17_000, 1]);
      expect(decoded[0]!.args[3]!.equals(Buffer.alloc(30_000, 'c'))).toBe(true);
    }
    const chunked = decode(
      cut(
        frame,
        Array.from({ length: 80 }, (_, i) => i * 997),
      ),
    );
    expect(chunked[0]!.frame!.equals(frame)).toBe(true);
  });

  it('request decoder - property: any chunking gives the args and the exact frames, as redis-parser reads them', () => {
    const arg = fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 24 }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(...['\r\n', '*1\r\n', '$3\r\n', '"', ' '].map((s) => Buffer.from(s))),
      },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 100, maxLength: 3000 }) },
    );
    const commands = fc.array(fc.array(arg, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(commands, fc.array(fc.nat(), { maxLength: 12 }), (cmds, rawCuts) => {
        const frames = cmds.map((c) => multiBulk(c));
        const bytes = Buffer.concat(frames);
        const expected = cmds.map((c) => hex(c));
        expect(oracle(bytes).map((r) => hex(r))).toEqual(expected);
        const decoded = decode(
          cut(
            bytes,
            rawCuts.map((c) => c % bytes.length),
          ),
        );
        expect(decoded.map((d) => hex(d.args))).toEqual(expected);
        expect(hex(decoded.map((d) => d.frame))).toEqual(hex(frames));
        // nothing the decoder handed out was changed by what it did afterwards
        expect(decoded.map((d) => hex(d.snapshot))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('request decoder - property: byte-by-byte feeding gives the same commands and frames', () => {
    const commands = fc.array(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 5 }), {
      minLength: 1,
      maxLength: 6,
    });
    fc.assert(
      fc.property(commands, (cmds) => {
        const frames = cmds.map((c) => multiBulk(c));
        const decoder = new RequestDecoder();
        const decoded = decode(bytewise(Buffer.concat(frames)), decoder);
        expect(decoded.map((d) => hex(d.args))).toEqual(cmds.map((c) => hex(c)));
        expect(hex(decoded.map((d) => d.frame))).toEqual(hex(frames));
        expect(decoded.map((d) => hex(d.snapshot))).toEqual(cmds.map((c) => hex(c)));
        expect(decoder.bufferedBytes).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  it('request decoder - 100k pipelined commands in a few chunks all decode in order', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 100_000; i++) {
      frames.push(
        i % 2 === 0 ? multiBulk(['GET', `key:${i}`]) : multiBulk(['SET', `key:${i}`, `value-${i}`]),
      );
    }
    const bytes = Buffer.concat(frames);
    const decoded: Array<[Buffer[], Buffer | undefined]> = [];
    const decoder = new RequestDecoder();
    for (const chunk of cut(bytes, [1_000_003, 1_500_007, 2_345_678])) {
      decoder.feed(chunk, (args, frame) => decoded.push([args, frame]));
    }
    expect(decoded).toHaveLength(100_000);
    expect(decoder.bufferedBytes).toBe(0);
    const wrong: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const [args, frame] = decoded[i]!;
      const argsOk =
        args[0]!.toString() === (i % 2 === 0 ? 'GET' : 'SET') &&
        args[1]!.toString() === `key:${i}` &&
        (i % 2 === 0 ? args.length === 2 : args[2]!.toString() === `value-${i}`);
      if (!argsOk || !frame!.equals(frames[i]!)) wrong.push(i);
    }
    expect(wrong).toEqual([]);
  });
});

describe('request decoder - inline commands', () => {
  const cases: Array<[string, string, string[][]]> = [
    ['a bare command', 'PING\r\n', [['PING']]],
    ['a line ending in LF alone', 'PING\nECHO hi\n', [['PING'], ['ECHO', 'hi']]],
    ['runs of spaces and tabs', '  set \t a   b  \r\n', [['set', 'a', 'b']]],
    ['double quotes keep spaces', 'set a "b c"\r\n', [['set', 'a', 'b c']]],
    // bytes checked against Redis 7.0.15: SET k "\x41\x4g\n\q\"" then GET k gives Ax4g<LF>q"
    ['double-quote escapes', 'set k "\\x41\\x4g\\n\\q\\""\r\n', [['set', 'k', 'Ax4g\nq"']]],
    ['the other double-quote escapes', 'x "\\r\\t\\b\\a\\\\\\xfF"\r\n', [['x', '\r\t\b\x07\\\xff']]],
    ['single quotes escape only the quote', "x 'a\\'b\\n'\r\n", [['x', "a'b\\n"]]],
    ['a quote opening inside an argument', 'set k a"b c"\r\n', [['set', 'k', 'ab c']]],
    ['empty quotes give an empty argument', 'set k ""\r\n', [['set', 'k', '']]],
    ['vertical tab is part of an argument, not a separator', 'set\tk\x0bv x\r\n', [['set', 'k\x0bv', 'x']]],
    ['blank and whitespace-only lines are skipped', '\r\n\n   \r\nPING\r\n', [['PING']]],
    [
      'a NUL ends the line, as in the C string Redis splits',
      'set k v\x00 zzz\r\nPING\r\n',
      [['set', 'k', 'v'], ['PING']],
    ],
    ['inline and multi-bulk mixed', 'PING\r\n*1\r\n$4\r\nPING\r\n$3\r\n', [['PING'], ['PING'], ['$3']]],
  ];
  for (const [what, input, expected] of cases) {
    it(`request decoder - inline: ${what}`, () => {
      const bytes = Buffer.from(input, 'latin1');
      const whole = decode([bytes]);
      expect(strings(whole)).toEqual(expected);
      expect(strings(decode(bytewise(bytes)))).toEqual(expected);
    });
  }

  it('request decoder - inline commands have no frame', () => {
    const [cmd] = decode([Buffer.from('GET k\r\n')]);
    expect(cmd!.frame).toBeUndefined();
  });

  it('request decoder - an inline line waits for its LF across chunks, CR at the end of one chunk', () => {
    const decoder = new RequestDecoder();
    const out = decode(
      [Buffer.from('set a "b'), Buffer.from(' c"\r'), Buffer.from('\nPI'), Buffer.from('NG\n')],
      decoder,
    );
    expect(strings(out)).toEqual([['set', 'a', 'b c'], ['PING']]);
    expect(decoder.bufferedBytes).toBe(0);
  });
});

describe('request decoder - protocol errors', () => {
  // Messages as Redis 7.0.15 sent them for the same bytes (captured with a raw socket).
  const cases: Array<[string, string, string]> = [
    ['a count that is not a number', '*abc\r\n', 'Protocol error: invalid multibulk length'],
    ['a count with a leading zero', '*01\r\n', 'Protocol error: invalid multibulk length'],
    ['a count with a plus sign', '*+1\r\n', 'Protocol error: invalid multibulk length'],
    ['a count of minus zero', '*-0\r\n', 'Protocol error: invalid multibulk length'],
    ['a negative count below int64', '*-9223372036854775809\r\n', 'Protocol error: invalid multibulk length'],
    ['a count not ended by CRLF', '*1\rX', 'Protocol error: invalid multibulk length'],
    ['a bulk length that is not a number', '*1\r\n$abc\r\n', 'Protocol error: invalid bulk length'],
    ['a negative bulk length', '*1\r\n$-1\r\n', 'Protocol error: invalid bulk length'],
    ['a bulk length with a leading zero', '*1\r\n$03\r\nfoo\r\n', 'Protocol error: invalid bulk length'],
    ["an argument not starting with '$'", '*1\r\nx3\r\n', "Protocol error: expected '$', got 'x'"],
    ['an unterminated double quote', 'set a "b c\r\n', 'Protocol error: unbalanced quotes in request'],
    ['an unterminated single quote', "set a 'b\r\n", 'Protocol error: unbalanced quotes in request'],
    [
      'a closing quote followed by a letter',
      'set a "b"c\r\n',
      'Protocol error: unbalanced quotes in request',
    ],
    ['a trailing backslash inside quotes', 'set k "a\\\r\n', 'Protocol error: unbalanced quotes in request'],
    [
      'an escaped backslash before a closing single quote',
      "set k 'a\\\\'\r\n",
      'Protocol error: unbalanced quotes in request',
    ],
    // stricter than Redis, which skips the two bytes after a bulk unchecked
    ['a bulk not followed by CRLF', '*1\r\n$4\r\nPINGxx', 'Protocol error: invalid bulk length'],
  ];
  for (const [what, input, message] of cases) {
    it(`request decoder - ${what} fails with "${message}" after the commands before it`, () => {
      const bytes = Buffer.concat([
        multiBulk(['PING']),
        Buffer.from('ECHO x\r\n'),
        Buffer.from(input, 'latin1'),
      ]);
      for (const chunks of [[bytes], bytewise(bytes)]) {
        const { commands, error } = decodeUntilError(chunks);
        expect(commands).toEqual([['PING'], ['ECHO', 'x']]);
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).message).toBe(message);
        expect((error as ProtocolError).code).toBe(ErrorCode.Protocol);
      }
    });
  }

  it('request decoder - after an error the decoder refuses more input with the same error', () => {
    const decoder = new RequestDecoder();
    let first: unknown;
    try {
      decoder.feed(Buffer.from('*x\r\n'), () => {});
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(ProtocolError);
    const seen: Buffer[][] = [];
    expect(() => decoder.feed(multiBulk(['PING']), (args) => seen.push(args))).toThrow(first);
    expect(seen).toEqual([]);
  });

  it('request decoder - an error thrown by the handler propagates and stops the decoder', () => {
    const decoder = new RequestDecoder();
    const boom = new Error('handler failed');
    expect(() =>
      decoder.feed(Buffer.concat([multiBulk(['A']), multiBulk(['B'])]), () => {
        throw boom;
      }),
    ).toThrow(boom);
    expect(() => decoder.feed(multiBulk(['C']), () => {})).toThrow(boom);
  });
});

describe('request decoder - limits', () => {
  it('request decoder - default limits match the documented values', () => {
    expect(DEFAULT_DECODER_LIMITS).toEqual({
      maxBulkBytes: 64 * 1024 * 1024,
      maxArgs: 1_048_576,
      maxInlineBytes: 65_536,
    });
  });

  it('request decoder - a bulk header over maxBulkBytes fails before any of its body arrives', () => {
    const { commands, error } = decodeUntilError([
      Buffer.from(`*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nSET\r\n$${64 * 1024 * 1024 + 1}\r\n`),
    ]);
    expect(commands).toEqual([['PING']]);
    expect((error as ProtocolError).message).toBe('Protocol error: invalid bulk length');
    // the digits alone are enough: no CRLF needed to know it is too big
    expect((decodeUntilError([Buffer.from('*1\r\n$999999999')]).error as Error).message).toBe(
      'Protocol error: invalid bulk length',
    );
  });

  it('request decoder - a count over maxArgs fails at once', () => {
    const { error } = decodeUntilError([Buffer.from('*1048577\r\n')]);
    expect((error as Error).message).toBe('Protocol error: invalid multibulk length');
    const decoder = new RequestDecoder();
    expect(() => decoder.feed(Buffer.from('*1048576\r\n'), () => {})).not.toThrow();
    expect(decoder.bufferedBytes).toBeLessThan(16);
  });

  it('request decoder - custom limits are applied exactly at their bounds', () => {
    const decoder = new RequestDecoder({ maxBulkBytes: 10, maxArgs: 3 });
    const ok = decode([multiBulk(['a', 'b', '0123456789'])], decoder);
    expect(ok).toHaveLength(1);
    expect(() => decoder.feed(Buffer.from('*1\r\n$11\r\n'), () => {})).toThrow(
      'Protocol error: invalid bulk length',
    );
    expect(() => new RequestDecoder({ maxArgs: 3 }).feed(Buffer.from('*4\r\n'), () => {})).toThrow(
      'Protocol error: invalid multibulk length',
    );
  });

  it('request decoder - an inline line over maxInlineBytes fails without waiting for its end', () => {
    const decoder = new RequestDecoder();
    const piece = Buffer.alloc(1024, 0x78);
    let thrown: unknown;
    let fed = 0;
    try {
      for (; fed < 100; fed++) decoder.feed(piece, () => {});
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).toBe('Protocol error: too big inline request');
    expect(fed).toBe(64); // the 65th KiB crosses 65,536 bytes
    // in one chunk, and with its LF present, the same line still fails
    const { error } = decodeUntilError([Buffer.from(`${'y'.repeat(65_537)}\r\n`)]);
    expect((error as Error).message).toBe('Protocol error: too big inline request');
    expect(decode([Buffer.from(`${'y'.repeat(65_536)}\r\n`)])).toHaveLength(1);
  });

  it('request decoder - a 10 MB bulk header holds a few bytes until its body arrives', () => {
    const size = 10 * 1024 * 1024;
    const head = Buffer.from(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${size}\r\n`);
    const body = Buffer.alloc(size, 0x61);
    const decoder = new RequestDecoder();
    const out: Decoded[] = [];
    const onCommand = (args: Buffer[], frame: Buffer | undefined): void => {
      out.push({ args, frame, snapshot: [] });
    };
    decoder.feed(head, onCommand);
    expect(decoder.bufferedBytes).toBe(head.length);
    for (let off = 0; off < size; off += 64 * 1024)
      decoder.feed(body.subarray(off, off + 64 * 1024), onCommand);
    expect(out).toHaveLength(0);
    expect(decoder.bufferedBytes).toBe(head.length + size);
    decoder.feed(Buffer.from('\r\n*1\r\n$4\r\nPING\r\n'), onCommand);
    expect(out).toHaveLength(2);
    expect(out[0]!.args[2]!.equals(body)).toBe(true);
    expect(out[0]!.frame!.equals(Buffer.concat([head, body, Buffer.from('\r\n')]))).toBe(true);
    // joined once: the value is a subarray of the frame, not a second 10 MB copy
    expect(out[0]!.args[2]!.buffer).toBe(out[0]!.frame!.buffer);
    expect(out[1]!.args.map(String)).toEqual(['PING']);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('request decoder - out-of-range limits are rejected with the field name', () => {
    expect(() => new RequestDecoder({ maxArgs: 0 })).toThrow(ConfigError);
    expect(() => new RequestDecoder({ maxArgs: 0 })).toThrow(/maxArgs must be an integer from 1 to/);
    expect(() => new RequestDecoder({ maxBulkBytes: 1.5 })).toThrow(/maxBulkBytes/);
    expect(() => new RequestDecoder({ maxInlineBytes: Number.NaN })).toThrow(/maxInlineBytes/);
  });
});
