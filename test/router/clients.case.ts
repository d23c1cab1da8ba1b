/**
 * What a Redis client sees through hotshard, run against every backend:
 * ioredis pipelines, cross-shard multi-key commands, binary values, TTLs,
 * RESP3, and clear refusals.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestHotshard } from '../../src/testkit/hotshard.js';
import { rawConnect } from './raw-client.js';

export function runClientCases(label: string, start: () => Promise<TestHotshard>): void {
  describe(`${label} backend - redis clients through hotshard`, () => {
    let t: TestHotshard;
    let redis: Redis;
    let n = 0;
    const prefix = (): string => `t${++n}:${Math.random().toString(36).slice(2, 8)}:`;

    beforeAll(async () => {
      t = await start();
      redis = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    });
    afterAll(async () => {
      redis?.disconnect();
      await t?.stop();
    });

    it('ioredis - a pipeline of 2000 commands answers in order', async () => {
      const p = prefix();
      const pipe = redis.pipeline();
      for (let i = 0; i < 1000; i++) pipe.set(`${p}${i}`, String(i));
      for (let i = 0; i < 1000; i++) pipe.get(`${p}${i}`);
      const results = await pipe.exec();
      expect(results).toHaveLength(2000);
      for (let i = 0; i < 1000; i++) {
        expect(results![i]).toEqual([null, 'OK']);
        expect(results![1000 + i]).toEqual([null, String(i)]);
      }
    });

    it('ioredis - keys spread over every shard and node', () => {
      const p = prefix();
      const nodes = new Set<string>();
      for (let i = 0; i < 200; i++) nodes.add(t.hs.router.table.shardFor(Buffer.from(`${p}${i}`)).node);
      expect(nodes.size).toBe(t.hs.router.backends.size);
    });

    it('ioredis - MGET across shards returns values in key order, nil for missing', async () => {
      const p = prefix();
      const keys = Array.from({ length: 50 }, (_, i) => `${p}${i}`);
      await redis.mset(...keys.flatMap((k, i) => (i % 3 === 0 ? [] : [k, `v${i}`])));
      const values = await redis.mget(...keys);
      expect(values).toEqual(keys.map((_, i) => (i % 3 === 0 ? null : `v${i}`)));
      const nodes = new Set(keys.map((k) => t.hs.router.table.shardFor(Buffer.from(k)).node));
      expect(nodes.size).toBeGreaterThan(1);
    });

    it('ioredis - DEL, UNLINK and EXISTS count across shards', async () => {
      const p = prefix();
      const keys = Array.from({ length: 20 }, (_, i) => `${p}${i}`);
      await redis.mset(...keys.flatMap((k) => [k, '1']));
      expect(await redis.exists(...keys, keys[0]!)).toBe(21);
      expect(await redis.del(...keys.slice(0, 10), `${p}missing`)).toBe(10);
      expect(await redis.unlink(...keys)).toBe(10);
      expect(await redis.exists(...keys)).toBe(0);
    });

    it('ioredis - binary-safe keys and values', async () => {
      const p = prefix();
      const key = Buffer.concat([Buffer.from(p), Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a])]);
      const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await redis.set(key, value);
      expect(Buffer.compare((await redis.getBuffer(key))!, value)).toBe(0);
      const big = Buffer.alloc(2 * 1024 * 1024, 0xab);
      await redis.set(`${p}big`, big);
      expect((await redis.getBuffer(`${p}big`))!.equals(big)).toBe(true);
      expect(await redis.strlen(`${p}big`)).toBe(big.length);
    });

    it('ioredis - TTLs: EX/PX, TTL/PTTL, PERSIST and expiry', async () => {
      const p = prefix();
      await redis.set(`${p}a`, '1', 'EX', 100);
      const ttl = await redis.ttl(`${p}a`);
      expect(ttl).toBeGreaterThan(98);
      expect(ttl).toBeLessThanOrEqual(100);
      await redis.set(`${p}b`, '1', 'PX', 150);
      expect(await redis.pttl(`${p}b`)).toBeGreaterThan(0);
      expect(await redis.persist(`${p}a`)).toBe(1);
      expect(await redis.ttl(`${p}a`)).toBe(-1);
      expect(await redis.ttl(`${p}none`)).toBe(-2);
      await new Promise((r) => setTimeout(r, 300));
      expect(await redis.get(`${p}b`)).toBeNull();
      await redis.setex(`${p}c`, 50, 'x');
      expect(await redis.expire(`${p}c`, 10)).toBe(1);
      expect(await redis.ttl(`${p}c`)).toBeLessThanOrEqual(10);
    });

    it('ioredis - counters, strings and hashes', async () => {
      const p = prefix();
      expect(await redis.incr(`${p}n`)).toBe(1);
      expect(await redis.incrby(`${p}n`, 41)).toBe(42);
      expect(await redis.decrby(`${p}n`, 2)).toBe(40);
      expect(await redis.decr(`${p}n`)).toBe(39);
      expect(await redis.incrbyfloat(`${p}f`, '10.5')).toBe('10.5');
      expect(await redis.append(`${p}s`, 'ab')).toBe(2);
      expect(await redis.getset(`${p}s`, 'cd')).toBe('ab');
      expect(await redis.getdel(`${p}s`)).toBe('cd');
      expect(await redis.setnx(`${p}s`, 'x')).toBe(1);
      expect(await redis.setnx(`${p}s`, 'y')).toBe(0);
      expect(await redis.hset(`${p}h`, 'a', '1', 'b', '2')).toBe(2);
      expect(await redis.hget(`${p}h`, 'a')).toBe('1');
      expect(await redis.hincrby(`${p}h`, 'a', 5)).toBe(6);
      expect(await redis.hmget(`${p}h`, 'a', 'x', 'b')).toEqual(['6', null, '2']);
      expect(await redis.hgetall(`${p}h`)).toEqual({ a: '6', b: '2' });
      expect(await redis.hdel(`${p}h`, 'a')).toBe(1);
      expect(await redis.type(`${p}h`)).toBe('hash');
      await expect(redis.incr(`${p}h`)).rejects.toThrow(/WRONGTYPE/);
    });

    it('ioredis - MULTI on keys of one hash tag runs; DISCARD drops what was queued', async () => {
      const p = prefix();
      expect(await redis.multi().set(`{${p}}a`, '1').get(`{${p}}a`).exec()).toEqual([
        [null, 'OK'],
        [null, '1'],
      ]);
      const c = await rawConnect(t.port);
      c.write(`MULTI\r\nSET ${p}b 1\r\nDISCARD\r\nGET ${p}b\r\n`);
      const all = (await c.until((b) => b.toString().endsWith('$-1\r\n'))).toString();
      expect(all).toBe('+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n');
      c.close();
    });

    it('ioredis - FLUSHALL without an admin connection is NOPERM HS_ERR_NO_PERMISSION', async () => {
      const c = await rawConnect(t.port);
      c.write('FLUSHALL\r\n');
      const all = (await c.until((b) => b.toString().endsWith('\r\n'))).toString();
      expect(all).toBe(
        '-NOPERM HS_ERR_NO_PERMISSION FLUSHALL is disabled: no admin password is configured\r\n',
      );
      c.close();
    });

    it('ioredis - unknown commands fail at once in Redis wording', async () => {
      await expect(redis.call('NOSUCHCMD', 'a')).rejects.toThrow(
        "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a'",
      );
      await expect(redis.call('GET')).rejects.toThrow("ERR wrong number of arguments for 'get' command");
    });

    it('ioredis - DBSIZE sums every node and INFO reports the keyspace', async () => {
      const p = prefix();
      const before = await redis.dbsize();
      await redis.mset(...Array.from({ length: 30 }, (_, i) => [`${p}${i}`, 'v']).flat());
      expect(await redis.dbsize()).toBe(before + 30);
      const info = await redis.info();
      expect(info).toMatch(/# Server/);
      expect(info).toMatch(new RegExp(`db0:keys=${before + 30}`));
    });

    it('RESP3 - HELLO 3 turns HGETALL into a map and nil into null', async () => {
      const p = prefix();
      const c = await rawConnect(t.port);
      try {
        c.write(`HELLO 3\r\nHSET ${p}h f v\r\nHGETALL ${p}h\r\nGET ${p}missing\r\nPING\r\n`);
        const all = (await c.until((b) => b.toString('latin1').endsWith('+PONG\r\n'))).toString('latin1');
        expect(all.startsWith('%7\r\n')).toBe(true);
        expect(all).toContain(':1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n_\r\n+PONG\r\n');
      } finally {
        c.close();
      }
    });
  });
}
