/**
 * Bad input never takes the router down: the offending client gets an error
 * (and, for protocol errors, a closed connection); every other client keeps
 * being served, and memory stays bounded.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { HotshardError } from '../../src/errors.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { OK, ReplyError, type Reply } from '../../src/protocol/reply.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
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

// --- issue 12: routing tables, big replies, nodes down ------------------------------------

describe('bad input - routing tables and telemetry', () => {
  const nodes = ['n0', 'n1'].map(nodeId);
  const memoryCluster = (): { table: RoutingTable; backends: Map<NodeId, ShardBackend> } => ({
    table: RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 }),
    backends: new Map<NodeId, ShardBackend>(nodes.map((n) => [n, new MemoryBackend({ node: n })])),
  });
  const dispatch = (router: Router, ...args: string[]): Reply => {
    let reply: Reply | undefined;
    router.dispatch(
      new Session(1, 'test', false, 0),
      args.map((a) => Buffer.from(a)),
      undefined,
      (r) => (reply = r),
    );
    if (reply === undefined) throw new Error(`no synchronous reply to ${args.join(' ')}`);
    return reply;
  };

  it('bad input - setTable refuses a table that places a shard on a node with no backend, and keeps serving', () => {
    const { table, backends } = memoryCluster();
    const router = new Router(table, backends);
    const stray = table.withNode(nodeId('n9')).move(table.shards[1]!.id, nodeId('n9'));
    expect(() => router.setTable(stray)).toThrow(HotshardError);
    expect(() => router.setTable(stray)).toThrow(
      `routing table v${stray.version} places shard ${table.shards[1]!.id} on node n9, which has no backend`,
    );
    expect(router.table).toBe(table);
    // A node with no shard needs no backend yet (it is where a move will go).
    expect(router.setTable(table.withNode(nodeId('n9')))).toBe(true);
    for (let i = 0; i < 50; i++) expect(dispatch(router, 'SET', `k${i}`, 'v')).toBe(OK);
  });

  it('bad input - an MSET with an odd number of arguments is refused before telemetry counts it', () => {
    const { table, backends } = memoryCluster();
    const router = new Router(table, backends);
    const clock = new ManualClock(1_700_000_000_000);
    const telemetry = new RouterTelemetry({ clock, sampleBudget: Infinity });
    router.instrument(new Instrumentation(telemetry, table));
    const reply = dispatch(router, 'MSET', 'a', '1', 'b');
    expect(reply).toBeInstanceOf(ReplyError);
    expect((reply as ReplyError).message).toBe("ERR wrong number of arguments for 'mset' command");
    expect(router.stats.rejected).toBe(1);
    expect(dispatch(router, 'MSET', 'a', '1', 'b', '2')).toBe(OK);
    clock.advance(1000);
    let writes = 0;
    for (const w of telemetry.window('shard', 1).values()) writes += w.writes;
    expect(writes).toBe(2); // the good MSET's two keys, nothing of the refused one
  });
});
