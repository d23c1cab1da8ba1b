/**
 * Seeded random Redis commands over every group the embedded node serves,
 * as fast-check arbitraries (so a failing sequence shrinks to a short one).
 * Keys come from a small pool shared by all groups, so commands meet keys of
 * every type (WRONGTYPE paths) and of none; arguments mix valid and invalid
 * values (bad integers, bad floats, bad ranges) to reach the error texts.
 * Only deterministic forms of the random commands are drawn (a count of at
 * least the collection's size): their random forms are unit-tested with a seed.
 */
import fc from 'fast-check';
import type { Order } from './canonical.js';

/** One generated command: its arguments and how its reply is compared. */
export interface GenCommand {
  readonly args: readonly string[];
  readonly order: Order;
}

/** A hash tag on every key, so a sharded router puts a sequence's keys on one shard. */
export const TAG = '{d}';

const k = (name: string): string => `${TAG}${name}`;
const key = fc.constantFrom(...['a', 'b', 'c', 'l1', 'l2', 's1', 's2', 'z1', 'z2', 'h1', 'x'].map(k));
const listKey = fc.constantFrom(k('l1'), k('l2'), k('a'), k('s1'));
const setKey = fc.constantFrom(k('s1'), k('s2'), k('s3'), k('l1'));
const zKey = fc.constantFrom(k('z1'), k('z2'), k('z3'), k('s1'), k('l1'));
const hashKey = fc.constantFrom(k('h1'), k('h2'), k('a'));
const member = fc.constantFrom('a', 'b', 'c', 'd', 'e', '1', '2', '10', '-1', 'aa', 'b\x00', 'Z');
const value = fc.oneof(member, fc.constantFrom('', 'hello', '123', '-7', '3.5', '0x10'));
const int = fc.oneof(
  fc.integer({ min: -6, max: 6 }).map(String),
  fc.constantFrom('0', '-0', '+1', '01', 'x', '9223372036854775807', '-9223372036854775808', '1.5', ''),
);
const smallCount = fc.oneof(fc.integer({ min: 0, max: 5 }).map(String), fc.constantFrom('-1', 'x', '1000'));
const score = fc.oneof(
  fc.integer({ min: -5, max: 5 }).map(String),
  fc.constantFrom(
    '0.5',
    '-2.5',
    '1e3',
    'inf',
    '-inf',
    '+inf',
    '0.1',
    '1.5e-7',
    'nan',
    'x',
    '',
    '1e400',
    ' 1',
    '0x1p3',
  ),
);
const scoreBound = fc.oneof(
  score,
  score.map((s) => `(${s}`),
  fc.constantFrom('-inf', '+inf', '(', '[a'),
);
/**
 * A first SSCAN/HSCAN/ZSCAN cursor: 0 as Redis's strtoul reads it, or one it
 * refuses. A cursor past 0 walks Redis's hash table, which no model repeats.
 */
const scanCursor = fc.oneof(
  { weight: 4, arbitrary: fc.constant('0') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '-0', '+0', '00', 'x', '-', ' 0', '0 ', '18446744073709551616'),
  },
);
const lexBound = fc.oneof(
  member.map((m) => `[${m}`),
  member.map((m) => `(${m}`),
  fc.constantFrom('-', '+', 'a', '', '[', '('),
);
const end = fc.constantFrom('LEFT', 'RIGHT', 'left', 'up');
const pattern = fc.constantFrom('*', 'a*', '?', '[a-c]*', '*\\*', '1*', '[^a]');

type Arb = fc.Arbitrary<string>;
function cmd(order: Order, name: string, ...parts: Arb[]): fc.Arbitrary<GenCommand> {
  return fc.tuple(...parts).map((args) => ({ args: [name, ...args], order }));
}
const ord = (name: string, ...parts: Arb[]): fc.Arbitrary<GenCommand> => cmd('ordered', name, ...parts);
/** A command with a variable tail of arguments. */
function tail(
  order: Order,
  name: string,
  head: Arb[],
  rest: Arb,
  min = 0,
  max = 4,
): fc.Arbitrary<GenCommand> {
  return fc
    .tuple(fc.tuple(...head), fc.array(rest, { minLength: min, maxLength: max }))
    .map(([h, r]): GenCommand => ({ args: [name, ...h, ...r], order }));
}
/** Optional words, each present or not, in a random order. */
function options(words: Arb[]): fc.Arbitrary<string[]> {
  return fc
    .tuple(...words.map((w) => fc.option(w, { nil: undefined })))
    .chain((picked) => fc.shuffledSubarray(picked.filter((w): w is string => w !== undefined)));
}
function withOpts(
  order: Order,
  name: string,
  head: Arb[],
  opts: fc.Arbitrary<string[]>,
): fc.Arbitrary<GenCommand> {
  return fc.tuple(fc.tuple(...head), opts).map(([h, o]): GenCommand => ({ args: [name, ...h, ...o], order }));
}
const numkeys = (keys: Arb, max = 3): fc.Arbitrary<string[]> =>
  fc.array(keys, { minLength: 1, maxLength: max }).map((ks) => [String(ks.length), ...ks]);

const lcsValue = fc.constantFrom('ohmytext', 'mynewtext', 'hello', 'yellow', 'abcabc', 'cab', '', 'aaa');
const lcsOpts: fc.Arbitrary<string[]> = fc
  .array(
    fc.constantFrom(
      ['LEN'],
      ['IDX'],
      ['idx'],
      ['WITHMATCHLEN'],
      ['MINMATCHLEN', '2'],
      ['MINMATCHLEN', '0'],
      ['MINMATCHLEN', '-1'],
      ['MINMATCHLEN', 'x'],
      ['MINMATCHLEN'],
      ['NOPE'],
    ),
    { maxLength: 3 },
  )
  .map((o) => o.flat());

