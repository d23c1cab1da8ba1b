/**
 * Live moves with several routers on one PostgreSQL store, in front of the
 * same redis-servers: a checked load through every router while router 1
 * moves a range (0 failed, 0 lost: every router holds the range at the
 * cutover); a router that stops acking (SIGSTOP) makes the cutover give up
 * until its lease runs out; a router whose hold outlives its timeout (the
 * mover died) asks the store where the range is, and a late switch is then
 * refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeId, shardId, type ShardId } from '../../src/keyspace/ids.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { ShardMove } from '../../src/rebalance/index.js';
import type { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { HoldLost } from '../../src/store/index.js';
import { freePort } from '../../src/testkit/free-port.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { requireBinary, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';
import { createTestDatabase, postgresForTests, type TestDatabase } from '../store/pg-database.js';
import { CheckedLoad, keysIn, text, via } from './move-harness.js';

const hasRedis = requireBinary('redis-server', 'multi-router move tests');
let hasPostgres = false;
beforeAll(async () => {
  hasPostgres = await postgresForTests('multi-router move tests');
});

const S0 = shardId('s0');
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

const routers: TestHotshard[] = [];
let procs: RedisProcess[] = [];
const children: ChildProcess[] = [];
let db: TestDatabase | undefined;
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(routers.splice(0).map((r) => r.stop()));
  await Promise.all(procs.splice(0).map((p) => p.stop()));
  await db?.drop();
  db = undefined;
});

/** `n` routers on one fresh database, in front of three fresh redis-servers; 4 shards. */
async function cluster(n: number, routerLeaseMs = 10_000): Promise<TestHotshard[]> {
  db = await createTestDatabase('hs_multi');
  procs = await startRedisCluster(3);
  for (let i = 0; i < n; i++)
    routers.push(
      await startTestHotshard({
        backend: 'redis',
        redisProcesses: procs,
        store: db.url,
        shards: 4,
        telemetry: false,
        routerLeaseMs,
      }),
    );
  return routers;
}

/** A checked load through `router` on keys of its own (`tag`), half of them in s0. */
function load(router: Router, tag: string, n = 120): CheckedLoad {
  const some = (kind: string, count: number): string[] => [
    ...keysIn(router, S0, `${tag}:in:${kind}:`, count),
    ...Array.from({ length: count }, (_, i) => `${tag}:out:${kind}:${i}`),
  ];
  return new CheckedLoad(
    router,
    { string: some('s', n), counter: some('c', n / 2), append: some('a', n / 2), short: some('x', n / 8) },
    8,
    20,
  );
}

async function bulk(router: Router, shard: ShardId, n: number): Promise<void> {
  const session = new Session(7, 'bulk', false, 0);
  const keys = keysIn(router, shard, 'bulk:', n);
  for (let i = 0; i < keys.length; i += 1_000)
    await Promise.all(keys.slice(i, i + 1_000).map((k) => via(router, session, 'SET', k, `v${k}`)));
}

async function eventually(check: () => void | Promise<void>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const until = async (cond: () => boolean): Promise<void> => {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
};

/** A router in a process of its own over the cluster's nodes and store (so it can be frozen or killed like a host). */
async function childRouter(
  leaseMs: number,
  extra: string[] = [],
): Promise<{ child: ChildProcess; httpPort: number }> {
  const httpPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      'start',
      '--backend',
      'redis',
      '--redis',
      procs.map((p) => p.address).join(','),
      '--store',
      db!.url,
      '--resp-port',
      String(await freePort()),
      '--http-port',
      String(httpPort),
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOTSHARD_ROUTER_LEASE_MS: String(leaseMs) } },
  );
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(() => expect(out).toMatch(/hotshard ready/), `the child router starts: ${out}`, 90_000);
  return { child, httpPort };
}

/** The node s0 is not on, among the cluster's. */
function otherNode(table: RoutingTable): string {
  const from = table.shard(S0)!.node;
  return table.nodes().find((n) => n !== from)!;
}

