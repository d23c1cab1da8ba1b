/**
 * Multi-key commands whose keys live on several nodes, through hotshard over
 * 4 redis-server nodes, compared with one plain redis-server holding every
 * key: reads are gathered to Redis's answer (SINTER ... ZUNION, PFCOUNT by
 * merging the HLLs in the router), writes across shards are refused with the
 * hash-tag fix and forwarded unchanged on one shard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { exchange } from './differential.js';

/** The text of an error reply; fails the test on anything else. */
const errorOf = (r: unknown): string => {
  expect(r).toHaveProperty('error');
  return (r as { error: string }).error;
};

const hasRedis = requireBinary('redis-server', 'multi-key commands compared with redis-server');

describe.skipIf(!hasRedis)('multi-shard commands over 4 redis-server nodes', () => {
  let t: TestHotshard;
  let redis: RedisProcess;
  beforeAll(async () => {
    [t, redis] = await Promise.all([startTestHotshard({ backend: 'redis', redisNodes: 4 }), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([t?.stop(), redis?.stop()]);
  });

  const nodeOf = (key: string): string => {
    const table = t.hs.router.table;
    return table.shards[table.indexFor(Buffer.from(key))]!.node;
  };
  /** `n` keys named `<prefix>:<i>`, each on a node none of the others is on. */
  const spread = (prefix: string, n: number): string[] => {
    const out: string[] = [];
    const seen = new Set<string>();
    for (let i = 0; out.length < n && i < 10_000; i++) {
      const key = `${prefix}:${i}`;
      if (seen.has(nodeOf(key))) continue;
      seen.add(nodeOf(key));
      out.push(key);
    }
    expect(out).toHaveLength(n);
    return out;
  };
  /** Runs `commands` on both, in order, and returns [redis's replies, hotshard's]. */
  const both = async (commands: string[][]): Promise<[unknown[], unknown[]]> => [
    await exchange(redis.port, commands),
    await exchange(t.port, commands),
  ];
  const sortedIfArray = (v: unknown): unknown => (Array.isArray(v) ? [...(v as string[])].sort() : v);

  it('multi-shard - SINTER / SUNION / SDIFF / SINTERCARD gathered across nodes answer as one Redis', async () => {
    const [a, b, c] = spread('set', 3);
    const missing = spread('nosuchset', 1)[0]!;
    const setup = [
      ['SADD', a!, 'x', 'y', 'z', 'w', '1'],
      ['SADD', b!, 'y', 'z', 'v', '1'],
      ['SADD', c!, 'z', 'q', '1', '2'],
      ['SET', 'setstr', 'v'],
    ];
    await both(setup);
    const queries = [
      ['SINTER', a!, b!],
      ['SINTER', a!, b!, c!],
      ['SINTER', a!, missing],
      ['SUNION', a!, b!, c!, missing],
      ['SDIFF', a!, b!],
      ['SDIFF', a!, b!, c!],
      ['SDIFF', missing, a!],
      ['SINTERCARD', '3', a!, b!, c!],
      ['SINTERCARD', '2', a!, b!, 'LIMIT', '1'],
      ['SINTERCARD', '2', a!, b!, 'LIMIT', '0'],
      ['SINTERCARD', '2', a!, b!, 'LIMIT', '-1'],
      ['SINTERCARD', '2', a!, b!, 'LIMIT'],
      ['SUNION', a!, 'setstr'],
      ['SINTER', 'setstr', a!],
    ];
    const [want, got] = await both(queries);
    queries.forEach((q, i) => expect(sortedIfArray(got[i]), q.join(' ')).toEqual(sortedIfArray(want[i])));
    expect(sortedIfArray(got[1])).toEqual(['1', 'z']);
  });

  it('multi-shard - PFCOUNT over HLLs on several nodes (sparse and dense) merges them as Redis does', async () => {
    const keys = spread('hll', 4);
    const setup: string[][] = [];
    // Sizes on both sides of Redis's sparse-to-dense switch (3000 bytes of sparse encoding).
    [5, 300, 5000, 20_000].forEach((n, k) => {
      for (let i = 0; i < n; i += 500) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + 500); j++) batch.push(`m${(j * 7 + k * 1000) % 26_000}`);
        setup.push(['PFADD', keys[k]!, ...batch]);
      }
    });
    await both(setup);
    const queries = [
      ['PFCOUNT', ...keys],
      ['PFCOUNT', keys[0]!, keys[1]!],
      ['PFCOUNT', keys[2]!, keys[3]!],
      ['PFCOUNT', keys[0]!, 'nosuch-hll'],
      ['SET', 'hll-not', 'plain'],
      ['PFCOUNT', keys[0]!, 'hll-not'],
    ];
    const [want, got] = await both(queries);
    queries.forEach((q, i) => expect(got[i], q.join(' ')).toEqual(want[i]));
    expect(got[0]).toBeGreaterThan(20_000);
  });

  it('multi-shard - ZUNION / ZINTER / ZDIFF with WEIGHTS, AGGREGATE and WITHSCORES, a plain set among them', async () => {
    const [a, b, c] = spread('zset', 3);
    await both([
      ['ZADD', a!, '1', 'one', '2', 'two', '3', 'three', '1.1', 'tenth', 'inf', 'big'],
      ['ZADD', b!, '10', 'two', '20', 'three', '-5', 'neg', '0.3', 'tenth', '-inf', 'big'],
      ['SADD', c!, 'two', 'neg', 'plain'],
      ['SET', 'zstr', 'x'],
    ]);
    const queries = [
      ['ZUNION', '2', a!, b!],
      ['ZUNION', '3', a!, b!, c!, 'WITHSCORES'],
      ['ZUNION', '2', a!, b!, 'WEIGHTS', '2', '0.5', 'WITHSCORES'],
      ['ZUNION', '2', a!, b!, 'AGGREGATE', 'MIN', 'WITHSCORES'],
      ['ZUNION', '2', a!, b!, 'AGGREGATE', 'max', 'WEIGHTS', '1', '-1', 'WITHSCORES'],
      ['ZINTER', '2', a!, b!, 'WITHSCORES'],
      ['ZINTER', '3', a!, b!, c!, 'WITHSCORES'],
      ['ZINTER', '2', a!, b!, 'WEIGHTS', '3', '1e1', 'AGGREGATE', 'SUM', 'WITHSCORES'],
      ['ZDIFF', '2', a!, b!, 'WITHSCORES'],
      ['ZDIFF', '2', b!, c!],
      ['ZUNION', '2', a!, 'zstr'],
      ['ZUNION', '2', a!, b!, 'WEIGHTS', '1'],
      ['ZUNION', '2', a!, b!, 'AGGREGATE', 'AVG'],
      ['ZUNION', '2', a!, b!, 'WEIGHTS', 'x', '1'],
      ['ZINTER', '0', a!],
      ['ZDIFF', '2', a!, b!, 'WEIGHTS', '1', '1'],
    ];
    const [want, got] = await both(queries);
    queries.forEach((q, i) => expect(got[i], q.join(' ')).toEqual(want[i]));
    expect(got[5]).toEqual(['big', '0', 'tenth', '1.4000000000000001', 'two', '12', 'three', '23']);
  });

  it('multi-shard - writes across shards are refused naming the hash-tag fix; on one shard they run unchanged', async () => {
    const [a, b] = spread('w', 2);
    await exchange(t.port, [['SET', a!, '1']]);
    const crossCommands = [
      ['RENAME', a!, b!],
      ['COPY', a!, b!],
      ['SMOVE', a!, b!, 'm'],
      ['LMOVE', a!, b!, 'LEFT', 'RIGHT'],
      ['RPOPLPUSH', a!, b!],
      ['SUNIONSTORE', a!, b!],
      ['ZUNIONSTORE', a!, '2', a!, b!],
      ['PFMERGE', a!, b!],
      ['MSETNX', a!, '1', b!, '2'],
      ['BITOP', 'AND', a!, b!],
      ['SORT', a!, 'STORE', b!],
    ];
    const refused = await exchange(t.port, crossCommands);
    refused.forEach((r, i) => {
      expect(errorOf(r), crossCommands[i]!.join(' ')).toMatch(/^ERR HS_ERR_CROSS_SHARD /);
      expect((r as { error: string }).error).toContain(
        `${crossCommands[i]![0]}'s keys live on different shards`,
      );
      expect((r as { error: string }).error).toContain('hash tag');
    });
    // Nothing ran: the source is where it was, the destination absent.
    expect(
      await exchange(t.port, [
        ['GET', a!],
        ['EXISTS', b!],
      ]),
    ).toEqual(['1', 0]);

    const tagged = [
      ['SET', '{u1}:a', 'v'],
      ['RENAME', '{u1}:a', '{u1}:b'],
      ['GET', '{u1}:b'],
      ['COPY', '{u1}:b', '{u1}:c'],
      ['RPUSH', '{u1}:l', 'x', 'y'],
      ['LMOVE', '{u1}:l', '{u1}:l2', 'LEFT', 'RIGHT'],
      ['LRANGE', '{u1}:l2', '0', '-1'],
      ['SADD', '{u1}:s1', 'a', 'b'],
      ['SADD', '{u1}:s2', 'b', 'c'],
      ['SUNIONSTORE', '{u1}:s3', '{u1}:s1', '{u1}:s2'],
      ['SMOVE', '{u1}:s1', '{u1}:s2', 'a'],
      ['ZADD', '{u1}:z', '1', 'a'],
      ['ZUNIONSTORE', '{u1}:z2', '2', '{u1}:z', '{u1}:s2', 'WEIGHTS', '2', '3'],
      ['ZRANGE', '{u1}:z2', '0', '-1', 'WITHSCORES'],
      ['MSETNX', '{u1}:n1', '1', '{u1}:n2', '2'],
      ['PFADD', '{u1}:h1', 'a'],
      ['PFMERGE', '{u1}:h2', '{u1}:h1'],
      ['PFCOUNT', '{u1}:h2'],
      ['SORT', '{u1}:l2', 'ALPHA', 'STORE', '{u1}:sorted'],
      ['LMPOP', '2', '{u1}:nosuch', '{u1}:sorted', 'LEFT'],
    ];
    const [want, got] = await both(tagged);
    tagged.forEach((q, i) => expect(got[i], q.join(' ')).toEqual(want[i]));
  });

  it("multi-shard - SORT BY / GET patterns are served when a hash tag keeps their keys on the sorted key's shard, refused when not", async () => {
    const served = [
      ['RPUSH', '{w}:l', '3', '1', '2'],
      ['MSET', '{w}:w_1', '30', '{w}:w_2', '10', '{w}:w_3', '20'],
      ['HSET', '{w}:h_2', 'f', 'two'],
      ['SORT', '{w}:l', 'BY', '{w}:w_*', 'GET', '#', 'GET', '{w}:h_*->f'],
      ['SORT_RO', '{w}:l', 'BY', 'nosort', 'GET', '{w}:w_*', 'DESC'],
    ];
    const [want, got] = await both(served);
    served.forEach((q, i) => expect(got[i], q.join(' ')).toEqual(want[i]));
    expect(got[3]).toEqual(['2', 'two', '3', null, '1', null]);
    // No tag, a tag after the '*', or a tag hashing elsewhere: the keys may be anywhere.
    let other = '';
    for (let i = 0; other === '' && i < 1000; i++)
      if (nodeOf(`{t${i}}`) !== nodeOf('{w}:l')) other = `{t${i}}`;
    expect(other).not.toBe('');
    for (const pattern of ['w_*', 'w_*{w}', `${other}:w_*`]) {
      const [reply] = await exchange(t.port, [['SORT', '{w}:l', 'BY', pattern]]);
      expect(errorOf(reply)).toMatch(/HS_ERR_NOT_ALLOWED SORT \.\.\. BY .* the pattern reads other keys/);
    }
  });

  it('multi-shard - movable keys: XREAD over streams on one shard, XREAD BLOCK timing out, XINFO / OBJECT by their key', async () => {
    const [a, b] = spread('x', 2);
    const commands = [
      ['XADD', '{s}:1', '1-1', 'f', 'v'],
      ['XADD', '{s}:2', '2-1', 'g', 'w'],
      ['XREAD', 'COUNT', '5', 'STREAMS', '{s}:1', '{s}:2', '0', '0'],
      ['XINFO', 'STREAM', '{s}:1'],
      ['OBJECT', 'ENCODING', '{s}:1'],
      ['XGROUP', 'CREATE', '{s}:1', 'grp', '0'],
      ['XREADGROUP', 'GROUP', 'grp', 'c1', 'COUNT', '1', 'STREAMS', '{s}:1', '>'],
      ['XREAD', 'STREAMS', '{s}:1'],
      ['ZUNION', 'notanumber', '{s}:1'],
    ];
    const [want, got] = await both(commands);
    commands.forEach((q, i) => {
      if (q[0] === 'XINFO')
        expect((got[i] as unknown[]).slice(0, 10), q.join(' ')).toEqual((want[i] as unknown[]).slice(0, 10));
      else expect(got[i], q.join(' ')).toEqual(want[i]);
    });
    const [blocked, cross, memoryStats] = await exchange(t.port, [
      ['XREAD', 'BLOCK', '100', 'STREAMS', '{s}:1', '$'],
      ['XREAD', 'STREAMS', a!, b!, '0', '0'],
      ['MEMORY', 'STATS'],
    ]);
    // Served on a dedicated connection (blocking.ts): nothing arrives within 100 ms, so nil as from Redis.
    expect(blocked).toBeNull();
    expect(errorOf(cross)).toMatch(/^ERR HS_ERR_CROSS_SHARD /);
    expect(errorOf(memoryStats)).toMatch(/MEMORY STATS is not supported by hotshard/);
  });

  it('multi-shard - every group of Redis 7 routes: lists, sets, sorted sets, streams, geo, bitmaps, hashes', async () => {
    const commands = [
      ['LPUSH', 'l', 'a', 'b', 'c'],
      ['LRANGE', 'l', '0', '-1'],
      ['LPOS', 'l', 'b'],
      ['SADD', 's', 'a'],
      ['SISMEMBER', 's', 'a'],
      ['ZADD', 'z', '1', 'a', '2', 'b'],
      ['ZRANGEBYSCORE', 'z', '-inf', '+inf', 'WITHSCORES'],
      ['ZPOPMIN', 'z'],
      ['GEOADD', 'g', '13.361389', '38.115556', 'Palermo'],
      ['GEOPOS', 'g', 'Palermo'],
      ['SETBIT', 'bits', '7', '1'],
      ['BITCOUNT', 'bits'],
      ['BITFIELD', 'bf', 'INCRBY', 'u8', '0', '300'],
      ['HSET', 'h', 'f', '1', 'g', '2'],
      ['HSCAN', 'h', '0'],
      ['HRANDFIELD', 'h', '-1'],
      ['GETEX', 'l', 'PERSIST'],
      ['EXPIRETIME', 'h'],
      ['TOUCH', 'h', 'l', 's', 'z', 'nosuch'],
      ['SORT_RO', 'l', 'ALPHA'],
      ['OBJECT', 'FREQ', 'h'],
    ];
    const [want, got] = await both(commands);
    commands.forEach((q, i) => {
      if (q[0] === 'HRANDFIELD') expect(got[i]).toHaveLength(1);
      else expect(got[i], q.join(' ')).toEqual(want[i]);
    });
  });
});
