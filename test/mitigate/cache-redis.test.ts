/**
 * The cache overlay over two real redis-server nodes: the model check under
 * concurrency, writes by another client straight to Redis (reported over
 * CLIENT TRACKING), a killed subscriber (nothing served from the cache until
 * tracking is back), and coalescing counted by Redis itself (INFO
 * commandstats).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { ManualClock } from '../../src/clock.js';
import { cacheRemedy } from '../../src/mitigate/actions/cache.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import type { KeyPolicy } from '../../src/mitigate/policy.js';
import { RawReply, type Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';
import { respRoundTrip } from '../../src/testkit/round-trip.js';
import { plain, runModel, USUAL_LOAD } from './cache-model.js';
import { send } from './cluster.js';

const hasRedis = requireBinary('redis-server', 'cache overlay tests over Redis');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const NODES = ['n0', 'n1'].map(nodeId);
const servers = new Map<NodeId, RedisProcess>();
const backends: RedisBackend[] = [];

beforeAll(async () => {
  if (!hasRedis) return;
  for (const n of NODES) servers.set(n, await startRedis());
}, 30_000);
afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.stop()));
});
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all([...servers.values()].map((s) => ask(s, 'FLUSHALL')));
});

/** One command as another client of the node, straight to Redis. */
async function ask(server: RedisProcess, ...command: string[]): Promise<Reply> {
  const [reply] = await respRoundTrip(server.host, server.port, [command], 5_000);
  return reply!;
}

async function router(): Promise<Router> {
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes: NODES, shards: 4 });
  const map = new Map<NodeId, ShardBackend>();
  for (const n of NODES) {
    const s = servers.get(n)!;
    const b = new RedisBackend({ node: n, host: s.host, port: s.port });
    await b.connect();
    backends.push(b);
    map.set(n, b);
  }
  return new Router(table, map);
}

const policy: KeyPolicy = {
  consistency: 'bounded',
  cache: { maxStaleMs: 60_000, staleWhileRevalidate: false },
};

async function cached(r: Router, keys: string[]) {
  const remedy = cacheRemedy();
  const manager = new PolicyManager({ router: r, clock: new ManualClock() }, [remedy]);
  for (const k of keys) await manager.set(Buffer.from(k), policy);
  const status = (k: string) =>
    manager.get(Buffer.from(k))!.status['cache'] as Record<string, number | boolean>;
  // The feeds subscribe on a key's first fill; a Redis feed is live once tracking is set up.
  const live = async (k: string): Promise<void> => {
    for (let i = 0; i < 500 && status(k)['liveFeed'] !== true; i++) {
      await send(r, 'get', k);
      await sleep(5);
    }
    expect(status(k)['liveFeed']).toBe(true);
  };
  // A write's invalidation arrives on the subscriber a moment after the write's reply and may drop the
  // fill that followed: read until an entry stays.
  const fill = async (k: string): Promise<void> => {
    for (let i = 0; i < 200 && status(k)['entries'] === 0; i++) {
      await send(r, 'get', k);
      await sleep(5);
    }
    expect(status(k)['entries']).toBe(1);
  };
  return { manager, status, live, fill };
}

function serverOf(r: Router, key: string): RedisProcess {
  const t = r.table;
  return servers.get(t.shards[t.indexFor(Buffer.from(key))]!.node)!;
}

/** Calls of `command` the node has served (INFO commandstats). */
async function calls(server: RedisProcess, command: string): Promise<number> {
  const info = plain(await ask(server, 'INFO', 'commandstats')) as string;
  const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return m === null ? 0 : Number(m[1]);
}