describe.skipIf(!hasRedis)('live move - several routers on one PostgreSQL store', () => {
  it('multi-router move - a checked load through three routers while router 1 moves s0: 0 failed, 0 lost, every router on the new version', async (ctx) => {
    if (!hasPostgres) return ctx.skip();
    const [r1, r2, r3] = await cluster(3);
    await eventually(async () => {
      expect((await r1!.hs.store.store.routers.live()).length).toBe(3);
    }, 'three live routers');
    const listed = await fetch(`http://127.0.0.1:${r2!.httpPort}/routers`);
    expect(listed.status).toBe(200);
    const body = (await listed.json()) as {
      self: string;
      shared: boolean;
      routers: { id: string; live: boolean }[];
    };
    expect(body.self).toBe(r2!.hs.store.cutover!.routerId);
    expect(body.shared).toBe(true);
    expect(
      body.routers
        .filter((r) => r.live)
        .map((r) => r.id)
        .sort(),
    ).toEqual([r1, r2, r3].map((r) => r!.hs.store.cutover!.routerId).sort());
    await bulk(r1!.hs.router, S0, 5_000);
    const loads = [load(r1!.hs.router, 'r1'), load(r2!.hs.router, 'r2'), load(r3!.hs.router, 'r3')];
    await Promise.all(loads.map((l) => l.fill()));
    loads.forEach((l, i) => l.start(31 + i));
    await until(() => loads.every((l) => l.ops > 300));
    const target = otherNode(r1!.hs.router.table);
    const move = new ShardMove({
      router: r1!.hs.router,
      shard: S0,
      target: nodeId(target),
      cutover: r1!.hs.store.cutover,
      limits: { maxKeysPerSec: 20_000 },
    });
    const opsBefore = loads.map((l) => l.ops);
    const result = await move.run();
    // Keep the load on a little after the switch: stale routers would show now.
    const after = loads.map((l) => l.ops);
    await until(() => loads.every((l, i) => l.ops > after[i]! + 100));
    await Promise.all(loads.map((l) => l.stop()));

    expect(result.detail).toBeNull();
    expect(result.state).toBe('done');
    for (const r of [r1, r2, r3]) {
      await eventually(
        () => expect(r!.hs.router.table.shard(S0)!.node).toBe(target),
        'every router switched',
      );
      expect(r!.hs.router.table.version).toBe(result.move.tableVersion);
    }
    for (const [i, l] of loads.entries()) {
      expect(l.failures, `router ${i + 1}'s failures`).toEqual([]);
      expect(l.ops - opsBefore[i]!).toBeGreaterThan(100);
      expect(await l.check(), `router ${i + 1}'s keys`).toEqual([]);
    }
    expect(result.move.counters.cutoverUnacked ?? 0).toBe(0);
    // Every router held the range: the mover's own requests, and the others' released ones.
    const holds = await db!.query<{ state: string }>('SELECT state FROM cutover_holds');
    expect(holds.map((h) => h.state)).toEqual(['switched']);
    const acks = await db!.query<{ router: string }>('SELECT router FROM cutover_acks ORDER BY router');
    expect(acks.map((a) => a.router).sort()).toEqual(
      [r2!.hs.store.cutover!.routerId, r3!.hs.store.cutover!.routerId].sort(),
    );
  }, 60000);

  it('multi-router move - a router that stops acking (SIGSTOP) aborts the cutover until its lease runs out, then the move completes: 0 failed, 0 lost', async (ctx) => {
    if (!hasPostgres) return ctx.skip();
    const LEASE = 3_000;
    const [r1, r2] = await cluster(2, LEASE);
    // A third router in a process of its own, so it can be frozen like a stalled host.
    const { child } = await childRouter(LEASE);
    await eventually(async () => {
      expect((await r1!.hs.store.store.routers.live()).length).toBe(3);
    }, 'three live routers');
    await bulk(r1!.hs.router, S0, 2_000);
    const loads = [load(r1!.hs.router, 'r1'), load(r2!.hs.router, 'r2')];
    await Promise.all(loads.map((l) => l.fill()));
    loads.forEach((l, i) => l.start(41 + i));
    await until(() => loads.every((l) => l.ops > 200));
    const target = otherNode(r1!.hs.router.table);
    const move = new ShardMove({
      router: r1!.hs.router,
      shard: S0,
      target: nodeId(target),
      cutover: r1!.hs.store.cutover,
      // Frozen just before the cutover, its lease still running: the first attempts cannot get its ack.
      journal: { save: (s) => void (s.phase === 'cutover' && child.kill('SIGSTOP')) },
      ackWaitMs: 300,
      maxCutoverAttempts: 30,
    });
    const result = await move.run();
    await Promise.all(loads.map((l) => l.stop()));
    child.kill('SIGKILL');

    expect(result.detail).toBeNull();
    expect(result.state).toBe('done');
    expect(result.move.counters.cutoverUnacked).toBeGreaterThanOrEqual(1);
    expect(result.move.counters.cutoverAborts).toBe(result.move.counters.cutoverUnacked);
    const holds = await db!.query<{ state: string }>('SELECT state FROM cutover_holds ORDER BY created_at');
    expect(holds.at(-1)!.state).toBe('switched');
    expect(holds.slice(0, -1).every((h) => h.state === 'aborted')).toBe(true);
    await eventually(() => expect(r2!.hs.router.table.shard(S0)!.node).toBe(target), 'router 2 switched');
    for (const [i, l] of loads.entries()) {
      expect(l.failures, `router ${i + 1}'s failures`).toEqual([]);
      expect(await l.check(), `router ${i + 1}'s keys`).toEqual([]);
    }
  }, 120000);

  it('multi-router move - a hold that outlives its timeout (the mover died) is ended by the router, which asks the store; a late switch is refused', async (ctx) => {
    if (!hasPostgres) return ctx.skip();
    const [r1, r2] = await cluster(2);
    const store = r1!.hs.store.store;
    const from = r1!.hs.router.table;
    const key = keysIn(r2!.hs.router, S0, 'held:', 1)[0]!;
    const session = new Session(3, 'held', false, 0);
    expect(text(await via(r2!.hs.router, session, 'SET', key, 'before'))).toBe('OK');
    // As a mover would, then dies: nobody ends or switches the hold.
    await store.holds.publish({
      id: 'dead#1',
      moveId: 'dead',
      shard: S0,
      source: from.shard(S0)!.node,
      target: otherNode(from),
      fromVersion: from.version,
      timeoutMs: 800,
      router: 'r-gone',
    });
    await eventually(
      async () => expect(await store.holds.acks('dead#1')).toContain(r2!.hs.store.cutover!.routerId),
      'router 2 acks',
    );
    let answered: string | null = null;
    const pending = via(r2!.hs.router, session, 'SET', key, 'during').then((r) => (answered = text(r)));
    await new Promise((r) => setTimeout(r, 100));
    // Held, not failed: the range is neither the source's nor the target's until the store says.
    expect(answered).toBeNull();
    await pending;
    expect(answered).toBe('OK');
    expect((await store.holds.get('dead#1'))?.state).toBe('expired');
    expect(r2!.hs.router.table.version).toBe(from.version);
    expect(text(await via(r1!.hs.router, session, 'GET', key))).toBe('during');
    // The dead mover's switch, were it to arrive now, is refused: the router already let the range go.
    const json = from.toJSON();
    json.version = from.version + 1;
    for (const row of json.shards) if (row.id === S0) row.node = otherNode(from);
    const late = RoutingTable.fromJSON(json, from.partitioner);
    await expect(
      store.routing.save(late, { expectedVersion: from.version, reason: 'late switch', hold: 'dead#1' }),
    ).rejects.toBeInstanceOf(HoldLost);
  }, 60000);

  it('multi-router move - the open move of a router that died (SIGKILL mid-move) is taken over by another once its lease runs out: done, 0 failed, 0 lost', async (ctx) => {
    if (!hasPostgres) return ctx.skip();
    const LEASE = 1_500;
    const [r2] = await cluster(1, LEASE);
    const token = 'move-multi-admin-token-0123456789';
    const { child, httpPort } = await childRouter(LEASE, ['--admin-token', token]);
    await bulk(r2!.hs.router, S0, 30_000);
    const l = load(r2!.hs.router, 'r2');
    await l.fill();
    l.start(51);
    await until(() => l.ops > 200);
    const target = otherNode(r2!.hs.router.table);
    const res = await fetch(`http://127.0.0.1:${httpPort}/shards/s0:move`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ node: target, reason: 'test' }),
    });
    expect(res.status).toBe(202);
    type Row = { open: number; state: { phase: string; state: string; owner?: string } };
    const moveRow = async (): Promise<Row | undefined> => {
      const [row] = await db!.query<{ open: number; state_json: string }>(
        'SELECT open, state_json FROM moves',
      );
      return row === undefined
        ? undefined
        : { open: Number(row.open), state: JSON.parse(row.state_json) as Row['state'] };
    };
    await eventually(
      async () => expect((await moveRow())?.state.phase).toBe('copying'),
      'the child copies',
      30_000,
    );
    child.kill('SIGKILL');
    const deadOwner = (await moveRow())!.state.owner;
    expect(deadOwner).toMatch(/^r-\d+$/);
    await eventually(
      async () => expect((await moveRow())?.open).toBe(0),
      'the move taken over and finished',
      60_000,
    );
    await until(() => l.ops > 400);
    await l.stop();

    const row = (await moveRow())!;
    expect(row.state.state).toBe('done');
    expect(row.state.owner).toBe(r2!.hs.store.cutover!.routerId);
    expect(r2!.hs.router.table.shard(S0)!.node).toBe(target);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
  }, 120000);
});