export const strings = fc.oneof(
  ord('SET', key, lcsValue),
  fc
    .tuple(key, key, lcsOpts)
    .map(([k1, k2, o]): GenCommand => ({ args: ['LCS', k1, k2, ...o], order: 'ordered' })),
  ord('SET', key, value),
  ord('GET', key),
  ord('APPEND', key, value),
  ord('INCR', key),
  ord('INCRBY', key, int),
  ord('STRLEN', key),
  ord('GETRANGE', key, int, int),
  ord('SETRANGE', key, fc.integer({ min: -1, max: 8 }).map(String), value),
  ord('GETDEL', key),
  ord('GETEX', key),
  ord('GETEX', key, fc.constantFrom('PERSIST', 'EX', 'PX')),
  ord(
    'GETEX',
    key,
    fc.constantFrom('EX', 'PX', 'EXAT'),
    fc.constantFrom('100000', '0', '-1', 'x', '4102444800'),
  ),
  fc
    .tuple(key, value, fc.array(fc.tuple(key, value), { maxLength: 2 }))
    .map(([kk, v, more]): GenCommand => ({ args: ['MSETNX', kk, v, ...more.flat()], order: 'ordered' })),
);

const bitOffset = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map(String),
  // 4294967296 is the first offset past 512 MB; a valid one that far would make both sides allocate it
  fc.constantFrom('-1', 'x', '', '+1', '01', '4294967296', '9223372036854775808'),
);
const bitValue = fc.constantFrom('0', '1', '2', '-1', 'x', '');
const bitUnit = fc.constantFrom('BIT', 'BYTE', 'bit', 'x');
/** Strings with runs of set bits, where BITPOS 0 finds none. */
const bitString = fc.oneof(
  value,
  fc.constantFrom('\xff', '\xff\xff', '\xff\x00\xff', '\x80', '\x01\xfe', '\x00\x00'),
);

// Mostly valid fields, so a command gets past its first op often enough to
// reach the overflow rules; the invalid forms each still come up.
const fieldType = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('u1', 'u8', 'i8', 'i16', 'u63', 'i64', 'i1', 'u4', 'i5') },
  { weight: 1, arbitrary: fc.constantFrom('u0', 'u64', 'i65', 'x8', 'I8', 'i') },
);
const fieldOffset = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom('#0', '#1', '#3') },
  { weight: 1, arbitrary: fc.oneof(bitOffset, fc.constantFrom('#x', '#-1', '#', '#2305843009213693952')) },
);
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -300, max: 300 }).map(String) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '255',
      '256',
      '-129',
      '127',
      '-128',
      '-1000',
      '9223372036854775807',
      '-9223372036854775808',
      '4611686018427387904',
    ),
  },
  { weight: 1, arbitrary: int },
);
const fieldOp: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('GET', 'get'), fieldType, fieldOffset) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('SET', 'set'), fieldType, fieldOffset, fieldValue) },
  { weight: 3, arbitrary: fc.tuple(fc.constant('INCRBY'), fieldType, fieldOffset, fieldValue) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constant('OVERFLOW'), fc.constantFrom('WRAP', 'SAT', 'FAIL', 'fail', 'x')),
  },
  // a subcommand short of its arguments, or unknown: a syntax error
  { weight: 1, arbitrary: fc.constantFrom<string[]>(['GET', 'u8'], ['NOPE', 'u8', '0']) },
);
const bitfieldCmd = (name: string): fc.Arbitrary<GenCommand> =>
  fc
    .tuple(key, fc.array(fieldOp, { maxLength: 4 }))
    .map(([kk, ops]): GenCommand => ({ args: [name, kk, ...ops.flat()], order: 'ordered' }));

export const bitmaps = fc.oneof(
  bitfieldCmd('BITFIELD'),
  bitfieldCmd('BITFIELD'),
  bitfieldCmd('BITFIELD_RO'),
  ord('SETBIT', key, bitOffset, bitValue),
  ord('GETBIT', key, bitOffset),
  ord('BITCOUNT', key),
  ord('BITCOUNT', key, int),
  ord('BITCOUNT', key, int, int),
  ord('BITCOUNT', key, int, int, bitUnit),
  ord('BITPOS', key, bitValue),
  ord('BITPOS', key, bitValue, int),
  ord('BITPOS', key, bitValue, int, int),
  ord('BITPOS', key, bitValue, int, int, bitUnit),
  ord('BITPOS', key, bitValue, int, int, bitUnit, int),
  tail('ordered', 'BITOP', [fc.constantFrom('AND', 'OR', 'XOR', 'NOT', 'not', 'nand'), key], key, 1, 3),
  ord('SET', key, bitString),
  ord('APPEND', key, bitString),
);

