import { afterEach, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId, shardId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable, ShardStatus } from '../../src/keyspace/routing-table.js';
import { ShardMove, type MoveState } from '../../src/rebalance/index.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { requireBinary, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';
import { CheckedLoad, DirectWriter, direct, keysIn, keysOn, value, via } from './move-harness.js';

const hasRedis = requireBinary('redis-server', 'live move tests on Redis');

const S0 = shardId('s0');
let procs: RedisProcess[] = [];
const backends: RedisBackend[] = [];
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});

async function backend(p: RedisProcess, node = nodeId(p.address)): Promise<RedisBackend> {
  const b = new RedisBackend({ node, host: p.host, port: p.port, maxBusyMs: 0 });
  backends.push(b);
  await b.connect();
  return b;
}

/**
 * Three redis-servers: n0 and n1 hold four shards, n2 joined at runtime and
 * holds none yet (so a client reaches it only after a switch).
 */
async function cluster(): Promise<{ router: Router; nodes: RedisBackend[]; procs: RedisProcess[] }> {
  procs = await startRedisCluster(3);
  const nodes = await Promise.all(procs.map((p, i) => backend(p, nodeId(`n${i}`))));
  const table = RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: [nodes[0]!.node, nodes[1]!.node],
    shards: 4,
  });
  const router = new Router(table, new Map(nodes.slice(0, 2).map((n) => [n.node, n])));
  router.addBackend(nodes[2]!.node, nodes[2]!);
  router.setTable(router.table.withNode(nodes[2]!.node));
  return { router, nodes, procs };
}

function load(router: Router, n = 300): CheckedLoad {
  const some = (kind: string, count: number): string[] => [
    ...keysIn(router, S0, `in:${kind}:`, count),
    ...Array.from({ length: count }, (_, i) => `out:${kind}:${i}`),
  ];
  return new CheckedLoad(
    router,
    { string: some('s', n), counter: some('c', n / 4), append: some('a', n / 4), short: some('x', n / 8) },
    16,
    50,
  );
}

const inS0 = (router: Router) => (k: Buffer) => router.table.shardFor(k).id === S0;

