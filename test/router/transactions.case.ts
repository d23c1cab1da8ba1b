/**
 * Transactions, scripts, blocking commands and SCAN through hotshard with
 * real clients (ioredis, redis-cli), run against embedded nodes and against
 * 4 redis-server nodes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestHotshard } from '../../src/testkit/hotshard.js';
import { rawConnect } from './raw-client.js';

export const ADMIN_PASSWORD = 'admin-secret-for-tests';
export const ADMIN_TOKEN = 'admin-token-for-transaction-tests';

/** Waits until `check` holds (generous: the machine is shared). */
async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A client of the redis-server that holds `key`: list and stream writes the
 * router's command table may not carry yet go there directly (a write that
 * bypasses the router serves a blocked client just the same).
 */
function nodeClient(t: TestHotshard, key: string): Redis {
  const table = t.hs.router.table;
  const node = table.shards[table.indexFor(Buffer.from(key))]!.node;
  const address = t.hs.router.backends.get(node)!.health().address!;
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return new Redis({ port, host: '127.0.0.1' });
}

export function runTransactionCases(label: 'memory' | 'redis', start: () => Promise<TestHotshard>): void {
  describe(`${label} backend - transactions, scripts, SCAN`, () => {
    let t: TestHotshard;
    let redis: Redis;
    let n = 0;
    const prefix = (): string => `x${++n}${Math.random().toString(36).slice(2, 7)}:`;
    const nodeOf = (key: string): string => {
      const table = t.hs.router.table;
      return table.shards[table.indexFor(Buffer.from(key))]!.node;
    };
    /** Two keys with the prefix on different nodes. */
    const onTwoNodes = (p: string): [string, string] => {
      const a = `${p}a`;
      for (let i = 0; i < 1000; i++) if (nodeOf(`${p}b${i}`) !== nodeOf(a)) return [a, `${p}b${i}`];
      throw new Error('no second node found');
    };
    const client = (): Redis => new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });

    beforeAll(async () => {
      t = await start();
      redis = client();
    });
    afterAll(async () => {
      redis?.disconnect();
      await t?.stop();
    });

    it('MULTI - a transaction whose keys share a hash tag runs on its node, replies in order', async () => {
      const p = prefix();
      const res = await redis
        .multi()
        .set(`{${p}}a`, '1')
        .incrby(`{${p}}b`, 5)
        .get(`{${p}}a`)
        .hset(`{${p}}h`, 'f', 'v')
        .ping()
        .exec();
      expect(res).toEqual([
        [null, 'OK'],
        [null, 5],
        [null, '1'],
        [null, 1],
        [null, 'PONG'],
      ]);
      expect(await redis.get(`{${p}}a`)).toBe('1');
    });

    it('MULTI - a cached key written by a transaction or a script is never read stale after EXEC answers', async () => {
      const p = prefix();
      const key = `{${p}}c`;
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      // A long maxStaleMs: a stale value would be served for seconds, not milliseconds.
      const put = await t.hs.http.inject({
        method: 'PUT',
        url: `/policies/${encodeURIComponent(key)}`,
        headers: admin,
        payload: { cache: { maxStaleMs: 5_000 }, reason: 'test' },
      });
      expect(put.statusCode).toBe(200);
      await redis.set(key, '0');
      const hits = async (): Promise<number> => {
        const status = await t.hs.http.inject({
          method: 'GET',
          url: `/policies/${encodeURIComponent(key)}`,
          headers: admin,
        });
        return status.json<{ status: { cache: { hits: number } } }>().status.cache.hits;
      };
      // Rounds until the cache has served 20 of their first GETs (a fill the
      // node's late invalidation overtook is not kept, so not every round hits).
      let n = 0;
      for (let round = 0; round < 1_000 && (round < 50 || (await hits()) < 20); round++) {
        // The first GET is served from the cache with the value before the write;
        // the GET pipelined behind EXEC is served as soon as EXEC is answered,
        // before the node's invalidation can have reached the router.
        const res = await redis
          .pipeline([['get', key], ['multi'], ['incr', key], ['exec'], ['get', key]])
          .exec();
        expect(res).toEqual([
          [null, String(n)],
          [null, 'OK'],
          [null, 'QUEUED'],
          [null, [n + 1]],
          [null, String(n + 1)],
        ]);
        n++;
      }
      // The reads were served from the cache, so this test can fail.
      expect(await hits()).toBeGreaterThanOrEqual(20);
      for (let i = 0; i < 50; i++) {
        // EXEC drops the cached value, so the GET behind it misses and goes over
        // the node's feed connection, which the INCR behind it must not overtake.
        const v = n + 2 * i;
        const res = await redis
          .pipeline([['multi'], ['incr', key], ['exec'], ['get', key], ['incr', key], ['get', key]])
          .exec();
        expect(res).toEqual([
          [null, 'OK'],
          [null, 'QUEUED'],
          [null, [v + 1]],
          [null, String(v + 1)],
          [null, v + 2],
          [null, String(v + 2)],
        ]);
      }
      if (label === 'redis') {
        const res = await redis
          .pipeline()
          .get(key)
          .eval("return redis.call('INCR', KEYS[1])", 1, key)
          .get(key)
          .exec();
        const v = n + 100;
        expect(res!.map(([, r]) => r)).toEqual([String(v), v + 1, String(v + 1)]);
      }
    });

    it('MULTI - a cross-shard transaction is refused at EXEC naming the keys, nodes and hash-tag fix; nothing runs', async () => {
      const p = prefix();
      const [a, b] = onTwoNodes(p);
      const err = await redis
        .multi()
        .set(a, '1')
        .set(b, '2')
        .exec()
        .catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message).toMatch(/HS_ERR_CROSS_SHARD/);
      expect(message).toContain(`'${a}' on shard`);
      expect(message).toContain(`at node ${nodeOf(b)}`);
      expect(message).toMatch(/hash tag/);
      expect(await redis.mget(a, b)).toEqual([null, null]);
      // The session is usable again, outside any transaction.
      expect(await redis.set(a, 'after')).toBe('OK');
    });

    it('MULTI - a command that fails to queue aborts EXEC (EXECABORT); DISCARD drops the block; nesting is an error', async () => {
      const p = prefix();
      const c = await rawConnect(t.port);
      try {
        c.write(
          `MULTI\r\nSET ${p}k 1\r\nSET ${p}k\r\nEXEC\r\nGET ${p}k\r\n` +
            `MULTI\r\nMULTI\r\nSET ${p}j 1\r\nDISCARD\r\nGET ${p}j\r\nEXEC\r\nDISCARD\r\n`,
        );
        const all = (await c.until((b) => b.toString().endsWith('DISCARD without MULTI\r\n'))).toString();
        expect(all).toBe(
          '+OK\r\n+QUEUED\r\n' +
            "-ERR wrong number of arguments for 'set' command\r\n" +
            '-EXECABORT Transaction discarded because of previous errors.\r\n' +
            '$-1\r\n' +
            '+OK\r\n-ERR MULTI calls can not be nested\r\n+QUEUED\r\n+OK\r\n$-1\r\n' +
            '-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n',
        );
      } finally {
        c.close();
      }
    });

    it('WATCH - a watched key changed by another client makes EXEC answer nil; unchanged, EXEC runs', async () => {
      const p = prefix();
      const k = `{${p}}k`;
      const other = client();
      try {
        await redis.set(k, '1');
        expect(await redis.watch(k)).toBe('OK');
        expect(await redis.get(k)).toBe('1');
        await other.set(k, '2');
        expect(await redis.multi().set(k, '3').exec()).toBeNull();
        expect(await redis.get(k)).toBe('2');

        expect(await redis.watch(k)).toBe('OK');
        expect(await redis.multi().set(k, '4').get(k).exec()).toEqual([
          [null, 'OK'],
          [null, '4'],
        ]);
        // UNWATCH, then a change, then EXEC: runs.
        await redis.watch(k);
        await redis.unwatch();
        await other.set(k, '5');
        expect(await redis.multi().incr(k).exec()).toEqual([[null, 6]]);
      } finally {
        other.disconnect();
      }
    });

    it('WATCH - keys on different nodes are refused; the watch connections go back to the pool', async () => {
      const p = prefix();
      const [a, b] = onTwoNodes(p);
      await expect(redis.watch(a, b)).rejects.toThrow(/HS_ERR_CROSS_SHARD.*hash tag/);
      await redis.watch(a);
      await expect(redis.watch(b)).rejects.toThrow(/HS_ERR_CROSS_SHARD/);
      await expect(redis.multi().set(b, '1').exec()).rejects.toThrow(/HS_ERR_CROSS_SHARD/);
      expect(await redis.get(b)).toBeNull();
      const pool = t.hs.router.dedicated;
      await waitFor(() => pool.inUse(nodeOf(a) as never) === 0, 'the watch connection to be released');
    });

    it('SCAN - visits every key exactly once across the nodes while keys are added; MATCH, COUNT, TYPE', async () => {
      const p = prefix();
      const keys = Array.from({ length: 400 }, (_, i) => `${p}${i}`);
      await redis.mset(...keys.flatMap((k) => [k, 'v']));
      await redis.hset(`${p}hash`, 'f', 'v');
      const nodes = new Set(keys.map(nodeOf));
      expect(nodes.size).toBe(label === 'redis' ? 4 : nodes.size);
      const seen = new Map<string, number>();
      let cursor = '0';
      let calls = 0;
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 50);
        for (const k of found) seen.set(k, (seen.get(k) ?? 0) + 1);
        // Keys added during the scan: Redis promises nothing about them.
        await redis.set(`${p}late${calls}`, 'v');
        cursor = next;
        calls++;
        expect(calls).toBeLessThan(10_000);
      } while (cursor !== '0');
      for (const k of keys) expect(seen.get(k), k).toBe(1);
      expect(seen.get(`${p}hash`)).toBe(1);
      for (const [k, count] of seen) {
        expect(k.startsWith(p)).toBe(true);
        if (k.includes('late')) expect(count).toBe(1);
      }
      // TYPE: only the hash.
      const hashes: string[] = [];
      cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 100, 'TYPE', 'hash');
        hashes.push(...found);
        cursor = next;
      } while (cursor !== '0');
      expect(hashes).toEqual([`${p}hash`]);
      await expect(redis.scan('banana')).rejects.toThrow(/invalid cursor/);
    });

    it('SCAN - redis-cli --scan lists the keys of every node', () => {
      const p = prefix();
      return (async () => {
        await redis.mset(...Array.from({ length: 60 }, (_, i) => [`${p}${i}`, 'v']).flat());
        // Asynchronous: hotshard runs in this process and must go on serving.
        const { stdout: out } = await promisify(execFile)(
          'redis-cli',
          ['-p', String(t.port), '--scan', '--pattern', `${p}*`],
          {
            encoding: 'utf8',
          },
        );
        const listed = out.split('\n').filter((l) => l !== '');
        expect(new Set(listed).size).toBe(60);
        expect(listed).toHaveLength(60);
      })();
    });

    it('KEYS - refused on an ordinary connection, served on an admin one; RANDOMKEY answers a key', async () => {
      const p = prefix();
      await redis.mset(`${p}1`, 'a', `${p}2`, 'b', `${p}3`, 'c');
      await expect(redis.keys(`${p}*`)).rejects.toThrow(
        /NOPERM HS_ERR_NO_PERMISSION KEYS needs an admin connection/,
      );
      const admin = client();
      try {
        await admin.call('AUTH', 'admin', ADMIN_PASSWORD);
        expect((await admin.keys(`${p}*`)).sort()).toEqual([`${p}1`, `${p}2`, `${p}3`]);
      } finally {
        admin.disconnect();
      }
      expect(typeof (await redis.randomkey())).toBe('string');
    });

    it('FLUSHDB - refused on an ordinary connection as FLUSHALL is; on an admin one it empties every node', async () => {
      const p = prefix();
      await redis.mset(`${p}1`, 'a', `${p}2`, 'b', `${p}3`, 'c');
      await expect(redis.flushdb()).rejects.toThrow(
        /^NOPERM HS_ERR_NO_PERMISSION FLUSHDB needs an admin connection/,
      );
      expect(await redis.exists(`${p}1`, `${p}2`, `${p}3`)).toBe(3);
      const admin = client();
      try {
        await admin.call('AUTH', 'admin', ADMIN_PASSWORD);
        await expect(admin.call('FLUSHDB', 'LATER')).rejects.toThrow('ERR syntax error');
        expect(await admin.flushdb('ASYNC')).toBe('OK');
        expect(await redis.dbsize()).toBe(0);
      } finally {
        admin.disconnect();
      }
    });

    it('streams - a consumer group through ioredis: XREADGROUP BLOCK waits without delaying others, an XADD serves it, XACK clears it', async () => {
      const p = prefix();
      const s = `${p}orders`;
      expect(await redis.xgroup('CREATE', s, 'workers', '$', 'MKSTREAM')).toBe('OK');
      const worker = client();
      const leaver = client();
      try {
        const waiting = worker.xreadgroup('GROUP', 'workers', 'w1', 'BLOCK', 0, 'STREAMS', s, '>');
        await waitFor(() => t.hs.router.blockedSessions.size === 1, 'the XREADGROUP to block');
        // others go on meanwhile, on the same node
        expect(await redis.set(`${p}other`, 'v')).toBe('OK');
        expect(await redis.xlen(s)).toBe(0);
        const id = await redis.xadd(s, '*', 'item', 'book');
        expect(await waiting).toEqual([[s, [[id, ['item', 'book']]]]]);
        expect(await redis.xpending(s, 'workers')).toEqual([1, id, id, [['w1', '1']]]);
        expect(await redis.xack(s, 'workers', id!)).toBe(1);
        expect(await redis.xpending(s, 'workers')).toEqual([0, null, null, null]);
        // a consumer that leaves while blocked is cancelled: the next entry waits in the stream for the group
        void leaver
          .xreadgroup('GROUP', 'workers', 'w2', 'BLOCK', 0, 'STREAMS', s, '>')
          .catch(() => undefined);
        await waitFor(() => t.hs.router.blockedSessions.size === 1, 'the second XREADGROUP to block');
        leaver.disconnect();
        await waitFor(() => t.hs.router.blockedSessions.size === 0, 'the leaver to be cancelled');
        const next = await redis.xadd(s, '*', 'item', 'pen');
        expect(await redis.xreadgroup('GROUP', 'workers', 'w1', 'STREAMS', s, '>')).toEqual([
          [s, [[next, ['item', 'pen']]]],
        ]);
      } finally {
        worker.disconnect();
        leaver.disconnect();
      }
    });

    if (label === 'memory') {
      it('embedded - scripts are refused with a clear error; BLPOP is parked in the node and served by a push', async () => {
        const p = prefix();
        await expect(redis.eval('return 1', 1, `${p}k`)).rejects.toThrow(/HS_ERR_NOT_ALLOWED.*no Lua/);
        await expect(redis.call('SCRIPT', 'LOAD', 'return 1')).rejects.toThrow(/no Lua/);
        const blocked = client();
        try {
          const waiting = blocked.blpop(`${p}q`, 0);
          await waitFor(() => t.hs.router.blockedSessions.size === 1, 'the BLPOP to be parked');
          expect(await redis.get(`${p}other`)).toBeNull();
          expect(await redis.lpush(`${p}q`, 'job')).toBe(1);
          expect(await waiting).toEqual([`${p}q`, 'job']);
          // A client that leaves while parked is cancelled: the next push stays.
          const leaver = client();
          void leaver.blpop(`${p}gone`, 0).catch(() => undefined);
          await waitFor(() => t.hs.router.blockedSessions.size === 1, 'the second BLPOP to be parked');
          leaver.disconnect();
          await waitFor(() => t.hs.router.blockedSessions.size === 0, 'the leaver to be cancelled');
          await redis.lpush(`${p}gone`, 'kept');
          expect(await redis.lrange(`${p}gone`, 0, -1)).toEqual(['kept']);
        } finally {
          blocked.disconnect();
        }
      });
    }

    if (label === 'memory') {
      it('embedded - a command the nodes do not keep is refused naming Redis nodes, inside MULTI as it is queued; bit commands are served', async () => {
        const p = prefix();
        await expect(redis.dump(`${p}g`)).rejects.toThrow(
          /HS_ERR_NOT_ALLOWED DUMP is not served by embedded nodes; use Redis nodes/,
        );
        expect(await redis.setbit(`${p}b`, 9, 1)).toBe(0);
        expect(await redis.bitcount(`${p}b`)).toBe(1);
        const c = await rawConnect(t.port);
        try {
          c.write(`MULTI\r\nSETBIT ${p}b 1 1\r\nDUMP ${p}h\r\nEXEC\r\nBITCOUNT ${p}b\r\n`);
          const all = (await c.until((b) => /:\d+\r\n$/.test(b.toString()))).toString();
          expect(all).toBe(
            '+OK\r\n+QUEUED\r\n' +
              '-ERR HS_ERR_NOT_ALLOWED DUMP is not served by embedded nodes; use Redis nodes (backend: redis)\r\n' +
              '-EXECABORT Transaction discarded because of previous errors.\r\n' +
              ':1\r\n',
          );
        } finally {
          c.close();
        }
      });
    }

    if (label === 'redis') {
      it('EVAL - runs on the node of its keys; keys on two nodes are refused; SCRIPT LOAD reaches every node', async () => {
        const p = prefix();
        const k = `{${p}}k`;
        expect(
          await redis.eval(
            "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[2])",
            2,
            k,
            `{${p}}j`,
            'v',
          ),
        ).toBeNull();
        expect(await redis.get(k)).toBe('v');
        const [a, b] = onTwoNodes(p);
        await expect(redis.eval('return 1', 2, a, b)).rejects.toThrow(/HS_ERR_CROSS_SHARD/);
        await expect(redis.eval('return 1', -1)).rejects.toThrow(/can't be negative/);
        await expect(redis.eval('return 1', 3, a)).rejects.toThrow(/greater than number of args/);
        expect(await redis.eval('return 7', 0)).toBe(7);

        const script = `return KEYS[1] .. '${p}'`;
        const sha = (await redis.call('SCRIPT', 'LOAD', script)) as string;
        for (const node of t.redis) {
          const direct = new Redis({ port: node.port, host: '127.0.0.1' });
          try {
            expect(await direct.call('SCRIPT', 'EXISTS', sha)).toEqual([1]);
          } finally {
            direct.disconnect();
          }
        }
        expect(await redis.call('SCRIPT', 'EXISTS', sha, 'f'.repeat(40))).toEqual([1, 0]);
        for (const key of [a, b]) expect(await redis.evalsha(sha, 1, key)).toBe(`${key}${p}`);
        await expect(redis.evalsha('0'.repeat(40), 0)).rejects.toThrow(/NOSCRIPT/);
        // Scripts in a transaction run with it.
        expect(await redis.multi().eval('return 1', 1, k).get(k).exec()).toEqual([
          [null, 1],
          [null, 'v'],
        ]);
      });

      it('FUNCTION - LOAD reaches every node and FCALL runs on the node of its key', async () => {
        const lib = `#!lua name=lib${n}\nredis.register_function('hs_echo${n}', function(keys, args) return keys[1] end)`;
        expect(await redis.call('FUNCTION', 'LOAD', 'REPLACE', lib)).toBe(`lib${n}`);
        for (const key of ['a', 'b', 'c', 'd', 'e'])
          expect(await redis.call('FCALL', `hs_echo${n}`, 1, key)).toBe(key);
        expect(await redis.call('FUNCTION', 'DELETE', `lib${n}`)).toBe('OK');
        await expect(redis.call('FCALL', `hs_echo${n}`, 1, 'a')).rejects.toThrow(/Function not found/);
      });

      it('BLPOP - a blocked client does not delay others; an LPUSH serves it; a disconnect frees its connection', async () => {
        const p = prefix();
        const q = `{${p}}q`;
        const blocked = client();
        const other = client();
        const direct = nodeClient(t, q);
        try {
          const waiting = blocked.blpop(q, 0);
          const node = nodeOf(q) as never;
          await waitFor(() => t.hs.router.dedicated.inUse(node) === 1, 'the BLPOP to hold a connection');
          // Keys on the same node answer while the BLPOP waits.
          for (let i = 0; i < 20; i++) {
            await other.set(`{${p}}x${i}`, String(i));
            expect(await other.get(`{${p}}x${i}`)).toBe(String(i));
          }
          expect(await direct.lpush(q, 'job')).toBe(1);
          expect(await waiting).toEqual([q, 'job']);
          // XREAD BLOCK the same way.
          const stream = blocked.xread('BLOCK', 0, 'STREAMS', `{${p}}s`, '$');
          await waitFor(() => t.hs.router.dedicated.inUse(node) === 1, 'the XREAD to hold a connection');
          await direct.xadd(`{${p}}s`, '*', 'f', 'v');
          const got = await stream;
          expect(got![0]![0]).toBe(`{${p}}s`);
          expect(got![0]![1][0]![1]).toEqual(['f', 'v']);
          // Without BLOCK, an ordinary read; RESP3 (ioredis's default) gets the stream map.
          const again = await other.xread('STREAMS', `{${p}}s`, '0');
          expect(again).toEqual(got);
          // A client that leaves mid-BLPOP: its connection is closed, the node no longer blocked on it.
          const leaver = client();
          void leaver.blpop(`{${p}}gone`, 0).catch(() => undefined);
          await waitFor(
            () => t.hs.router.dedicated.inUse(node) === 1,
            'the second BLPOP to hold a connection',
          );
          leaver.disconnect();
          await waitFor(
            () => t.hs.router.dedicated.inUse(node) === 0,
            'the closed client to free its connection',
          );
          await waitFor(
            async () => !((await direct.call('CLIENT', 'LIST')) as string).includes('cmd=blpop'),
            'the node to drop the blocked connection',
          );
          // A push now stays for the next reader.
          await direct.lpush(`{${p}}gone`, 'kept');
          expect(await direct.lrange(`{${p}}gone`, 0, -1)).toEqual(['kept']);
        } finally {
          blocked.disconnect();
          other.disconnect();
          direct.disconnect();
        }
      });

      it('BLPOP - blocking keys on two nodes are refused', async () => {
        const [a, b] = onTwoNodes(prefix());
        await expect(redis.blpop(a, b, 1)).rejects.toThrow(/HS_ERR_CROSS_SHARD.*hash tag/);
      });
    }
  });
}

