/**
 * RESP3 clients (go-redis v9, Lettuce, redis-py with protocol=3) through
 * hotshard get the reply types redis-server 7.0 gives them after HELLO 3:
 * sets, maps, doubles and [member, score] pairs, also for what the router
 * computes across shards, for a transaction's replies and for blocking pops.
 * The random sequences of test/differential cover the common commands; these
 * are the ones they do not draw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { canonical, parseResp, type Node, type Order } from '../differential/canonical.js';
import { RespPipe } from '../differential/resp-pipe.js';

const hasRedis = requireBinary('redis-server', 'RESP3 reply shapes against redis-server');

/** Commands and how their replies compare; keys without a common hash tag land on several shards. Embedded nodes have no streams nor LCS. */
const SETUP: string[][] = [
  ['SADD', 'sa', 'x', 'y', 'z'],
  ['SADD', 'sb', 'y', 'z', 'w'],
  ['ZADD', 'za', '1', 'a', '2.5', 'b', '0.1', 'c'],
  ['ZADD', 'zb', '3', 'b', '4', 'd'],
  ['HSET', 'h', 'f', 'v', 'g', 'w'],
  ['SET', '{l}a', 'ohmytext'],
  ['SET', '{l}b', 'mynewtext'],
  ['XADD', 'st', '1-1', 'f', 'v'],
  ['XADD', 'st', '1-2', 'g', 'w'],
  ['XGROUP', 'CREATE', 'st', 'grp', '0'],
  ['RPUSH', 'l', 'a'],
];
const REDIS_ONLY = new Set(['XADD', 'XGROUP', 'XREAD', 'XREADGROUP', 'XINFO', 'LCS']);
const CASES: [string[], Order][] = [
  [['SINTER', 'sa', 'sb'], 'unordered'],
  [['SUNION', 'sa', 'sb'], 'unordered'],
  [['SDIFF', 'sa', 'sb'], 'unordered'],
  [['ZUNION', '2', 'za', 'zb', 'WITHSCORES'], 'ordered'],
  [['ZINTER', '2', 'za', 'zb', 'WITHSCORES'], 'ordered'],
  [['ZDIFF', '2', 'za', 'zb', 'WITHSCORES'], 'ordered'],
  [['ZUNION', '2', 'za', 'zb'], 'ordered'],
  [['ZSCORE', 'za', 'c'], 'ordered'],
  [['ZRANGE', 'za', '0', '-1', 'WITHSCORES'], 'ordered'],
  [['ZRANDMEMBER', 'za', '10', 'WITHSCORES'], 'pairs'],
  [['HRANDFIELD', 'h', '10', 'WITHVALUES'], 'pairs'],
  [['LCS', '{l}a', '{l}b', 'IDX'], 'ordered'],
  [['XREAD', 'COUNT', '5', 'STREAMS', 'st', '0'], 'ordered'],
  [['XREADGROUP', 'GROUP', 'grp', 'c1', 'COUNT', '1', 'STREAMS', 'st', '>'], 'ordered'],
  [['XINFO', 'GROUPS', 'st'], 'ordered'],
  [['XINFO', 'CONSUMERS', 'st', 'grp'], 'ordered'],
  [['XINFO', 'STREAM', 'st'], 'ordered'],
  [['XINFO', 'STREAM', 'st', 'FULL'], 'ordered'],
  [['BZPOPMIN', 'za', '1'], 'ordered'],
  [['BZMPOP', '1', '1', 'za', 'MAX', 'COUNT', '2'], 'ordered'],
  [['ZPOPMAX', 'zb'], 'ordered'],
  [['BLPOP', 'l', '1'], 'ordered'],
  [['HGETALL', 'h'], 'ordered'],
];
/** A transaction: its replies take the shapes the commands would take alone. */
const TRANSACTION: string[][] = [
  ['MULTI'],
  ['ZSCORE', '{t}z', 'a'],
  ['SMEMBERS', '{t}s'],
  ['HGETALL', '{t}h'],
  ['EXEC'],
];
const TRANSACTION_SETUP: string[][] = [
  ['ZADD', '{t}z', '0.5', 'a'],
  ['SADD', '{t}s', 'm'],
  ['HSET', '{t}h', 'f', 'v'],
];

