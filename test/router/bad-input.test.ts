/**
 * Bad input never takes the router down: the offending client gets an error
 * (and, for protocol errors, a closed connection); every other client keeps
 * being served, and memory stays bounded.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { waitFor } from '../control/harness.js';
import { countSimpleReplies, rawConnect } from './raw-client.js';

describe('bad input - memory backend', () => {
  let t: TestHotshard;
  let bystander: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', limits: { maxPipeline: 256 } });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  });
  afterAll(async () => {
    bystander?.disconnect();
    await t?.stop();
  });

  const bystanderWorks = async (): Promise<void> => {
    const key = `by:${Math.random()}`;
    await bystander.set(key, 'ok');
    expect(await bystander.get(key)).toBe('ok');
  };

  it('bad input - a malformed multibulk length gets the Redis protocol error and a closed connection', async () => {
    const c = await rawConnect(t.port);
    c.write('PING\r\n*abc\r\n');
    await c.closed();
    expect(c.received().toString()).toBe('+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n');
    await bystanderWorks();
  });

  it('bad input - random bytes never crash the router', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await rawConnect(t.port);
      c.write(Buffer.concat([Buffer.from('*2\r\n$3\r\nGET\r\n'), randomBytes(4096)]));
      // Either a protocol error and close, or the garbage happens to parse as a
      // command the server answers; neither may hang the others.
      await new Promise((r) => setTimeout(r, 20));
      c.close();
    }
    await bystanderWorks();
  });

  it('bad input - a truncated frame waits for the rest, then completes', async () => {
    const c = await rawConnect(t.port);
    c.write('*3\r\n$3\r\nSET\r\n$5\r\ntrunc\r\n$5\r\nval');
    await new Promise((r) => setTimeout(r, 50));
    expect(c.received().length).toBe(0);
    c.write('ue\r\n');
    await c.until((b) => b.toString() === '+OK\r\n');
    c.close();
    await bystanderWorks();
  });

  it('bad input - a bulk length over the limit fails at once', async () => {
    const c = await rawConnect(t.port);
    c.write(`*2\r\n$3\r\nGET\r\n$${1024 * 1024 * 1024}\r\n`);
    await c.closed();
    expect(c.received().toString()).toBe('-ERR Protocol error: invalid bulk length\r\n');
  });

  it('bad input - 50 clients each sending a 10 MB bulk header with no body cost no 10 MB buffers', async () => {
    if (global.gc) global.gc();
    const before = process.memoryUsage();
    const clients = await Promise.all(Array.from({ length: 50 }, () => rawConnect(t.port)));
    for (const c of clients) c.write(`*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${10 * 1024 * 1024}\r\nonly-a-little`);
    await new Promise((r) => setTimeout(r, 200));
    const after = process.memoryUsage();
    const grown = after.rss + after.arrayBuffers - (before.rss + before.arrayBuffers);
    // 50 × 10 MB would be 500 MB; allow generous noise for everything else.
    expect(grown).toBeLessThan(100 * 1024 * 1024);
    await bystanderWorks();
    for (const c of clients) c.close();
  });

  it('bad input - 100k pipelined commands are all answered, in order, with bounded buffering', async () => {
    const c = await rawConnect(t.port);
    const total = 100_000;
    const parts: string[] = [];
    for (let i = 0; i < total; i++)
      parts.push(
        i % 2 === 0
          ? `*3\r\n$3\r\nSET\r\n$6\r\npipe:k\r\n$${String(i).length}\r\n${i}\r\n`
          : '*2\r\n$3\r\nGET\r\n$6\r\npipe:k\r\n',
      );
    // The client writes everything before reading anything, as a careless pipeline does.
    c.socket.pause();
    c.write(parts.join(''));
    await new Promise((r) => setTimeout(r, 300));
    c.socket.resume();
    const all = await c.until((b) => countSimpleReplies(b) >= total, 20_000);
    expect(countSimpleReplies(all)).toBe(total);
    const text = all.toString('latin1');
    // the last GET sees the last SET before it
    expect(text.endsWith(`$5\r\n${total - 2}\r\n`)).toBe(true);
    c.close();
    await bystanderWorks();
  });

  it('bad input - a client disconnecting mid-pipeline leaves the router serving', async () => {
    for (let i = 0; i < 5; i++) {
      const c = await rawConnect(t.port);
      c.write('*2\r\n$3\r\nGET\r\n$1\r\nx\r\n'.repeat(20_000));
      c.close();
    }
    await new Promise((r) => setTimeout(r, 100));
    await bystanderWorks();
    expect(t.hs.router.stats.connectedClients).toBe(1);
  });

  it('bad input - bytes after QUIT are ignored, as Redis does, even malformed ones', async () => {
    const c = await rawConnect(t.port);
    c.write('PING\r\nQUIT\r\n*abc\r\n');
    await c.closed();
    expect(c.received().toString()).toBe('+PONG\r\n+OK\r\n');
  });

  it('bad input - an unbalanced inline quote is a protocol error', async () => {
    const c = await rawConnect(t.port);
    c.write('SET a "unterminated\r\n');
    await c.closed();
    expect(c.received().toString()).toBe('-ERR Protocol error: unbalanced quotes in request\r\n');
  });
});

const hasRedis = requireBinary('redis-server', 'backend failure tests');
describe.skipIf(!hasRedis)('bad input - a redis node killed mid-request', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'redis', redisNodes: 4, backendTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('bad input - requests to the dead node get HS_ERR_SHARD_UNAVAILABLE; the other nodes keep serving', async () => {
    const redis = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    try {
      const victim = t.redis[1]!;
      const keysOn = (node: string): string[] =>
        Array.from({ length: 400 }, (_, i) => `kill:${i}`).filter(
          (k) => t.hs.router.table.shardFor(Buffer.from(k)).node === node,
        );
      const deadKeys = keysOn(victim.address);
      const liveKeys = keysOn(t.redis[0]!.address);
      expect(deadKeys.length).toBeGreaterThan(10);

      // A burst in flight while the node dies.
      const burst = deadKeys.flatMap((k) =>
        Array.from({ length: 50 }, () =>
          redis.set(k, 'v').then(
            () => 'ok',
            (e: Error) => e.message,
          ),
        ),
      );
      victim.kill('SIGKILL');
      const outcomes = await Promise.all(burst);
      const failures = outcomes.filter((o) => o !== 'ok');
      expect(failures.length).toBeGreaterThan(0);
      for (const f of failures) expect(f).toMatch(/HS_ERR_SHARD_UNAVAILABLE|HS_ERR_BACKEND_TIMEOUT/);

      // Afterwards: fail fast for the dead node, normal service elsewhere.
      const started = Date.now();
      await expect(redis.get(deadKeys[0]!)).rejects.toThrow(/HS_ERR_SHARD_UNAVAILABLE/);
      expect(Date.now() - started).toBeLessThan(500);
      await redis.set(liveKeys[0]!, 'alive');
      expect(await redis.get(liveKeys[0]!)).toBe('alive');
      // INFO still answers, naming the unreachable node.
      expect(await redis.info('keyspace')).toContain(`unreachable_nodes:${victim.address}`);
      // MGET spanning the dead node reports the failure rather than a silent nil.
      await expect(redis.mget(liveKeys[0]!, deadKeys[0]!)).rejects.toThrow(/HS_ERR_SHARD_UNAVAILABLE/);
    } finally {
      redis.disconnect();
    }
  });
});

// A protocol error followed by more bytes than the server reads before it
// notices (the 16 KB), from clients that hang up once they have the
// error: the server must see each one go, whatever was still unread.
const MEGABYTE = Buffer.alloc(1024 * 1024, 'x');
const BAD_OPENINGS: ReadonlyArray<readonly [string, string]> = [
  ['an over-limit bulk length', `*2\r\n$3\r\nGET\r\n$${1024 * 1024 * 1024}\r\n`],
  ['a 70 KB inline line', 'x'.repeat(70 * 1024)],
  ['a bulk missing its CRLF', '*2\r\n$3\r\nGET\r\n$1\r\nkXY'],
];

// Longer than any wait below, so a release can only come from seeing the client hang up.
const LONG_LINGER = 600_000;

const waitForClients = (t: TestHotshard, n: number): Promise<true> =>
  waitFor(
    `connected_clients back to ${n}`,
    () => (t.hs.router.stats.connectedClients === n ? true : undefined),
    10_000,
  );

describe('bad input - protocol error with data in flight', () => {
  let t: TestHotshard;
  let bystander: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', limits: { closeLingerMs: LONG_LINGER } });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    await bystander.ping();
  });
  afterAll(async () => {
    bystander?.disconnect();
    await t?.stop();
  });

  for (const [what, opening] of BAD_OPENINGS) {
    it(`bad input - 100 clients sending ${what} then 1 MB are all released when they hang up`, async () => {
      const clients = await Promise.all(Array.from({ length: 100 }, () => rawConnect(t.port)));
      for (const c of clients) {
        c.write(opening);
        c.write(MEGABYTE);
      }
      await Promise.all(clients.map((c) => c.until((b) => b.includes('-ERR Protocol error'))));
      // While they linger the server holds what it has not yet dropped, not
      // Node's 16 KB read buffer each (a paused socket fills it, and then the
      // kernel keeps the rest).
      await new Promise((r) => setTimeout(r, 100));
      expect(t.hs.resp.bufferedBytes).toBeLessThan(100 * 4096);
      for (const c of clients) c.close();
      await waitForClients(t, 1);
      expect(await t.hs.resp.sockets()).toBe(1);
      expect(await bystander.info('clients')).toContain('connected_clients:1\r\n');
      await bystander.set('in-flight:by', 'ok');
      expect(await bystander.get('in-flight:by')).toBe('ok');
    });
  }
});

// QUIT after more commands than maxPipeline (reading paused mid-pipeline),
// then more bytes: the client gets every reply and +OK, nothing after it, and
// its slot is released when it hangs up.
const pipelineThenQuit = async (t: TestHotshard): Promise<void> => {
  const total = 1100;
  const c = await rawConnect(t.port);
  c.write('*2\r\n$3\r\nGET\r\n$6\r\nq:none\r\n'.repeat(total) + 'QUIT\r\n');
  c.write(MEGABYTE);
  const all = await c.until((b) => countSimpleReplies(b) >= total + 1, 20_000);
  expect(all.toString()).toBe('$-1\r\n'.repeat(total) + '+OK\r\n');
  c.close();
  await waitForClients(t, 1);
};

describe('bad input - pipeline past maxPipeline, QUIT, more bytes - memory backend', () => {
  let t: TestHotshard;
  let bystander: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', limits: { closeLingerMs: LONG_LINGER } });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    await bystander.ping();
  });
  afterAll(async () => {
    bystander?.disconnect();
    await t?.stop();
  });

  it('bad input - every reply, +OK, then the slot is released when the client hangs up', async () => {
    await pipelineThenQuit(t);
    expect(await bystander.ping()).toBe('PONG');
  });
});

describe.skipIf(!hasRedis)('bad input - pipeline past maxPipeline, QUIT, more bytes - redis backend', () => {
  let t: TestHotshard;
  let bystander: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'redis', redisNodes: 2, limits: { closeLingerMs: LONG_LINGER } });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    await bystander.ping();
  });
  afterAll(async () => {
    bystander?.disconnect();
    await t?.stop();
  });

  it('bad input - every reply, +OK, then the slot is released when the client hangs up', async () => {
    await pipelineThenQuit(t);
    await bystander.set('quit:by', 'ok');
    expect(await bystander.get('quit:by')).toBe('ok');
  });
});