// SORT over keys of its own, filled with elements whose order Redis fixes:
// no NUL bytes (strcoll stops at one, leaving ties to its hash tables).
const numElem = fc.constantFrom('3', '1', '2', '10', '-1', '1.5', '0x10', ' 7', '1e3', 'inf', '', '07');
const alphaElem = fc.constantFrom('a', 'b', 'B', 'aa', 'ab', '', '1', '10', '2', 'z ', '_');
const sortList = fc.constantFrom(k('srtN'), k('srtA'));
const sortAny = fc.constantFrom(k('srtN'), k('srtA'), k('srtS'), k('srtZ'), k('nosuch'), k('a'));
const sortFill = fc.oneof(
  fc.tuple(fc.array(numElem, { minLength: 1, maxLength: 4 })).map(([e]) => ['RPUSH', k('srtN'), ...e]),
  fc.tuple(fc.array(alphaElem, { minLength: 1, maxLength: 4 })).map(([e]) => ['RPUSH', k('srtA'), ...e]),
  fc.tuple(fc.array(alphaElem, { minLength: 1, maxLength: 4 })).map(([e]) => ['SADD', k('srtS'), ...e]),
  fc.tuple(fc.integer({ min: -3, max: 3 }), alphaElem).map(([sc, e]) => ['ZADD', k('srtZ'), String(sc), e]),
  fc.tuple(fc.oneof(numElem, alphaElem), numElem).map(([e, v]) => ['SET', k(`w_${e}`), v]),
  fc
    .tuple(fc.oneof(numElem, alphaElem), fc.oneof(numElem, alphaElem))
    .map(([e, v]) => ['HSET', k(`h_${e}`), 'f', v]),
);
const getPattern = fc.constantFrom('#', k('w_*'), k('h_*->f'), k('nope_*'), k('w_*->f'), 'const', k('h_*->'));
const sortBy = fc.constantFrom(k('w_*'), k('h_*->f'), k('nope_*'));
/** SORT's options; what would leave Redis's order to its hash tables is not drawn (see memory-sort.ts). */
const sortCmd = fc
  .record({
    name: fc.constantFrom('SORT', 'SORT_RO'),
    key: sortAny,
    listKey: sortList,
    by: fc.option(fc.oneof(sortBy, fc.constant('nosort')), { nil: undefined }),
    limit: fc.option(
      fc
        .tuple(fc.integer({ min: -2, max: 5 }), fc.integer({ min: -2, max: 5 }))
        .map(([a, b]) => ['LIMIT', String(a), String(b)]),
      { nil: undefined },
    ),
    gets: fc.array(getPattern, { maxLength: 2 }),
    dir: fc.constantFrom<string[]>([], ['ASC'], ['DESC'], ['desc']),
    alpha: fc.boolean(),
    store: fc.boolean(),
    bad: fc.constantFrom<string[]>([], [], [], [], ['LIMIT', 'x', '1'], ['NOPE'], ['STORE']),
  })
  .map((o): GenCommand => {
    // A constant BY keeps a list's or sorted set's order; a set's is its hash table's.
    const key = o.by === 'nosort' && o.key === k('srtS') ? o.listKey : o.key;
    const alphaBy = o.alpha && o.by !== undefined && o.by !== 'nosort';
    // Ties under ALPHA BY keep the input order only where it is a list's and no LIMIT cuts the sort.
    const by = alphaBy && (key !== o.listKey || o.limit !== undefined) ? undefined : o.by;
    const args = [o.name, key];
    if (by !== undefined) args.push('BY', by);
    if (o.limit !== undefined) args.push(...o.limit);
    for (const g of o.gets) args.push('GET', g);
    args.push(...o.dir);
    if (o.alpha) args.push('ALPHA');
    if (o.store) args.push('STORE', k('srtOut'));
    args.push(...o.bad);
    return { args, order: 'ordered' };
  });

export const sorting = fc.oneof(
  { weight: 3, arbitrary: sortFill.map((args): GenCommand => ({ args, order: 'ordered' })) },
  { weight: 4, arbitrary: sortCmd },
  { weight: 1, arbitrary: ord('LRANGE', fc.constant(k('srtOut')), fc.constant('0'), fc.constant('-1')) },
);

export const keys = fc.oneof(
  ord('TYPE', key),
  tail('ordered', 'DEL', [key], key, 0, 2),
  tail('ordered', 'EXISTS', [key], key, 0, 2),
  tail('ordered', 'TOUCH', [key], key, 0, 2),
  ord('EXPIRE', key, fc.constantFrom('100', '0', '-1', 'x')),
  ord('EXPIREAT', key, fc.constantFrom('1', '4102444800', 'x')),
  ord('PEXPIREAT', key, fc.constantFrom('1', '4102444800000')),
  cmd('clock', 'EXPIRETIME', key),
  // A relative TTL moves with the clock: a 1 ms XREAD BLOCK before it lasts up
  // to 100 ms on redis-server (its timer tick), a few on an embedded node.
  cmd('clock', 'TTL', key),
  ord('PERSIST', key),
  ord('RENAME', key, key),
  ord('RENAMENX', key, key),
  withOpts('ordered', 'COPY', [key, key], options([fc.constant('REPLACE')])),
  ord('DBSIZE'),
);

export const hashes = fc.oneof(
  tail('ordered', 'HSET', [hashKey, member, value], fc.constantFrom('f', 'v'), 0, 2),
  ord('HSETNX', hashKey, member, value),
  ord('HGET', hashKey, member),
  tail('ordered', 'HDEL', [hashKey, member], member, 0, 2),
  cmd('pairs', 'HGETALL', hashKey),
  cmd('unordered', 'HKEYS', hashKey),
  cmd('unordered', 'HVALS', hashKey),
  ord('HLEN', hashKey),
  ord('HEXISTS', hashKey, member),
  ord('HSTRLEN', hashKey, member),
  ord('HINCRBY', hashKey, member, int),
  ord('HINCRBYFLOAT', hashKey, member, fc.constantFrom('1.5', '-0.1', '10', 'x', 'inf')),
  tail('ordered', 'HMGET', [hashKey, member], member, 0, 2),
  cmd('pairs', 'HRANDFIELD', hashKey, fc.constant('1000'), fc.constant('WITHVALUES')),
  cmd('unordered', 'HRANDFIELD', hashKey, fc.constantFrom('1000', '0')),
  withOpts(
    'scan2',
    'HSCAN',
    [hashKey, scanCursor],
    options([pattern.map((p) => `MATCH ${p}`)]).map((o) => [
      ...o.flatMap((x) => x.split(' ')),
      'COUNT',
      '1000',
    ]),
  ),
);