/** XINFO's integers (seen-time, idle ms) differ between two servers; their types do not. */
function typesOnly(n: Node): Node {
  if (typeof n === 'string') return /^:\d+$/.test(n) ? ':<int>' : n;
  return n.map(typesOnly);
}

describe.skipIf(!hasRedis)('RESP3 reply shapes', () => {
  let redis: RedisProcess;
  const routers: { name: string; t: TestHotshard }[] = [];
  beforeAll(async () => {
    redis = await startRedis();
    for (const backend of ['memory', 'redis'] as const)
      routers.push({ name: backend, t: await startTestHotshard({ backend, automation: 'manual' }) });
  }, 60_000);
  afterAll(async () => {
    for (const r of routers) await r.t.stop();
    await redis.stop();
  });

  /** The replies to `commands` after HELLO 3 on a new connection. */
  async function run(port: number, commands: string[][]): Promise<Buffer[]> {
    const pipe = await RespPipe.open(port);
    try {
      const replies = await pipe.batch([['HELLO', '3'], ...commands]);
      return replies.slice(1);
    } finally {
      pipe.close();
    }
  }

  for (const target of ['memory', 'redis'] as const) {
    it(`${target} shards: gathered, stream, blocking and other replies have Redis's RESP3 types`, async () => {
      const port = routers.find((r) => r.name === target)!.t.port;
      const embedded = target === 'memory';
      const setup = SETUP.filter((c) => !(embedded && REDIS_ONLY.has(c[0]!)));
      const cases = CASES.filter(([c]) => !(embedded && REDIS_ONLY.has(c[0]!)));
      const want = await run(redis.port, [['FLUSHALL'], ...setup, ...cases.map(([c]) => c)]);
      const got = await run(port, [...setup, ...cases.map(([c]) => c)]);
      want.shift();
      cases.forEach(([command, order], i) => {
        const at = setup.length + i;
        const form = (b: Buffer): Node => {
          const n = canonical(parseResp(b), order);
          return command[0] === 'XINFO' ? typesOnly(n) : n;
        };
        expect(form(got[at]!), command.join(' ')).toEqual(form(want[at]!));
      });
      // the shapes differ from RESP2 (a test that passed on RESP2 replies would prove nothing)
      expect(got[setup.length]!.toString('latin1', 0, 1)).toBe('~');
    });

    it(`${target} shards: INFO, CLIENT INFO and CLIENT LIST are verbatim text, as on Redis`, async () => {
      const port = routers.find((r) => r.name === target)!.t.port;
      const commands = [
        ['INFO', 'server'],
        ['CLIENT', 'INFO'],
        ['CLIENT', 'LIST'],
      ];
      const want = await run(redis.port, commands);
      const got = await run(port, commands);
      got.forEach((reply, i) => {
        const text = reply.toString('latin1');
        expect(text[0], commands[i]!.join(' ')).toBe(want[i]!.toString('latin1', 0, 1));
        expect(text).toMatch(/^=\d+\r\ntxt:/);
      });
      expect(got[0]!.toString()).toContain('hotshard_version:');
    });

    it(`${target} shards: a transaction's replies have the shapes of the commands alone`, async () => {
      const port = routers.find((r) => r.name === target)!.t.port;
      const want = await run(redis.port, [['FLUSHALL'], ...TRANSACTION_SETUP, ...TRANSACTION]);
      const got = await run(port, [...TRANSACTION_SETUP, ...TRANSACTION]);
      expect(parseResp(got[got.length - 1]!)).toEqual(parseResp(want[want.length - 1]!));
    });
  }
});