describe.skipIf(!hasRedis)('cache overlay over Redis', () => {
  it.each([1, 2])(
    'no read older than a write acknowledged before it was sent (seed %i)',
    async (seed) => {
      const r = await router();
      const keys = ['hot:a', 'hot:b', 'hot:c', 'hot:d'];
      const { status, live } = await cached(r, keys);
      for (const k of keys) await live(k);
      const run = await runModel({ router: r, keys, seed, ops: 100, ...USUAL_LOAD });
      expect(run.violations).toEqual([]);
      expect(run.writes).toBeGreaterThan(50);
      const hits = keys.reduce((n, k) => n + (status(k)['hits'] as number), 0);
      expect(hits).toBeGreaterThan(0);
    },
    60_000,
  );

  it("an entry keeps its value in a buffer of its own, not the 64 KB read buffer the node's reply landed in", async () => {
    const r = await router();
    const { status, live, fill } = await cached(r, ['k']);
    await live('k');
    await ask(serverOf(r, 'k'), 'SET', 'k', 'v'.repeat(100));
    await fill('k');
    const hits = status('k')['hits'] as number;
    const reply = await send(r, 'get', 'k');
    expect(status('k')['hits']).toBe(hits + 1);
    expect(reply).toBeInstanceOf(RawReply);
    const bytes = (reply as RawReply).bytes;
    expect(bytes.toString()).toBe(`$100\r\n${'v'.repeat(100)}\r\n`);
    // A 108-byte reply pinning a 64 KB buffer would hold 600 times what the cache counts.
    expect(bytes.buffer.byteLength).toBe(bytes.length);
  });

  it('a SET by another client straight to Redis is seen within a bounded number of polls', async () => {
    const r = await router();
    const { status, live } = await cached(r, ['k']);
    await live('k');
    const server = serverOf(r, 'k');
    for (let round = 0; round < 5; round++) {
      await ask(server, 'SET', 'k', `direct-${round}`);
      let polls = 0;
      while (plain(await send(r, 'get', 'k')) !== `direct-${round}`) {
        expect(++polls).toBeLessThan(200); // 200 × 5 ms: the push link is slow, not lost
        await sleep(5);
      }
      // Cached again, and served as a hit until the next write.
      await send(r, 'get', 'k');
      expect(plain(await send(r, 'get', 'k'))).toBe(`direct-${round}`);
    }
    expect(status('k')['hits']).toBeGreaterThanOrEqual(5);
  }, 30_000);

  it('with the subscriber killed nothing is served from the cache; caching resumes once tracking is back', async () => {
    const r = await router();
    const { status, live, fill } = await cached(r, ['k']);
    await live('k');
    const server = serverOf(r, 'k');
    await send(r, 'set', 'k', 'v0');
    await fill('k');
    expect(plain(await ask(server, 'CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBe(1);
    for (let i = 0; i < 400 && status('k')['entries'] !== 0; i++) await sleep(5);
    expect(status('k')['entries']).toBe(0); // flushed at linkDown
    // While the link is down every read sees the write made just before it. Once it is
    // back, a direct write reaches the cache as an invalidation a moment after its reply
    // (Redis's own client-side caching): a read may then be stale for that moment, no longer.
    let whileDown = 0;
    for (let i = 1; i <= 20; i++) {
      const downBefore = status('k')['liveFeed'] !== true;
      await ask(server, 'SET', 'k', `v${i}`);
      const got = plain(await send(r, 'get', 'k'));
      if (downBefore && status('k')['liveFeed'] !== true) {
        whileDown++;
        expect(got).toBe(`v${i}`);
        continue;
      }
      let seen = got;
      for (let t = 0; t < 200 && seen !== `v${i}`; t++) {
        await sleep(5);
        seen = plain(await send(r, 'get', 'k'));
      }
      expect(seen).toBe(`v${i}`);
    }
    // How long the link stays down is Redis's and the machine's business (first retry
    // after 50 ms); the embedded cut-link test pins the down case deterministically.
    void whileDown;
    await live('k');
    // The last direct SET's invalidation may still be on its way and drop the next fill: a few tries.
    const hits = status('k')['hits'] as number;
    for (let i = 0; i < 100 && status('k')['hits'] === hits; i++) {
      expect(plain(await send(r, 'get', 'k'))).toBe('v20');
      await sleep(5);
    }
    expect(status('k')['hits']).toBeGreaterThan(hits);
  }, 30_000);

  it('concurrent GETs of a cold key are one GET at Redis; an error reaches every waiter and is not cached', async () => {
    const r = await router();
    const { status, live } = await cached(r, ['k', 'h']);
    await live('k');
    await live('h');
    await send(r, 'set', 'k', 'v');
    await send(r, 'hset', 'h', 'f', 'v');
    for (const [key, want] of [
      ['k', 'v'],
      ['h', '!WRONGTYPE'],
    ] as const) {
      const server = serverOf(r, key);
      const before = await calls(server, 'get');
      const replies = await Promise.all(Array.from({ length: 30 }, () => send(r, 'get', key)));
      expect(replies.map(plain)).toEqual(Array(30).fill(want));
      expect((await calls(server, 'get')) - before).toBe(1);
      expect(status(key)['coalesced']).toBe(29);
    }
    const server = serverOf(r, 'h');
    const before = await calls(server, 'get');
    await send(r, 'get', 'h');
    expect((await calls(server, 'get')) - before).toBe(1); // the error was not cached
  }, 30_000);
});

describe.skipIf(!hasRedis)('cache overlay over Redis: a client’s own pipeline', () => {
  it('a GET pipelined right behind a SET of a cached key reads the SET, as from Redis', async () => {
    const r = await router();
    await send(r, 'set', 'pipe', 'v0');
    const { fill, status } = await cached(r, ['pipe']);
    for (let round = 1; round <= 20; round++) {
      await fill('pipe');
      expect(plain(await send(r, 'get', 'pipe'))).toBe(`v${round - 1}`); // a hit
      // Sent back to back without waiting: the GET goes out while the SET is in flight.
      const set = send(r, 'set', 'pipe', `v${round}`);
      const get = send(r, 'get', 'pipe');
      expect(plain(await set)).toBe('OK');
      expect(plain(await get)).toBe(`v${round}`);
    }
    expect(status('pipe')['hits']).toBeGreaterThan(0);
  });

  it('FLUSHALL through the router empties the cache at its acknowledgement', async () => {
    const r = await router();
    await send(r, 'set', 'gone', 'v');
    const { fill } = await cached(r, ['gone']);
    await fill('gone');
    const admin = new Session(2, 'test', false, 0);
    admin.admin = true;
    const flushed = await send(r, admin, 'flushall');
    expect(plain(flushed)).toBe('OK');
    expect(plain(await send(r, 'get', 'gone'))).toBeNull();
  });
});

describe.skipIf(!hasRedis)('cache overlay over Redis: write-through', () => {
  it('a plain SET through the router is kept at its acknowledgement (a Redis node answers +OK as raw bytes)', async () => {
    const r = await router();
    const remedy = cacheRemedy();
    const manager = new PolicyManager({ router: r, clock: new ManualClock() }, [remedy]);
    await manager.set(Buffer.from('wt'), {
      consistency: 'bounded',
      cache: { maxStaleMs: 60_000, staleWhileRevalidate: false, writeThrough: true },
    });
    const status = (): Record<string, number | boolean> =>
      manager.get(Buffer.from('wt'))!.status['cache'] as Record<string, number | boolean>;
    for (let i = 0; i < 500 && status()['liveFeed'] !== true; i++) {
      await send(r, 'get', 'wt');
      await sleep(5);
    }
    expect(plain(await send(r, 'set', 'wt', 'v1'))).toBe('OK');
    expect(status()['writeThroughs']).toBe(1);
    const server = serverOf(r, 'wt');
    const gets = await calls(server, 'get');
    expect(plain(await send(r, 'get', 'wt'))).toBe('v1');
    expect(status()['hits']).toBeGreaterThan(0);
    // Served here: at most the background read that re-arms tracking reached the node.
    expect((await calls(server, 'get')) - gets).toBeLessThanOrEqual(1);
  });
});