export const lists = fc.oneof(
  tail('ordered', 'LPUSH', [listKey, value], value, 0, 3),
  tail('ordered', 'RPUSH', [listKey, value], value, 0, 3),
  tail('ordered', 'LPUSHX', [listKey, value], value, 0, 1),
  tail('ordered', 'RPUSHX', [listKey, value], value, 0, 1),
  ord('LPOP', listKey),
  ord('RPOP', listKey),
  ord('LPOP', listKey, smallCount),
  ord('RPOP', listKey, smallCount),
  ord('LLEN', listKey),
  ord('LRANGE', listKey, int, int),
  ord('LINDEX', listKey, int),
  ord('LSET', listKey, int, value),
  ord('LINSERT', listKey, fc.constantFrom('BEFORE', 'AFTER', 'x'), value, value),
  ord('LREM', listKey, int, value),
  ord('LTRIM', listKey, int, int),
  withOpts(
    'ordered',
    'LPOS',
    [listKey, value],
    options([
      fc.constantFrom('1', '2', '-1', '-2', '0', 'x').map((r) => `RANK ${r}`),
      fc.constantFrom('0', '1', '2', '-1').map((c) => `COUNT ${c}`),
      fc.constantFrom('0', '2', '-1').map((m) => `MAXLEN ${m}`),
    ]).map((o) => o.flatMap((x) => x.split(' '))),
  ),
  ord('LMOVE', listKey, listKey, end, end),
  ord('RPOPLPUSH', listKey, listKey),
  fc
    .tuple(numkeys(listKey), end, fc.option(fc.constantFrom('1', '2', '0', 'x'), { nil: undefined }))
    .map(([nk, e, c]): GenCommand => ({
      args: ['LMPOP', ...nk, e, ...(c === undefined ? [] : ['COUNT', c])],
      order: 'ordered',
    })),
  ord('LMPOP', fc.constantFrom('0', '5', 'x'), listKey, end),
);

export const sets = fc.oneof(
  tail('ordered', 'SADD', [setKey, member], member, 0, 3),
  tail('ordered', 'SREM', [setKey, member], member, 0, 2),
  cmd('unordered', 'SMEMBERS', setKey),
  ord('SISMEMBER', setKey, member),
  tail('ordered', 'SMISMEMBER', [setKey, member], member, 0, 2),
  ord('SCARD', setKey),
  ord('SMOVE', setKey, setKey, member),
  cmd('unordered', 'SPOP', setKey, fc.constantFrom('1000', '0', '-1', 'x')),
  cmd('unordered', 'SRANDMEMBER', setKey, fc.constantFrom('1000', '0', 'x')),
  tail('unordered', 'SINTER', [setKey], setKey, 0, 2),
  tail('unordered', 'SUNION', [setKey], setKey, 0, 2),
  tail('unordered', 'SDIFF', [setKey], setKey, 0, 2),
  tail('ordered', 'SINTERSTORE', [setKey, setKey], setKey, 0, 2),
  tail('ordered', 'SUNIONSTORE', [setKey, setKey], setKey, 0, 2),
  tail('ordered', 'SDIFFSTORE', [setKey, setKey], setKey, 0, 2),
  fc
    .tuple(numkeys(setKey), fc.option(fc.constantFrom('0', '1', '2', '-1'), { nil: undefined }))
    .map(([nk, l]): GenCommand => ({
      args: ['SINTERCARD', ...nk, ...(l === undefined ? [] : ['LIMIT', l])],
      order: 'ordered',
    })),
  ord('SINTERCARD', fc.constantFrom('0', '3', 'x'), setKey),
  withOpts(
    'scan1',
    'SSCAN',
    [setKey, scanCursor],
    options([pattern.map((p) => `MATCH ${p}`)]).map((o) => [
      ...o.flatMap((x) => x.split(' ')),
      'COUNT',
      '1000',
    ]),
  ),
);

const zaddFlags = options([
  fc.constantFrom('NX', 'XX'),
  fc.constantFrom('GT', 'LT'),
  fc.constant('CH'),
  fc.constant('INCR'),
]);
const rangeOpts = options([
  fc.constant('WITHSCORES'),
  fc.constant('REV'),
  fc.tuple(int, int).map(([o, c]) => `LIMIT ${o} ${c}`),
]).map((o) => o.flatMap((x) => (x === '' ? [] : x.split(' '))));