/** The pool of dedicated connections bounded at 2 per node: the third blocked client is refused at once. */
export function runPoolCases(start: () => Promise<TestHotshard>): void {
  describe('redis backend - the dedicated connection pool', () => {
    let t: TestHotshard;
    beforeAll(async () => {
      t = await start();
    });
    afterAll(async () => {
      await t?.stop();
    });

    it('pool - exhausted, a blocking command is refused at once (BUSY HS_ERR_NODE_OVERLOADED) and others are served', async () => {
      const p = `pool${Math.random().toString(36).slice(2, 7)}`;
      const clients = Array.from(
        { length: 4 },
        () => new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 }),
      );
      const [a, b, c, d] = clients as [Redis, Redis, Redis, Redis];
      try {
        const table = t.hs.router.table;
        const node = table.shards[table.indexFor(Buffer.from(`{${p}}q1`))]!.node;
        const direct = nodeClient(t, `{${p}}q1`);
        clients.push(direct);
        const first = a.blpop(`{${p}}q1`, 0);
        const second = b.blpop(`{${p}}q2`, 0);
        await waitFor(() => t.hs.router.dedicated.inUse(node) === 2, 'two BLPOPs to hold the pool');
        await expect(c.blpop(`{${p}}q3`, 0)).rejects.toThrow(
          /^BUSY HS_ERR_NODE_OVERLOADED all 2 dedicated connections to node .* are in use/,
        );
        await expect(c.watch(`{${p}}w`)).rejects.toThrow(/HS_ERR_NODE_OVERLOADED/);
        // Non-blocking traffic to the same node goes on.
        expect(await d.set(`{${p}}k`, 'v')).toBe('OK');
        expect(await d.multi().get(`{${p}}k`).exec()).toEqual([[null, 'v']]);
        await direct.rpush(`{${p}}q1`, '1');
        expect(await first).toEqual([`{${p}}q1`, '1']);
        // One freed: the refused client gets it now.
        const third = c.blpop(`{${p}}q3`, 0);
        await waitFor(() => t.hs.router.dedicated.inUse(node) === 2, 'the third BLPOP to take the freed one');
        await direct.rpush(`{${p}}q2`, '2');
        await direct.rpush(`{${p}}q3`, '3');
        expect(await second).toEqual([`{${p}}q2`, '2']);
        expect(await third).toEqual([`{${p}}q3`, '3']);
        expect(t.hs.router.dedicated.openCount(node)).toBeLessThanOrEqual(2);
      } finally {
        for (const cl of clients) cl.disconnect();
      }
    });
  });
}
