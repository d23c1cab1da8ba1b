/**
 * Node health over real redis-server processes: hotshard starts while a node
 * is down, serves the others, reports the node (/nodes, /shards, /healthz,
 * hotshard_node_up, /events, the log) and serves it once it is back.
 */
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ErrorCode } from '../../src/errors.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import {
  freePort,
  requireBinary,
  startRedis,
  startRedisCluster,
  type RedisProcess,
} from '../../src/testkit/index.js';
import { openEvents, waitFor } from './harness.js';

const hasRedis = requireBinary('redis-server', 'node health tests');

/** A row of GET /nodes. */
interface NodeRow {
  id: string;
  kind: string;
  address: string | null;
  status: 'up' | 'down';
  since: number;
  reason: string | null;
  latencyMs: number | null;
  shards: number;
}

/** Log lines a test hotshard wrote, parsed. */
interface LogLine {
  level: number;
  msg: string;
  node?: string;
  reason?: string;
}

/** A hotshard over `addresses` whose log lines are kept. */
async function start(
  addresses: readonly string[],
  extra: Record<string, unknown> = {},
): Promise<{ hs: Hotshard; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const config = loadConfig({
    flags: {
      respPort: 0,
      httpPort: 0,
      backend: 'redis',
      redis: addresses.join(','),
      backendTimeoutMs: 500,
      shutdownDrainMs: 200,
      ...extra,
    },
  });
  const hs = await startHotshard(config, pino({ level: 'info' }, sink));
  return { hs, logs };
}

async function nodes(hs: Hotshard): Promise<NodeRow[]> {
  const res = await hs.http.inject({ method: 'GET', url: '/nodes' });
  expect(res.statusCode).toBe(200);
  return res.json<{ nodes: NodeRow[] }>().nodes;
}

