/**
 * INFO clients, stats and keyspace say what the server really has (the
 * maxclients in force, the clients refused at it, the keys with and without
 * an expiry) in the field names and order of a real redis-server 7, over
 * embedded nodes and summed over Redis nodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { bytesToHuman } from '../../src/router/local-commands.js';
import { waitFor } from '../control/harness.js';
import { exchange } from './differential.js';

const hasRedis = requireBinary('redis-server', 'INFO compared with redis-server');

/** `name:value` lines of an INFO section, without its `# Title`. */
function fields(info: unknown): Map<string, string> {
  const lines = String(info)
    .split('\r\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
  return new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}

/** The field names of `db0:keys=1,expires=0,avg_ttl=0`. */
const dbFieldNames = (value: string): string[] => value.split(',').map((f) => f.slice(0, f.indexOf('=')));

const WRITES = [
  ['SET', 'a', 'v', 'EX', '1000'],
  ['SET', 'b', 'v', 'PX', '1000000'],
  ['SET', 'c', 'v'],
  ['HSET', 'h', 'f', 'v'],
  ['EXPIRE', 'h', '1000'],
  ['PERSIST', 'h'],
  ['SET', 'd', 'v', 'EX', '1000'],
  ['SET', 'd', 'w'], // drops d's TTL
];

describe.skipIf(!hasRedis)('INFO clients and keyspace', () => {
  let t: TestHotshard;
  let redis: RedisProcess;
  beforeAll(async () => {
    [t, redis] = await Promise.all([
      startTestHotshard({ backend: 'memory', limits: { maxClients: 77 } }),
      startRedis(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([t?.stop(), redis?.stop()]);
  });

  it('INFO clients - maxclients is the limit in force, after connected_clients as in Redis', async () => {
    const [mine] = await exchange(t.port, [['INFO', 'clients']]);
    const [theirs] = await exchange(redis.port, [['INFO', 'clients']]);
    const names = [...fields(mine).keys()];
    expect(names).toEqual(['connected_clients', 'maxclients', 'blocked_clients']);
    // The same names in the same order as Redis's (which has more).
    expect([...fields(theirs).keys()].filter((n) => names.includes(n))).toEqual(names);
    expect(fields(mine).get('maxclients')).toBe(String(t.hs.resp.options.maxClients));
    expect(fields(mine).get('maxclients')).toBe('77');
    expect(fields(mine).get('blocked_clients')).toBe('0');
  });

  it('INFO clients - blocked_clients counts the clients waiting in a blocking pop (what redis-cli --stat shows)', async () => {
    const waiting = exchange(t.port, [['BLPOP', 'info:queue', '0']]);
    await waitFor('the BLPOP to be parked', () =>
      t.hs.router.blockedSessions.size === 1 ? true : undefined,
    );
    const [mine] = await exchange(t.port, [['INFO', 'clients']]);
    expect(fields(mine).get('blocked_clients')).toBe('1');
    await exchange(t.port, [['LPUSH', 'info:queue', 'job']]);
    expect(await waiting).toEqual([['info:queue', 'job']]);
  });

  it("INFO memory - the router process's memory in Redis's field names, order and human format", async () => {
    const [mine] = await exchange(t.port, [['INFO', 'memory']]);
    const [theirs] = await exchange(redis.port, [['INFO', 'memory']]);
    const got = fields(mine);
    const names = [...got.keys()];
    expect(names).toEqual(['used_memory', 'used_memory_human', 'used_memory_rss', 'used_memory_rss_human']);
    expect([...fields(theirs).keys()].filter((n) => names.includes(n))).toEqual(names);
    const used = Number(got.get('used_memory'));
    expect(Number.isSafeInteger(used) && used > 0).toBe(true);
    expect(got.get('used_memory_human')).toBe(bytesToHuman(used));
    expect(got.get('used_memory_rss_human')).toMatch(/^\d+\.\d\d[KMG]$/);
    expect([
      bytesToHuman(1023),
      bytesToHuman(1024),
      bytesToHuman(1536),
      bytesToHuman(5 * 1024 * 1024),
    ]).toEqual(['1023B', '1.00K', '1.50K', '5.00M']);
  });

  it("INFO stats - Redis's fields in Redis's order, hotshard's own after them", async () => {
    const [mine] = await exchange(t.port, [['INFO', 'stats']]);
    const [theirs] = await exchange(redis.port, [['INFO', 'stats']]);
    const names = [...fields(mine).keys()];
    expect(names).toEqual([
      'total_connections_received',
      'total_commands_processed',
      'rejected_connections',
      'rejected_commands',
    ]);
    const redisNames = [...fields(theirs).keys()];
    expect(redisNames.filter((n) => names.includes(n))).toEqual(names.slice(0, 3));
  });

  it('INFO keyspace - db0 has keys, expires and avg_ttl, counted as Redis counts them', async () => {
    const mine = await exchange(t.port, [...WRITES, ['INFO', 'keyspace']]);
    const theirs = await exchange(redis.port, [...WRITES, ['INFO', 'keyspace']]);
    const db0 = fields(mine.at(-1)).get('db0');
    const redisDb0 = fields(theirs.at(-1)).get('db0')!;
    expect(dbFieldNames(db0 ?? '')).toEqual(dbFieldNames(redisDb0));
    expect(db0).toBe('keys=5,expires=2,avg_ttl=0');
    expect(redisDb0).toMatch(/^keys=5,expires=2,avg_ttl=\d+$/);
  });
});

describe.skipIf(!hasRedis)('INFO keyspace over Redis nodes', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'redis', redisNodes: 2 });
  });
  afterAll(() => t?.stop());

  it("INFO keyspace - sums the nodes' keys and expires", async () => {
    const writes: string[][] = [];
    for (let i = 0; i < 40; i++)
      writes.push(i % 4 === 0 ? ['SET', `k${i}`, 'v', 'EX', '1000'] : ['SET', `k${i}`, 'v']);
    const replies = await exchange(t.port, [...writes, ['INFO', 'keyspace']]);
    const db0 = fields(replies.at(-1)).get('db0');
    expect(db0).toMatch(/^keys=40,expires=10,avg_ttl=\d+$/);
    // Each node holds some: the sum is not one node's figure.
    const perNode = await Promise.all(t.redis.map((r) => exchange(r.port, [['DBSIZE']])));
    expect(perNode.map((r) => r[0] as number).every((n) => n > 0 && n < 40)).toBe(true);
    expect(Number(/avg_ttl=(\d+)/.exec(db0!)![1])).toBeLessThanOrEqual(1_000_000);
  });
});