export const zsets = fc.oneof(
  fc
    .tuple(zKey, zaddFlags, fc.array(fc.tuple(score, member), { minLength: 1, maxLength: 3 }))
    .map(([kk, f, pairs]): GenCommand => ({ args: ['ZADD', kk, ...f, ...pairs.flat()], order: 'ordered' })),
  ord('ZINCRBY', zKey, score, member),
  tail('ordered', 'ZREM', [zKey, member], member, 0, 2),
  ord('ZCARD', zKey),
  ord('ZSCORE', zKey, member),
  tail('ordered', 'ZMSCORE', [zKey, member], member, 0, 2),
  ord('ZRANK', zKey, member),
  ord('ZREVRANK', zKey, member),
  ord('ZCOUNT', zKey, scoreBound, scoreBound),
  ord('ZLEXCOUNT', zKey, lexBound, lexBound),
  withOpts('ordered', 'ZRANGE', [zKey, int, int], rangeOpts),
  withOpts('ordered', 'ZRANGE', [zKey, scoreBound, scoreBound, fc.constant('BYSCORE')], rangeOpts),
  withOpts('ordered', 'ZRANGE', [zKey, lexBound, lexBound, fc.constant('BYLEX')], rangeOpts),
  withOpts(
    'ordered',
    'ZRANGESTORE',
    [zKey, zKey, scoreBound, scoreBound, fc.constantFrom('BYSCORE', '')],
    rangeOpts,
  ).map((c) => ({ ...c, args: c.args.filter((a) => a !== '') })),
  withOpts('ordered', 'ZRANGEBYSCORE', [zKey, scoreBound, scoreBound], rangeOpts),
  withOpts('ordered', 'ZREVRANGEBYSCORE', [zKey, scoreBound, scoreBound], rangeOpts),
  withOpts('ordered', 'ZRANGEBYLEX', [zKey, lexBound, lexBound], rangeOpts),
  withOpts('ordered', 'ZREVRANGEBYLEX', [zKey, lexBound, lexBound], rangeOpts),
  withOpts('ordered', 'ZREVRANGE', [zKey, int, int], options([fc.constant('WITHSCORES')])),
  ord('ZREMRANGEBYRANK', zKey, int, int),
  ord('ZREMRANGEBYSCORE', zKey, scoreBound, scoreBound),
  ord('ZREMRANGEBYLEX', zKey, lexBound, lexBound),
  ord('ZPOPMIN', zKey),
  ord('ZPOPMAX', zKey, smallCount),
  fc
    .tuple(
      numkeys(zKey),
      fc.constantFrom('MIN', 'MAX', 'x'),
      fc.option(fc.constantFrom('1', '2', '0'), { nil: undefined }),
    )
    .map(([nk, w, c]): GenCommand => ({
      args: ['ZMPOP', ...nk, w, ...(c === undefined ? [] : ['COUNT', c])],
      order: 'ordered',
    })),
  fc
    .tuple(
      fc.constantFrom('ZUNION', 'ZINTER', 'ZDIFF', 'ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE', 'ZINTERCARD'),
      zKey,
      fc.array(zKey, { minLength: 1, maxLength: 3 }),
      options([
        fc.constant('WITHSCORES'),
        fc.constantFrom('SUM', 'MIN', 'MAX', 'x').map((a) => `AGGREGATE ${a}`),
        fc.constantFrom('2', '0', '-1', 'x').map((w) => `WEIGHTS ${w}`),
        fc.constantFrom('1', '0', '-1').map((l) => `LIMIT ${l}`),
      ]),
    )
    .map(([name, dst, srcs, opts]): GenCommand => {
      const store = name.endsWith('STORE');
      const flat = opts.flatMap((o) =>
        o.startsWith('WEIGHTS') ? ['WEIGHTS', ...srcs.map(() => o.split(' ')[1]!)] : o.split(' '),
      );
      return {
        args: [name, ...(store ? [dst] : []), String(srcs.length), ...srcs, ...flat],
        order: 'ordered',
      };
    }),
  cmd('unordered', 'ZRANDMEMBER', zKey, fc.constantFrom('1000', '0', 'x')),
  cmd('pairs', 'ZRANDMEMBER', zKey, fc.constant('1000'), fc.constant('WITHSCORES')),
  withOpts(
    'scan2',
    'ZSCAN',
    [zKey, scanCursor],
    options([pattern.map((p) => `MATCH ${p}`)]).map((o) => [
      ...o.flatMap((x) => x.split(' ')),
      'COUNT',
      '1000',
    ]),
  ),
);

const streamKey = fc.constantFrom(k('x1'), k('x2'), k('a'), k('l1'));
/** Explicit IDs only: `*` takes the wall clock, which two servers never read alike. */
const streamId = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 }))
      .map(([m, q]) => `${m}-${q}`),
  },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 60 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '0-0',
      '0-0',
      '1-1',
      'x',
      '-1',
      '1-x',
      '01-1',
      '+1',
      ' 1',
      '18446744073709551615-18446744073709551615',
      '18446744073709551616',
    ),
  },
);
/**
 * XADD's ID: mostly `@next`, which {@link withStreamIds} turns into the next of
 * a rising sequence (random IDs would mostly be refused as too small).
 */
const addId = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('@next', '@next', '@next-*', '@ms') },
  { weight: 2, arbitrary: streamId },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 }).map((m) => `${m}-*`) },
);
const rangeEnd = fc.oneof(
  { weight: 6, arbitrary: streamId },
  { weight: 4, arbitrary: fc.constantFrom('-', '+') },
  { weight: 2, arbitrary: streamId.map((i) => `(${i}`) },
  { weight: 1, arbitrary: fc.constantFrom('(-', '(+', '(') },
);
const trimOpts = fc
  .tuple(
    fc.constantFrom('MAXLEN', 'MINID', 'maxlen'),
    fc.constantFrom([], ['~'], ['=']),
    fc.constantFrom('0', '1', '2', '5', '8', '20', '0', '3', '-1', 'x'),
    fc.constantFrom([], [], [], [], [], ['LIMIT', '1'], ['LIMIT', '0'], ['LIMIT', '-1']),
  )
  .map(([w, approx, n, limit]) => [
    w,
    ...approx,
    w.toUpperCase() === 'MINID' && n !== 'x' && n !== '-1' ? `${n}-1` : n,
    ...limit,
  ]);
/** Group commands mostly meet one key and one group, so reads, acks and claims find each other's entries. */
const groupKey = fc.oneof(
  { weight: 6, arbitrary: fc.constant(k('x1')) },
  { weight: 1, arbitrary: fc.constantFrom(k('x2'), k('a')) },
);
const group = fc.oneof(
  { weight: 5, arbitrary: fc.constant('g1') },
  { weight: 1, arbitrary: fc.constant('g2') },
);
/** IDs a group has likely delivered: the first entries `@next` made. */
const pendingId = fc.oneof(
  { weight: 4, arbitrary: fc.constant('@early') },
  { weight: 1, arbitrary: streamId },
);
const consumer = fc.constantFrom('c1', 'c2');
const streamFields = fc
  .array(fc.tuple(fc.constantFrom('f', 'g', '1', 'x'), value), { minLength: 1, maxLength: 3 })
  .map((pairs) => pairs.flat());