async function nodeUp(hs: Hotshard, node: string): Promise<number | undefined> {
  // Only this family is read: the default process metrics are not this test's business.
  const text = (await hs.http.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`hotshard_node_up{node="${node}"} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.skipIf(!hasRedis)('nodes - a redis node down at start', () => {
  let live: RedisProcess[];
  let downPort: number;
  let down: string;
  let hs: Hotshard;
  let logs: LogLine[];
  let revived: RedisProcess | undefined;
  beforeAll(async () => {
    live = await startRedisCluster(2);
    downPort = await freePort();
    down = `127.0.0.1:${downPort}`;
    ({ hs, logs } = await start([live[0]!.address, down, live[1]!.address]));
  });
  afterAll(async () => {
    await hs?.close();
    await Promise.all([...(live ?? []), ...(revived === undefined ? [] : [revived])].map((r) => r.stop()));
  });

  it('nodes - hotshard starts, serves the other nodes, reports the down node, and serves it once it is back', async () => {
    const client = new Redis({ port: hs.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    const events = await openEvents(hs.httpPort, 0);
    try {
      // Reported: the log, /nodes, /shards, /healthz, the gauge, /events.
      const downLog = logs.find((l) => l.node === down && l.level >= 50);
      expect(downLog?.msg).toMatch(/unreachable at start/);
      expect(downLog?.reason).toMatch(/ECONNREFUSED/);
      const rows = await nodes(hs);
      expect(rows.map((r) => [r.id, r.status])).toEqual([
        [live[0]!.address, 'up'],
        [down, 'down'],
        [live[1]!.address, 'up'],
      ]);
      const row = rows[1]!;
      expect(row).toMatchObject({ kind: 'redis', address: down, latencyMs: null });
      expect(row.reason).toMatch(/ECONNREFUSED/);
      expect(row.shards).toBe(hs.router.table.shardsOn(row.id as never).length);
      expect(row.shards).toBeGreaterThan(0);
      const shards = (await hs.http.inject({ method: 'GET', url: '/shards' })).json<{
        shards: { node: string; status: string; node_status: string }[];
      }>().shards;
      for (const s of shards) expect(s.node_status).toBe(s.node === down ? 'down' : 'up');
      const health = (await hs.http.inject({ method: 'GET', url: '/healthz' })).json<{ status: string }>();
      expect(health.status).toBe('degraded');
      expect(await nodeUp(hs, down)).toBe(0);
      expect(await nodeUp(hs, live[0]!.address)).toBe(1);
      const downEvent = await events.until((e) => e.event === 'node.down' && e.data.node === down);
      expect(downEvent.data.reason).toMatch(/ECONNREFUSED/);

      // Served: keys of the live nodes work; keys of the down node fail at once, naming it.
      const keyOn = (node: string): string =>
        Array.from({ length: 1000 }, (_, i) => `k${i}`).find(
          (k) => hs.router.table.shardFor(Buffer.from(k)).node === node,
        )!;
      await client.set(keyOn(live[1]!.address), 'alive');
      expect(await client.get(keyOn(live[1]!.address))).toBe('alive');
      await expect(client.get(keyOn(down))).rejects.toThrow(
        new RegExp(`${ErrorCode.ShardUnavailable} node ${down} is down`),
      );

      // Back: the node starts where it was configured; hotshard finds it and serves it.
      revived = await startRedis({ port: downPort });
      const up = await events.until((e) => e.event === 'node.up' && e.data.node === down, 10_000);
      expect(up.id).toBeGreaterThan(downEvent.id);
      expect(logs.some((l) => l.node === down && l.level === 30 && /is up/.test(l.msg))).toBe(true);
      await client.set(keyOn(down), 'back');
      expect(await client.get(keyOn(down))).toBe('back');
      const after = (await nodes(hs)).find((r) => r.id === down)!;
      expect(after.status).toBe('up');
      expect(after.reason).toBeNull();
      expect(after.since).toBeGreaterThanOrEqual(row.since);
      expect(await nodeUp(hs, down)).toBe(1);
      // Latency comes from an idle-time PING: wait for the first one.
      await waitFor('a latency reading', async () =>
        (await nodes(hs)).every((r) => r.latencyMs !== null) ? true : undefined,
      );
    } finally {
      events.close();
      client.disconnect();
    }
  });
});

describe.skipIf(!hasRedis)('nodes - start-up decisions', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('nodes - with every node down hotshard still starts, says so loudly, and answers with the reason', async () => {
    const ports = [await freePort(), await freePort()];
    const { hs, logs } = await start(ports.map((p) => `127.0.0.1:${p}`));
    cleanup.push(() => hs.close());
    expect(logs.some((l) => l.level >= 50 && /no redis node answers/.test(l.msg))).toBe(true);
    expect((await nodes(hs)).map((r) => r.status)).toEqual(['down', 'down']);
    const client = new Redis({ port: hs.respPort, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    cleanup.push(() => Promise.resolve(client.disconnect()));
    await expect(client.get('k')).rejects.toThrow(/HS_ERR_SHARD_UNAVAILABLE .* is down \(.*ECONNREFUSED/);
  });

  it('nodes - a host name that does not resolve is reported as such at start', async () => {
    const live = await startRedis();
    cleanup.push(() => live.stop());
    const typo = 'no-such-host.invalid:6379';
    const { hs, logs } = await start([live.address, typo]);
    cleanup.push(() => hs.close());
    const line = logs.find((l) => l.node === typo && l.level >= 50);
    expect(line?.msg).toMatch(/unreachable at start/);
    expect(line?.reason).toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect((await nodes(hs)).find((r) => r.id === typo)?.reason).toMatch(/ENOTFOUND|EAI_AGAIN/);
  });

  it('nodes - a node that rejects the password stops start-up (a configuration error, not an outage)', async () => {
    const guarded = await startRedis({ password: 'right' });
    cleanup.push(() => guarded.stop());
    await expect(start([guarded.address], { redisPassword: 'wrong' })).rejects.toMatchObject({
      code: ErrorCode.BadAuth,
    });
  });
});
