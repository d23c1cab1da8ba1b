import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBlockingCommand } from '../../src/backend/memory-commands.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { makeCommand } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import {
  anyCommand,
  bitmaps,
  blocking,
  geo,
  hashes,
  hyperloglog,
  keys,
  lists,
  sets,
  sorting,
  streams,
  strings,
  withStreamIds,
  zsetAggregateCorners,
  zsets,
} from './commands.js';
import { compareSequence, replyTarget, type Target } from './harness.js';
import { RespPipe } from './resp-pipe.js';

// Sequences per group and their length: together over 100k commands, seeded,
// so a failure names its seed and fast-check shrinks it to a short sequence.
const SEED = Number(process.env.DIFF_SEED ?? 1616);
const SCALE = Number(process.env.DIFF_SCALE ?? 1);
// A larger scale runs proportionally more sequences; a test still running at
// its timeout would go on sending on the shared connections under the next.
const TIMEOUT_MS = 120_000 * Math.max(1, SCALE);

let redis: RedisProcess;
let pipe: RespPipe;
let node: MemoryBackend;
let embedded: Target;
/** Commands compared so far (shrinking included), to hold the suite to its 100k. */
let sent = 0;

beforeAll(async () => {
  redis = await startRedis();
  pipe = await RespPipe.open(redis.port);
  node = new MemoryBackend({ node: nodeId('diff-mem') });
  embedded = replyTarget((text) => {
    // latin1, as RespPipe sends them to redis-server: one byte per character
    const args = text.map((a) => Buffer.from(a, 'latin1'));
    const cmd = makeCommand(...args);
    if (isBlockingCommand(cmd.name)) return new Promise<Reply>((resolve) => node.sendBlocking(cmd, resolve));
    let out: Reply | undefined;
    node.send(cmd, (r) => (out = r));
    if (out === undefined) throw new Error(`no synchronous reply to ${text.join(' ')}`);
    return out;
  });
});

afterAll(async () => {
  pipe.close();
  await node.close();
  await redis.stop();
});

const groups = {
  strings,
  bitmaps,
  sorting,
  streams,
  hyperloglog,
  geo,
  keys,
  hashes,
  lists,
  sets,
  zsets,
  blocking,
  mixed: anyCommand,
};
const RUNS: Record<keyof typeof groups, number> = {
  strings: 40,
  bitmaps: 60,
  sorting: 60,
  streams: 80,
  hyperloglog: 40,
  geo: 60,
  keys: 60,
  hashes: 60,
  lists: 120,
  sets: 120,
  zsets: 200,
  blocking: 10,
  mixed: 200,
};