/**
 * Gives each `@next` (`@next-*`, `@ms`) XADD ID the next of a rising sequence,
 * `n-1` (`n-*`, `n`): n counts up across the sequence, past any explicit ID
 * an XADD or XSETID before it named, so it is mostly above the stream's top.
 * `@early` becomes one of the first IDs so given: what a group reading from
 * the start has delivered, for XACK and XCLAIM to find pending.
 */
export function withStreamIds(cmds: readonly GenCommand[]): GenCommand[] {
  let n = 0;
  /** Per key, the IDs `@next` gave its XADDs, oldest first. */
  const given = new Map<string, string[]>();
  return cmds.map((c, at) => {
    if (c.args[0] === 'XADD' || c.args[0] === 'XSETID') {
      for (const a of c.args) {
        const m = /^(\d{1,3})(?:-\d+)?$/.exec(a);
        if (m !== null) n = Math.max(n, Number(m[1]));
      }
    }
    if (!c.args.some((a) => a.startsWith('@'))) return c;
    const key = c.args[1] ?? '';
    const early = given.get(key) ?? [];
    const args = c.args.map((a, i) => {
      if (a === '@early') return early[(at + i) % Math.min(early.length, 6)] ?? '1-1';
      if (a !== '@next' && a !== '@next-*' && a !== '@ms') return a;
      n++;
      given.set(key, [...early, a === '@next' ? `${n}-1` : `${n}-0`]);
      return a === '@next' ? `${n}-1` : a === '@next-*' ? `${n}-*` : String(n);
    });
    return { ...c, args };
  });
}