async function bulk(router: Router, n: number): Promise<void> {
  const session = new Session(7, 'bulk', false, 0);
  const keys = keysIn(router, S0, 'bulk:', n);
  for (let i = 0; i < keys.length; i += 1_000)
    await Promise.all(keys.slice(i, i + 1_000).map((k) => via(router, session, 'SET', k, `v${k}`)));
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

describe.skipIf(!hasRedis)('live move - redis-server nodes', () => {
  it('moves a shard under mixed load and a direct client of the source: 0 failed, every acknowledged write there once, TTLs carried, a 10 MB value copied', async () => {
    const { router, nodes, procs } = await cluster();
    const [n0, n1] = nodes as [RedisBackend, RedisBackend];
    const l = load(router);
    await l.fill();
    await bulk(router, 20_000);
    const session = new Session(5, 'big', false, 0);
    const big = Buffer.alloc(10 * 1024 * 1024, 'x');
    big.write('head', 0);
    const bigKey = keysIn(router, S0, 'big:', 1)[0]!;
    await via(router, session, 'SET', bigKey, big, 'PX', '600000');
    // Another client of the source node: its writes bypass the router.
    const outsider = await backend(procs[0]!, nodeId('outsider'));
    const writer = new DirectWriter(outsider, keysIn(router, S0, 'direct:', 50));
    const phases: string[] = [];
    const journal = {
      save: async (s: MoveState): Promise<void> => {
        phases.push(s.phase);
        if (s.phase === 'cutover') await writer.stop();
      },
    };
    l.start(21);
    writer.start();
    await until(() => l.ops > 2_000);
    const opsBefore = l.ops;
    const move = new ShardMove({
      router,
      shard: S0,
      target: n1.node,
      journal,
      limits: { maxKeysPerSec: 40_000 },
    });
    const result = await move.run();
    const opsDuring = l.ops - opsBefore;
    await l.stop();
    await writer.stop();

    expect(result.detail).toBeNull();
    expect(result.state).toBe('done');
    expect(phases).toEqual([
      'preparing',
      'copying',
      'catching-up',
      'verifying',
      'cutover',
      'cleanup',
      'finished',
    ]);
    expect(l.failures).toEqual([]);
    expect(writer.failures).toEqual([]);
    expect(opsDuring).toBeGreaterThan(1_000);
    expect(await l.check()).toEqual([]);
    expect(writer.written.size).toBe(50);
    for (const [k, v] of writer.written)
      expect((value(await via(router, session, 'GET', k)) as Buffer).toString()).toBe(v);
    const gotBig = value(await via(router, session, 'GET', bigKey));
    expect(Buffer.isBuffer(gotBig) && gotBig.equals(big)).toBe(true);
    expect(Number(value(await direct(n1, 'PTTL', bigKey)))).toBeGreaterThan(500_000);
    expect(await keysOn(n0, inS0(router))).toEqual([]);
    expect((await keysOn(n1, inS0(router))).length).toBeGreaterThan(20_000);
    expect(router.table.shard(S0)!.node).toBe(n1.node);
    expect(result.move.counters.verifyMismatches).toBe(0);
  });

  it('cancel mid-copy: the old state exactly, the target holds nothing of the range', async () => {
    const { router, nodes } = await cluster();
    const n2 = nodes[2]!;
    await bulk(router, 10_000);
    const l = load(router, 200);
    await l.fill();
    const before = { ...router.table.shard(S0)! };
    l.start(22);
    const move = new ShardMove({ router, shard: S0, target: n2.node, limits: { maxKeysPerSec: 10_000 } });
    const running = move.run();
    await until(() => move.progress().keysCopied > 0);
    move.cancel('test');
    const result = await running;
    await l.stop();
    expect(result.state).toBe('cancelled');
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(Number(value(await direct(n2, 'DBSIZE')))).toBe(0);
    expect({ ...router.table.shard(S0)! }).toEqual(before);
  });

  it('target redis-server killed during the copy: rolled back, no client request failed', async () => {
    const { router, nodes, procs } = await cluster();
    const n2 = nodes[2]!;
    await bulk(router, 10_000);
    const l = load(router, 200);
    await l.fill();
    l.start(23);
    const move = new ShardMove({ router, shard: S0, target: n2.node, limits: { maxKeysPerSec: 10_000 } });
    const running = move.run();
    await until(() => move.progress().keysCopied > 0);
    procs[2]!.kill('SIGKILL');
    const result = await running;
    await new Promise((r) => setTimeout(r, 100));
    await l.stop();
    expect(result.state).toBe('rolled-back');
    expect(result.detail).toMatch(/target n2 unreachable/);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    const s = router.table.shard(S0)!;
    expect([s.node, s.status]).toEqual([nodeId('n0'), ShardStatus.Active]);
  });

  it('write watch connection killed on the source mid-copy: the copy starts over, nothing missed', async () => {
    const { router, nodes } = await cluster();
    const [n0, n1] = nodes as [RedisBackend, RedisBackend];
    await bulk(router, 10_000);
    const l = load(router, 200);
    await l.fill();
    l.start(24);
    const move = new ShardMove({ router, shard: S0, target: n1.node, limits: { maxKeysPerSec: 20_000 } });
    const running = move.run();
    await until(() => move.progress().keysCopied > 0);
    expect(Number(value(await direct(n0, 'CLIENT', 'KILL', 'TYPE', 'pubsub')))).toBe(1);
    const result = await running;
    await l.stop();
    expect(result.state).toBe('done');
    expect(result.move.counters.copyRestarts).toBe(1);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(await keysOn(n0, inS0(router))).toEqual([]);
  });

  it('source redis-server killed: the move fails and says so, routing unchanged', async () => {
    const { router, procs } = await cluster();
    await bulk(router, 10_000);
    const before = { ...router.table.shard(S0)! };
    const target: NodeId = nodeId('n2');
    const move = new ShardMove({ router, shard: S0, target, limits: { maxKeysPerSec: 10_000 } });
    const running = move.run();
    await until(() => move.progress().keysCopied > 0);
    procs[0]!.kill('SIGKILL');
    const result = await running;
    expect(result.state).toBe('failed');
    expect(result.detail).toMatch(/source n0 is down; routing unchanged/);
    expect({ ...router.table.shard(S0)! }).toEqual(before);
  });
});