describe('differential - an embedded node answers as redis-server 7.0 does', () => {
  for (const [name, arb] of Object.entries(groups) as [keyof typeof groups, typeof anyCommand][]) {
    it(
      `${name}: seeded random sequences give the same replies`,
      async () => {
        const seq =
          name === 'blocking'
            ? fc.array(fc.oneof(lists, zsets, blocking), { minLength: 1, maxLength: 60, size: 'max' })
            : fc.array(arb, { minLength: 1, maxLength: 400, size: 'max' });
        await fc.assert(
          fc.asyncProperty(seq, (cmds) => {
            sent += cmds.length;
            return compareSequence((c) => pipe.batch(c), embedded, withStreamIds(cmds));
          }),
          { seed: SEED, numRuns: Math.round(RUNS[name] * SCALE), endOnFailure: false },
        );
      },
      TIMEOUT_MS,
    );
  }

  it('bit commands: the corners of BITFIELD overflow, BITPOS and BITCOUNT ranges give the same replies', async () => {
    const corners = [
      // every overflow mode, both directions, signed and unsigned, SET and INCRBY
      ...['WRAP', 'SAT', 'FAIL'].flatMap((mode) => [
        [
          'BITFIELD',
          'k',
          'OVERFLOW',
          mode,
          'SET',
          'u8',
          '0',
          '-5',
          'SET',
          'u8',
          '8',
          '300',
          'GET',
          'u16',
          '0',
        ],
        ['BITFIELD', 'k', 'OVERFLOW', mode, 'INCRBY', 'u8', '0', '-300', 'INCRBY', 'u8', '8', '300'],
        ['BITFIELD', 'k', 'OVERFLOW', mode, 'SET', 'i8', '16', '-1000', 'SET', 'i8', '24', '1000'],
        ['BITFIELD', 'k', 'OVERFLOW', mode, 'INCRBY', 'i8', '16', '-200', 'INCRBY', 'i8', '24', '200'],
        [
          'BITFIELD',
          'k',
          'OVERFLOW',
          mode,
          'INCRBY',
          'i64',
          '32',
          '9223372036854775807',
          'INCRBY',
          'i64',
          '32',
          '1',
        ],
        ['BITFIELD', 'k', 'OVERFLOW', mode, 'INCRBY', 'u63', '96', '-1', 'GET', 'i64', '96'],
        // a SET far out of range: Redis's int64 headroom wraps, so SAT stores
        // the maximum for INT64_MIN
        ...['i16', 'i63', 'u8', 'u63'].flatMap((type) =>
          ['-9223372036854775808', '-9223372036854775807', '9223372036854775807'].map((v) => [
            'BITFIELD',
            'k',
            'OVERFLOW',
            mode,
            'SET',
            type,
            '0',
            v,
            'GET',
            'i64',
            '0',
          ]),
        ),
        ['GET', 'k'],
      ]),
      ['BITFIELD', 'f', 'OVERFLOW', 'FAIL', 'SET', 'u2', '100', '10'], // the string still grows
      ['STRLEN', 'f'],
      ['BITFIELD', 'k', 'SET', 'i5', '#3', '-16', 'GET', 'u5', '#3', 'GET', 'i5', '15'],
      ['BITFIELD_RO', 'k', 'GET', 'i8', '0', 'INCRBY', 'i8', '0', '1'],
      ['SET', 's', '\xff\xf0\x00'],
      ...[
        ['0'],
        ['1'],
        ['0', '0', '-1'],
        ['1', '2'],
        ['0', '0', '7', 'BIT'],
        ['0', '8', '15', 'BIT'],
        ['1', '20', '23', 'BIT'],
      ].map((r) => ['BITPOS', 's', ...r]),
      ...[
        ['0', '-1'],
        ['1', '1'],
        ['-2', '-1'],
        ['5', '12', 'BIT'],
        ['-1', '-2'],
        ['-9', '-1', 'BIT'],
      ].map((r) => ['BITCOUNT', 's', ...r]),
    ];
    await compareSequence(
      (c) => pipe.batch(c),
      embedded,
      corners.map((args) => ({ args, order: 'ordered' })),
    );
  });

  it("streams: Redis's node layout (100 entries or 4096 bytes) shows in approximate trims and XINFO STREAM alike", async () => {
    const add = (
      key: string,
      n: number,
      id: (i: number) => string,
      fields: (i: number) => string[],
    ): string[][] => Array.from({ length: n }, (_, i) => ['XADD', key, id(i + 1), ...fields(i + 1)]);
    const corners = [
      // small entries: nodes of 100; deletes count toward a node's 100 until it empties
      ...add(
        's',
        450,
        (i) => `${i}-1`,
        (i) => ['f', `v${i}`],
      ),
      ...Array.from({ length: 90 }, (_, i) => ['XDEL', 's', `${2 * i + 1}-1`]),
      ['XINFO', 'STREAM', 's'],
      ['XTRIM', 's', 'MAXLEN', '~', '300'],
      ['XTRIM', 's', 'MAXLEN', '~', '10', 'LIMIT', '150'],
      ['XINFO', 'STREAM', 's'],
      ['XTRIM', 's', 'MINID', '~', '420'],
      ['XADD', 's', 'MAXLEN', '~', '0', '500-1', 'f', 'v'],
      ['XINFO', 'STREAM', 's', 'FULL', 'COUNT', '3'],
      // large values: the 4096-byte limit starts nodes; fields other than the master's cost more
      ...add(
        'b',
        60,
        (i) => String(i * 1000003),
        (i) => [`field${i % 3}`, String(i * 1000), 'g', 'y'.repeat(i * 7)],
      ),
      ['XINFO', 'STREAM', 'b'],
      ['XTRIM', 'b', 'MAXLEN', '~', '30'],
      ['XLEN', 'b'],
      // IDs far apart: the radix tree branches at different bytes
      ...add(
        'u',
        300,
        (i) => `${i * 65536}-${i * i}`,
        () => ['f', 'x'],
      ),
      ['XINFO', 'STREAM', 'u'],
      ['XADD', 'big', '1-1', 'f', 'q'.repeat(5000)],
      ['XADD', 'big', '1-2', 'f', 'q'],
      ['XINFO', 'STREAM', 'big'],
    ];
    await compareSequence(
      (c) => pipe.batch(c),
      embedded,
      corners.map((args) => ({ args, order: 'ordered' })),
    );
  });

  it('HyperLogLog: sparse to dense, merges of both, the cached count and damaged opcodes give the same bytes', async () => {
    let seed = 5;
    const next = (): number => (seed = (seed * 48271) % 2147483647);
    const batch = (prefix: string, n: number): string[] =>
      Array.from({ length: n }, () => `${prefix}${next()}`);
    const corners = [
      // one element at a time, the size after each: every split and merge of
      // opcodes shows, and past 3000 bytes the HLL turns dense at the same add
      ...Array.from({ length: 2000 }, (_, i) => [
        ['PFADD', 'big', ...batch('e', 1)],
        ['STRLEN', 'big'],
        ...(i % 100 === 0 ? [['GET', 'big']] : []),
        ...(i % 400 === 0
          ? [
              ['PFCOUNT', 'big'],
              ['GET', 'big'],
            ]
          : []),
      ]).flat(),
      ['PFADD', 'big', ...batch('e', 2500)],
      ['GET', 'big'],
      ['PFADD', 'small', ...batch('s', 150)],
      ['PFMERGE', 'm', 'small'],
      ['GET', 'm'],
      ['PFMERGE', 'm', 'big'],
      ['GET', 'm'],
      ['PFCOUNT', 'm'],
      ['PFMERGE', 'small', 'm', 'nokey'],
      ['GET', 'small'],
      ['PFCOUNT', 'small', 'big', 'm', 'nokey'],
      // damaged opcodes (still whole): the elements before the bad spot stay added, as in Redis
      ['PFADD', 'd1'],
      ['SETRANGE', 'd1', '17', 'x'],
      ['PFADD', 'd1', 'a', 'e0', 'e352621'],
      ['GET', 'd1'],
      ['PFCOUNT', 'd1'],
      ['PFADD', 'd2', 'e0', 'a'],
      ['SETRANGE', 'd2', '17', '\x01'],
      ['PFADD', 'd2', 'e0', 'e430299', 'a'],
      ['GET', 'd2'],
      ['PFMERGE', 'd3', 'd2'],
      ['SETRANGE', 'big', '4', '\x01'],
      ['PFCOUNT', 'big'],
    ];
    await compareSequence(
      (c) => pipe.batch(c),
      embedded,
      corners.map((args) => ({ args, order: 'ordered' })),
    );
  });

  it("geo corners: the poles' limits, the antimeridian, every unit, radii over many geohash steps, COUNT ANY and STORE give the same replies", async () => {
    // a grid over the whole range, denser near the limits, plus points sharing a spot (equal distances)
    const lons = ['-180', '-179.9999', '-120.5', '-0.0001', '0', '0.0001', '45.25', '179.9999', '180'];
    const lats = [
      '-85.05112878',
      '-85.0511',
      '-80.5',
      '-66.1',
      '0',
      '0.00001',
      '66.1',
      '80.5',
      '85.0511',
      '85.05112878',
    ];
    const grid = lons.flatMap((x, i) => lats.map((y, j) => [x, y, `p${i}_${j}`]));
    const spot = Array.from({ length: 12 }, (_, i) => ['2.35', '48.85', `dup${i}`]);
    const near = Array.from({ length: 30 }, (_, i) => [
      (2.35 + ((i * 37) % 17) * 0.00007 - 0.0006).toFixed(6),
      (48.85 + ((i * 53) % 19) * 0.00005 - 0.0005).toFixed(6),
      `n${i}`,
    ]);
    const all = [...grid, ...spot, ...near];
    const members = all.map((p) => p[2]!);
    const centres = [
      ['2.35', '48.85'],
      ['0', '0'],
      ['179.9999', '0'],
      ['-180', '-45'],
      ['10', '85.05112878'],
      ['-10', '-85.0511'],
      ['100', '70'],
    ];
    const radii = [
      ['1', 'm'],
      ['50', 'km'],
      ['5000', 'km'],
      ['300', 'mi'],
      ['2000', 'ft'],
      ['0', 'M'],
    ];
    const corners = [
      ['GEOADD', 'g', ...all.slice(0, 40).flat()],
      ['GEOADD', 'g', 'CH', ...all.slice(40).flat()],
      ['GEOADD', 'g', 'CH', 'XX', '0', '0', 'p4_4', '1', '1', 'absent'],
      ['GEOADD', 'g', 'NX', '1', '1', 'p4_4'],
      ['GEOADD', 'g', '180.000001', '0', 'x'],
      ['GEOADD', 'g', '0', '85.05112879', 'x'],
      ['GEOADD', 'g', '0', '-90', 'x'],
      ['ZRANGE', 'g', '0', '-1', 'WITHSCORES'],
      ['TYPE', 'g'],
      ['GEOPOS', 'g', ...members, 'nowhere'],
      ['GEOHASH', 'g', ...members, 'nowhere'],
      ...['m', 'km', 'ft', 'mi'].map((u) => ['GEODIST', 'g', 'p0_0', 'p8_9', u]),
      ['GEODIST', 'g', 'p0_4', 'p8_4'],
      ['GEODIST', 'g', 'dup0', 'n7', 'ft'],
      ...centres.flatMap(([x, y]) =>
        radii.flatMap(([r, u]) => [
          ['GEORADIUS', 'g', x!, y!, r!, u!, 'WITHDIST', 'WITHHASH'],
          ['GEORADIUS_RO', 'g', x!, y!, r!, u!, 'WITHCOORD', 'COUNT', '5'],
          ['GEOSEARCH', 'g', 'FROMLONLAT', x!, y!, 'BYRADIUS', r!, u!, 'COUNT', '3', 'ANY', 'WITHDIST'],
          [
            'GEOSEARCH',
            'g',
            'FROMLONLAT',
            x!,
            y!,
            'BYBOX',
            r!,
            String(Number(r) * 2),
            u!,
            'DESC',
            'WITHDIST',
          ],
          ['GEOSEARCH', 'g', 'FROMLONLAT', x!, y!, 'BYBOX', String(Number(r) * 3), r!, u!, 'COUNT', '4'],
          ['GEOSEARCHSTORE', 'st', 'g', 'FROMLONLAT', x!, y!, 'BYRADIUS', r!, u!, 'STOREDIST'],
          ['ZRANGE', 'st', '0', '-1', 'WITHSCORES'],
        ]),
      ),
      ['GEORADIUSBYMEMBER', 'g', 'dup3', '100', 'm', 'COUNT', '5', 'WITHDIST'],
      ['GEORADIUSBYMEMBER', 'g', 'dup3', '100', 'm', 'COUNT', '5', 'ANY'],
      ['GEORADIUSBYMEMBER', 'g', 'p8_9', '5000', 'km', 'STORE', 'st'],
      ['ZRANGE', 'st', '0', '-1', 'WITHSCORES'],
      ['GEORADIUSBYMEMBER', 'g', 'p0_0', '5000', 'km', 'STOREDIST', 'st', 'COUNT', '2', 'DESC'],
      ['ZRANGE', 'st', '0', '-1', 'WITHSCORES'],
      ['GEORADIUSBYMEMBER', 'g', 'p0_0', '1', 'm', 'STORE', 'st'],
      ['EXISTS', 'st'],
      ['GEORADIUSBYMEMBER_RO', 'g', 'dup0', '1', 'km', 'STORE', 'st'],
      ['GEORADIUS', 'g', '0', '0', '1', 'km', 'STORE', 'st', 'WITHDIST'],
      ['GEOSEARCHSTORE', 'st', 'g', 'FROMMEMBER', 'dup0', 'BYBOX', '1', '1', 'km', 'WITHCOORD'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'dup0', 'FROMLONLAT', '0', '0', 'BYRADIUS', '1', 'km'],
      ['GEOSEARCH', 'g', 'BYRADIUS', '1', 'km', 'BYBOX', '1', '1', 'km'],
      ['geosearch', 'g', 'BYRADIUS', '1', 'km', 'ASC'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'dup0', 'WITHDIST', 'ASC'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'dup0', 'BYRADIUS', '1', 'km', 'ANY'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'dup0', 'BYRADIUS', '1', 'km', 'COUNT', '0'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'dup0', 'BYRADIUS', '1', 'yd'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'dup0', 'BYBOX', '-1', '1', 'km'],
      ['GEOSEARCH', 'g', 'FROMMEMBER', 'nowhere', 'BYRADIUS', '1', 'km'],
      ['GEOSEARCH', 'nokey', 'FROMMEMBER', 'nowhere', 'BYRADIUS', '1', 'km'],
      ['GEOSEARCHSTORE', 'st', 'nokey', 'FROMMEMBER', 'nowhere', 'BYRADIUS', '1', 'km'],
      ['EXISTS', 'st'],
      ['GEORADIUSBYMEMBER', 'nokey', 'nowhere', '-1', 'yd'],
      ['GEORADIUS', 'g', '0', '0', 'x', 'km'],
      ['GEORADIUS', 'g', '0', '0', '-1', 'km'],
      ['SET', 's', 'v'],
      ['GEOPOS', 's', 'a'],
      ['GEOADD', 's', '1', '1', 'a'],
      ['GEOADD', 's', '1', '100', 'a'],
      // scores no GEOADD gives: negative, huge, infinite, decoded and clamped as the C's casts do
      [
        'ZADD',
        'z',
        '-5',
        'neg',
        '1e30',
        'huge',
        'inf',
        'pinf',
        '-inf',
        'ninf',
        '4503599627370496',
        'top',
        '1.5',
        'frac',
      ],
      ['GEOPOS', 'z', 'neg', 'huge', 'pinf', 'ninf', 'top', 'frac'],
      ['GEOHASH', 'z', 'neg', 'huge', 'pinf', 'ninf', 'top', 'frac'],
      ['GEODIST', 'z', 'neg', 'frac', 'km'],
    ];
    await compareSequence(
      (c) => pipe.batch(c),
      embedded,
      corners.map((args) => ({ args, order: 'ordered' })),
    );
  });

  it('sorted-set aggregates: -0 and 0 under MIN / MAX, inf and -inf under SUM, weights of 0 and -1 give the same replies', async () => {
    await compareSequence(
      (c) => pipe.batch(c),
      embedded,
      zsetAggregateCorners('{z}a', '{z}b').map((args) => ({ args, order: 'ordered' })),
    );
  });

  it('sorted-set lex ranges over unequal scores: LIMIT skips its offset without looking at the bounds, as Redis does', async () => {
    // In walk order b(0) c(0) d(0) a(1) 0(2) e(2): lex ranges are not monotone here.
    const ranges = [
      ['-', '(a'],
      ['[c', '(c'],
      ['[b', '[b'],
      ['(a', '[b'],
      ['[b', '+'],
      ['(0', '[d'],
      ['-', '+'],
    ];
    const corners = [['ZADD', 'zl', '0', 'b', '0', 'c', '0', 'd', '1', 'a', '2', '0', '2', 'e']];
    for (const [min, max] of ranges) {
      corners.push(['ZLEXCOUNT', 'zl', min!, max!], ['ZRANGEBYLEX', 'zl', min!, max!]);
      for (const limit of [
        ['0', '-1'],
        ['1', '-1'],
        ['2', '-1'],
        ['3', '2'],
        ['5', '1'],
      ]) {
        corners.push(['ZRANGE', 'zl', min!, max!, 'BYLEX', 'LIMIT', ...limit]);
        corners.push(['ZRANGE', 'zl', max!, min!, 'BYLEX', 'REV', 'LIMIT', ...limit]);
        corners.push(
          ['ZRANGESTORE', 'zd', 'zl', min!, max!, 'BYLEX', 'LIMIT', ...limit],
          ['ZRANGE', 'zd', '0', '-1'],
        );
      }
      corners.push(
        ['ZREMRANGEBYLEX', 'zl', min!, max!],
        ['ZRANGE', 'zl', '0', '-1', 'WITHSCORES'],
        corners[0]!,
      );
    }
    await compareSequence(
      (c) => pipe.batch(c),
      embedded,
      corners.map((args) => ({ args, order: 'ordered' })),
    );
  });

  it('compared at least 100k commands in all', () => {
    expect(sent).toBeGreaterThanOrEqual(100_000 * Math.min(1, SCALE));
  });
});