/** Streams and their consumer groups (IDs explicit). */
export const streams = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        streamKey,
        fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          { weight: 1, arbitrary: fc.constant('NOMKSTREAM') },
        ),
        fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: trimOpts }),
        addId,
        streamFields,
      )
      .map(([kk, mk, trim, id, f]): GenCommand => ({
        args: ['XADD', kk, ...(mk === undefined ? [] : [mk]), ...(trim ?? []), id, ...f],
        order: 'ordered',
      })),
  },
  { weight: 1, arbitrary: ord('XADD', streamKey, addId, fc.constant('f')) },
  {
    weight: 2,
    arbitrary: withOpts(
      'ordered',
      'XRANGE',
      [streamKey, rangeEnd, rangeEnd],
      options([fc.constantFrom('COUNT 1', 'COUNT 2', 'COUNT 0', 'COUNT -1', 'COUNT x')]).map((o) =>
        o.flatMap((x) => x.split(' ')),
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: withOpts(
      'ordered',
      'XREVRANGE',
      [streamKey, rangeEnd, rangeEnd],
      options([fc.constantFrom('COUNT 1', 'COUNT 3', 'COUNT 0')]).map((o) => o.flatMap((x) => x.split(' '))),
    ),
  },
  { weight: 1, arbitrary: ord('XLEN', streamKey) },
  { weight: 1, arbitrary: ord('XRANGE', streamKey, fc.constant('-'), fc.constant('+')) },
  {
    weight: 1,
    arbitrary: ord(
      'XREVRANGE',
      streamKey,
      fc.constant('+'),
      fc.constant('-'),
      fc.constant('COUNT'),
      fc.constantFrom('1', '2'),
    ),
  },
  { weight: 2, arbitrary: tail('ordered', 'XDEL', [streamKey, streamId], streamId, 0, 2) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(streamKey, trimOpts)
      .map(([kk, t]): GenCommand => ({ args: ['XTRIM', kk, ...t], order: 'ordered' })),
  },
  {
    weight: 1,
    arbitrary: withOpts(
      'ordered',
      'XSETID',
      [streamKey, fc.oneof(streamId, fc.constantFrom('200-1', '300'))],
      options([
        streamId.map((i) => `MAXDELETEDID ${i}`),
        fc.constantFrom('0', '3', '100', '-1').map((n) => `ENTRIESADDED ${n}`),
      ]).map((o) => o.flatMap((x) => x.split(' '))),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          [],
          [],
          ['COUNT', '1'],
          ['COUNT', '2'],
          ['COUNT', '0'],
          ['COUNT', 'x'],
          ['BLOCK', '1'],
        ),
        fc.array(
          fc.tuple(
            streamKey,
            fc.oneof({ weight: 8, arbitrary: streamId }, { weight: 1, arbitrary: fc.constantFrom('$', '>') }),
          ),
          {
            minLength: 1,
            maxLength: 2,
          },
        ),
      )
      .map(([o, pairs]): GenCommand => ({
        args: ['XREAD', ...o, 'STREAMS', ...pairs.map((p) => p[0]), ...pairs.map((p) => p[1])],
        order: 'ordered',
      })),
  },
  { weight: 1, arbitrary: ord('XINFO', fc.constant('STREAM'), streamKey) },
  // consumer groups, in the forms whose replies carry no clock (no idle times)
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        groupKey,
        group,
        fc.oneof(streamId, fc.constantFrom('$', '0', '0', '0', '-', '+')),
        fc.constantFrom(
          [],
          ['MKSTREAM'],
          ['MKSTREAM'],
          ['MKSTREAM'],
          ['ENTRIESREAD', '2'],
          ['ENTRIESREAD', 'x'],
          ['MKSTREAM', 'ENTRIESREAD', '0'],
        ),
      )
      .map(([kk, g, id, o]): GenCommand => ({
        args: ['XGROUP', 'CREATE', kk, g, id, ...o],
        order: 'ordered',
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        groupKey,
        group,
        fc.oneof(streamId, fc.constantFrom('$', '0')),
        fc.constantFrom([], ['ENTRIESREAD', '1']),
      )
      .map(([kk, g, id, o]): GenCommand => ({
        args: ['XGROUP', 'SETID', kk, g, id, ...o],
        order: 'ordered',
      })),
  },
  {
    weight: 1,
    arbitrary: ord(
      'XGROUP',
      fc.constantFrom('DESTROY', 'CREATECONSUMER', 'DELCONSUMER'),
      groupKey,
      group,
      consumer,
    ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        group,
        consumer,
        fc.constantFrom([], [], ['COUNT', '1'], ['COUNT', '2'], ['NOACK'], ['BLOCK', '1'], ['COUNT', 'x']),
        fc.array(
          fc.tuple(
            groupKey,
            fc.oneof(
              { weight: 4, arbitrary: fc.constant('>') },
              { weight: 2, arbitrary: streamId },
              { weight: 1, arbitrary: fc.constant('$') },
            ),
          ),
          {
            minLength: 1,
            maxLength: 2,
          },
        ),
      )
      .map(([g, c, o, pairs]): GenCommand => ({
        args: [
          'XREADGROUP',
          'GROUP',
          g,
          c,
          ...o,
          'STREAMS',
          ...pairs.map((p) => p[0]),
          ...pairs.map((p) => p[1]),
        ],
        order: 'ordered',
      })),
  },
  { weight: 2, arbitrary: tail('ordered', 'XACK', [groupKey, group, pendingId], pendingId, 0, 2) },
  { weight: 2, arbitrary: ord('XPENDING', groupKey, group) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        groupKey,
        group,
        consumer,
        fc.array(pendingId, { minLength: 1, maxLength: 3 }),
        fc.constantFrom([], ['JUSTID'], ['FORCE'], ['RETRYCOUNT', '3']),
      )
      .map(([kk, g, c, ids, o]): GenCommand => ({
        args: ['XCLAIM', kk, g, c, '0', ...ids, ...o],
        order: 'ordered',
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        groupKey,
        group,
        consumer,
        fc.oneof(streamId, fc.constantFrom('0', '-')),
        fc.constantFrom([], ['COUNT', '1'], ['COUNT', '0'], ['JUSTID']),
      )
      .map(([kk, g, c, start, o]): GenCommand => ({
        args: ['XAUTOCLAIM', kk, g, c, '0', start, ...o],
        order: 'ordered',
      })),
  },
  { weight: 1, arbitrary: ord('XINFO', fc.constant('GROUPS'), groupKey) },
  { weight: 1, arbitrary: ord('XGROUP', fc.constant('DESTROY'), groupKey, fc.constant('g2')) },
  { weight: 1, arbitrary: ord('TYPE', streamKey) },
);

const hllKey = fc.constantFrom(k('p1'), k('p2'), k('p3'), k('a'));
/** Elements: a few shared ones (so adds repeat) and fresh ones (so registers fill, and sparse turns dense). */
const hllElement = fc.oneof(
  member,
  fc.integer({ min: 0, max: 1_000_000 }).map((n) => `e${n}`),
);

/** HyperLogLogs: strings in Redis's own encoding, so GET and the counts must agree byte for byte. */
export const hyperloglog = fc.oneof(
  { weight: 6, arbitrary: tail('ordered', 'PFADD', [hllKey], hllElement, 0, 40) },
  { weight: 1, arbitrary: tail('ordered', 'PFADD', [hllKey], hllElement, 200, 400) },
  { weight: 3, arbitrary: tail('ordered', 'PFCOUNT', [hllKey], hllKey, 0, 2) },
  { weight: 2, arbitrary: tail('ordered', 'PFMERGE', [hllKey], hllKey, 0, 2) },
  { weight: 3, arbitrary: ord('GET', hllKey) },
  { weight: 1, arbitrary: ord('SET', hllKey, value) },
  // damage: an encoding byte past dense and sparse; damaged opcodes are in the
  // fixed corners (embedded.test.ts), since Redis reads past a cut opcode's end
  { weight: 1, arbitrary: ord('SETRANGE', hllKey, fc.constant('4'), fc.constantFrom('x', '\x02')) },
);

const geoKey = fc.constantFrom(k('g1'), k('g2'), k('a'), k('z1'));
const lon = fc.constantFrom('13.361389', '15.087269', '-122.4194', '0', '180', '-180', '181', 'x', '2.3522');
const lat = fc.constantFrom(
  '38.115556',
  '37.502669',
  '37.7749',
  '0',
  '85.05112878',
  '85.1',
  '-90',
  'x',
  '48.8566',
);
const place = fc.constantFrom('Palermo', 'Catania', 'SF', 'Paris', 'a', 'nowhere');
const unit = fc.constantFrom('m', 'km', 'mi', 'ft', 'KM', 'x');
const geoOpts = options([
  fc.constant('WITHCOORD'),
  fc.constant('WITHDIST'),
  fc.constant('WITHHASH'),
  fc.constantFrom('ASC', 'DESC'),
  fc.constantFrom('COUNT 1', 'COUNT 2', 'COUNT 1 ANY', 'COUNT 0', 'COUNT x'),
]).map((o) => o.flatMap((x) => x.split(' ')));

/**
 * Geo. Without ASC / DESC a search lists members in Redis's own order (cell
 * by cell, each cell in score order), and COUNT's partial sort leaves equal
 * distances in pqsort's order: embedded nodes reproduce both, so 'ordered'.
 */
export const geo = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        geoKey,
        fc.constantFrom([], [], ['NX'], ['XX'], ['CH'], ['NX', 'XX']),
        fc.array(fc.tuple(lon, lat, place), { minLength: 1, maxLength: 3 }),
      )
      .map(([kk, o, pts]): GenCommand => ({ args: ['GEOADD', kk, ...o, ...pts.flat()], order: 'ordered' })),
  },
  { weight: 2, arbitrary: tail('ordered', 'GEOPOS', [geoKey, place], place, 0, 2) },
  { weight: 2, arbitrary: tail('ordered', 'GEOHASH', [geoKey, place], place, 0, 2) },
  { weight: 2, arbitrary: tail('ordered', 'GEODIST', [geoKey, place, place], unit, 0, 1) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        geoKey,
        fc.oneof(
          place.map((m) => ['FROMMEMBER', m]),
          fc.tuple(lon, lat).map(([x, y]) => ['FROMLONLAT', x, y]),
        ),
        fc.oneof(
          fc.tuple(fc.constantFrom('200', '500', '0', '-1'), unit).map(([r, u]) => ['BYRADIUS', r, u]),
          fc
            .tuple(fc.constantFrom('400', '1000'), fc.constantFrom('400', '50'), unit)
            .map(([w, h, u]) => ['BYBOX', w, h, u]),
        ),
        geoOpts,
      )
      .map(([kk, from, by, o]): GenCommand => ({
        args: ['GEOSEARCH', kk, ...from, ...by, ...o],
        order: 'ordered',
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        geoKey,
        geoKey,
        place,
        fc.constantFrom('200', '1000'),
        unit,
        fc.constantFrom([], ['STOREDIST'], ['ASC', 'COUNT', '1']),
      )
      .map(([dst, src, m, r, u, o]): GenCommand => ({
        args: ['GEOSEARCHSTORE', dst, src, 'FROMMEMBER', m, 'BYRADIUS', r, u, ...o],
        order: 'ordered',
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('GEORADIUS', 'GEORADIUS_RO'),
        geoKey,
        lon,
        lat,
        fc.constantFrom('200', '1000'),
        unit,
        geoOpts,
      )
      .map(([name, kk, x, y, r, u, o]): GenCommand => ({
        args: [name, kk, x, y, r, u, ...o],
        order: 'ordered',
      })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        geoKey,
        place,
        fc.constantFrom('200', '1000'),
        unit,
        geoKey,
        fc.constantFrom('STORE', 'STOREDIST'),
      )
      .map(([kk, m, r, u, dst, store]): GenCommand => ({
        args: ['GEORADIUSBYMEMBER', kk, m, r, u, store, dst],
        order: 'ordered',
      })),
  },
  {
    weight: 1,
    arbitrary: ord('ZRANGE', geoKey, fc.constant('0'), fc.constant('-1'), fc.constant('WITHSCORES')),
  },
);

/** Blocking pops that find data or time out at once (a short timeout on Redis; non-blocking on the node). */
export const blocking = fc.oneof(
  tail('ordered', 'BLPOP', [listKey], listKey, 0, 1).map((c) => ({ ...c, args: [...c.args, '0.001'] })),
  tail('ordered', 'BRPOP', [listKey], listKey, 0, 1).map((c) => ({ ...c, args: [...c.args, '0.001'] })),
  ord('BLMOVE', listKey, listKey, end, end, fc.constantFrom('0.001', '-1', 'x')),
  tail('ordered', 'BZPOPMIN', [zKey], zKey, 0, 1).map((c) => ({ ...c, args: [...c.args, '0.001'] })),
  tail('ordered', 'BZPOPMAX', [zKey], zKey, 0, 1).map((c) => ({ ...c, args: [...c.args, '0.001'] })),
  fc
    .tuple(numkeys(zKey), fc.constantFrom('MIN', 'MAX'))
    .map(([nk, w]): GenCommand => ({ args: ['BZMPOP', '0.001', ...nk, w], order: 'ordered' })),
);

/** Every group, weighted toward the new types. */
export const anyCommand = fc.oneof(
  { arbitrary: strings, weight: 1 },
  { arbitrary: bitmaps, weight: 1 },
  { arbitrary: streams, weight: 2 },
  { arbitrary: hyperloglog, weight: 1 },
  { arbitrary: keys, weight: 2 },
  { arbitrary: hashes, weight: 2 },
  { arbitrary: lists, weight: 3 },
  { arbitrary: sets, weight: 3 },
  { arbitrary: zsets, weight: 5 },
);

/**
 * ZUNION / ZINTER aggregates where the IEEE corners show: -0 against 0 under
 * MIN and MAX (Redis keeps the score it has when the two compare equal), and
 * inf against -inf under SUM (Redis answers 0), with weights that make them.
 * `a` and `b` name the two sorted sets: one shard's keys or two shards'.
 */
export function zsetAggregateCorners(a: string, b: string): string[][] {
  const out: string[][] = [
    ['ZADD', a, '-1', 'm1', '0', 'm2', 'inf', 'm3', '-inf', 'm4', '2', 'm5'],
    ['ZADD', b, '0.5', 'm1', '-0', 'm2', '-inf', 'm3', 'inf', 'm4', '3', 'm6'],
  ];
  for (const op of ['ZUNION', 'ZINTER'])
    for (const how of ['SUM', 'MIN', 'MAX'])
      for (const w of [
        ['0', '0'],
        ['1', '1'],
        ['-1', '1'],
        ['1', '-0'],
      ])
        out.push([op, '2', a, b, 'WEIGHTS', ...w, 'AGGREGATE', how, 'WITHSCORES']);
  return out;
}
