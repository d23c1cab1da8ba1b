/**
 * A hotshard process and its config store: a restart keeps the routing
 * table, the key policies and the actions (embedded file, and PostgreSQL);
 * a stored table the configuration cannot serve stops start-up clearly; two
 * routers on one PostgreSQL store over the same redis-servers follow each
 * other's routing changes, and exactly one of two racing changes wins.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import type { ActionSubject } from '../../src/mitigate/action.js';
import { VersionConflict } from '../../src/store/index.js';
import { startRedisCluster, type RedisProcess } from '../../src/testkit/redis-server.js';
import { createTestDatabase, postgresForTests, type TestDatabase } from './pg-database.js';

const start = (flags: ConfigInput): Promise<Hotshard> =>
  startHotshard(
    loadConfig({ flags: { respPort: 0, httpPort: 0, logLevel: 'silent', shutdownDrainMs: 500, ...flags } }),
    pino({ level: 'silent' }),
  );

const HOT: ActionSubject = { type: 'key', name: 'user:1' };
const throttle = {
  kind: 'throttle-key',
  subject: HOT,
  settings: { opsPerSec: 1000 },
  by: 'operator',
  reason: 'hot',
} as const;

async function eventually(check: () => void | Promise<void>, what: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 500; i++) {
    try {
      await check();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  throw new Error(`${what}: ${(last as Error).message}`);
}

describe('store attach - embedded file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hs-attach-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('store attach - a restart keeps the routing table (over the configured shard count), key policies and actions', async () => {
    const dataDir = join(dir, 'restart');
    const first = await start({ dataDir, nodes: 2, shards: 4 });
    let expected;
    try {
      expect(first.router.table.version).toBe(1);
      await first.store.commit(first.router.table.split(shardId('s1')), 'split s1');
      // A table installed without commit (an older code path) is saved too.
      expected = first.router.table.move(shardId('s4'), nodeId('n0'));
      first.router.setTable(expected);
      const record = await first.executor.execute(throttle);
      expect(record).toMatchObject({ id: 'a-1', state: 'done' });
      // Through the control API's operations: saved first (CAS), then installed, and audited.
      const split = await first.operations.split(shardId('s0'), undefined, {
        who: 'operator',
        reason: 'hot range',
      });
      expected = first.router.table;
      expect(split.version).toBe(expected.version);
    } finally {
      await first.close();
    }

    const second = await start({ dataDir, nodes: 2, shards: 16 });
    try {
      expect(second.router.table.toJSON()).toEqual(expected.toJSON());
      // The audit log comes back too.
      const audited = second.audit.list();
      expect(audited.map((e) => [e.verb, e.target, e.reason])).toContainEqual([
        'shard.split',
        'shard:s0',
        'hot range',
      ]);
      expect(second.policies.get(Buffer.from('user:1'))?.policy).toEqual({
        consistency: 'bounded',
        throttle: { opsPerSec: 1000, burst: 1000 },
      });
      // The split went through the executor too (a-2).
      expect(second.executor.list().map((r) => [r.id, r.kind, r.state])).toEqual([
        ['a-2', 'split', 'done'],
        ['a-1', 'throttle-key', 'done'],
      ]);
      // In force again, so it can be reverted; new ids go on after the restored ones.
      expect(second.executor.activeOn(HOT).map((r) => r.id)).toEqual(['a-1']);
      const reverted = await second.executor.revert('a-1', 'cooled down');
      expect(reverted.state).toBe('rolled-back');
      const next = await second.executor.execute({ ...throttle, settings: { opsPerSec: 50 } });
      expect(next.id).toBe('a-3');
      await second.executor.revert('a-3', 'done with it');
    } finally {
      await second.close();
    }

    const third = await start({ dataDir, nodes: 2 });
    try {
      expect(third.policies.get(Buffer.from('user:1'))).toBeUndefined();
      expect(third.executor.list().map((r) => [r.id, r.state])).toEqual([
        ['a-3', 'rolled-back'],
        ['a-2', 'done'],
        ['a-1', 'rolled-back'],
      ]);
      expect(third.executor.activeOn(HOT)).toEqual([]);
      expect(third.router.table.version).toBe(expected.version);
    } finally {
      await third.close();
    }
  });

  it('store attach - a stored table on a node the configuration lacks stops start-up, naming the node', async () => {
    const dataDir = join(dir, 'missing-node');
    await (await start({ dataDir, nodes: 3 })).close();
    const err = await start({ dataDir, nodes: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/places shards on node n2, which this process has no backend for/);
  });

  it('store attach - a stored table of the other partitioner stops start-up, naming both', async () => {
    const dataDir = join(dir, 'partitioner');
    await (await start({ dataDir, nodes: 1 })).close();
    const err = await start({ dataDir, nodes: 1, partitioner: 'range', splits: ['m'] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/with the hash partitioner, but the configuration says range/);
  });
});

const pgUp = await postgresForTests('store attach on PostgreSQL');

describe.runIf(pgUp)('store attach - two routers on one PostgreSQL store', () => {
  let db: TestDatabase;
  let redis: RedisProcess[];
  const routers: Hotshard[] = [];
  const clients: Redis[] = [];
  beforeAll(async () => {
    [db, redis] = await Promise.all([createTestDatabase('hs_attach'), startRedisCluster(3)]);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(routers.map((r) => r.close()));
    await Promise.all(redis.map((r) => r.stop()));
    await db.drop();
  });

  const router = async (): Promise<Hotshard> => {
    const hs = await start({
      backend: 'redis',
      redis: [redis[0]!.address, redis[1]!.address],
      store: db.url,
    });
    routers.push(hs);
    return hs;
  };
  const client = (hs: Hotshard): Redis => {
    const c = new Redis({ port: hs.respPort, maxRetriesPerRequest: 0 });
    clients.push(c);
    return c;
  };

  it('store attach - each follows the routing changes the other saves, and a restart keeps table, policies and actions', async () => {
    const a = await router();
    const b = await router();
    expect(b.router.table.toJSON()).toEqual(a.router.table.toJSON());
    // Their action ids cannot collide in the shared actions table.
    expect(a.store.actionIdPrefix).not.toBe(b.store.actionIdPrefix);

    await a.store.commit(a.router.table.split(shardId('s0')), 'split s0');
    await eventually(
      () => expect(b.router.table.toJSON()).toEqual(a.router.table.toJSON()),
      'b follows the split',
    );
    const moved = b.router.table.move(shardId('s0'), nodeId(redis[1]!.address));
    b.router.setTable(moved); // installed directly: saved after, and followed by a all the same
    await eventually(() => expect(a.router.table.toJSON()).toEqual(moved.toJSON()), 'a follows the move');

    // A split through the control API on b is followed by a.
    await b.operations.split(shardId('s3'), undefined, { who: 'operator', reason: 'api split' });
    await eventually(
      () => expect(a.router.table.toJSON()).toEqual(b.router.table.toJSON()),
      'a follows the API split',
    );

    // Of two changes made from the same version at once, one wins and both routers run it.
    const base = a.router.table;
    const outcomes = await Promise.allSettled([
      a.store.commit(base.split(shardId('s1')), 'a splits s1'),
      b.store.commit(base.split(shardId('s2')), 'b splits s2'),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const lost = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(lost?.reason).toBeInstanceOf(VersionConflict);
    await eventually(() => {
      expect(a.router.table.version).toBe(base.version + 1);
      expect(b.router.table.toJSON()).toEqual(a.router.table.toJSON());
    }, 'both run the winner');

    // A Redis node added at run time (POST /nodes) is recorded in the store, so every router gets a backend for it.
    const added = redis[2]!.address;
    const joined = await a.operations.addNode(added, { who: 'operator', reason: 'grow' });
    expect(joined.node).toBe(added);
    expect(await a.store.store.nodes.get(added)).toMatchObject({
      kind: 'redis',
      address: added,
      status: 'added',
    });
    await eventually(() => expect(b.router.table.nodes()).toContain(added), 'b follows the node add');
    await a.store.commit(a.router.table.move(shardId('s1'), nodeId(added)), 'onto the new node');
    await eventually(
      () => expect(b.router.table.shard(shardId('s1'))?.node).toBe(added),
      'b follows onto the new node',
    );
    expect(b.router.backends.has(nodeId(added))).toBe(true);
    // Keys written through one router are read through the other, wherever their shard went.
    const ca = client(a);
    const cb = client(b);
    for (let i = 0; i < 50; i++) await ca.set(`k${i}`, `v${i}`);
    for (let i = 0; i < 50; i++) expect(await cb.get(`k${i}`)).toBe(`v${i}`);

    const record = await a.executor.execute(throttle);
    const table = a.router.table.toJSON();
    ca.disconnect();
    await a.close();
    routers.splice(routers.indexOf(a), 1);

    const again = await router();
    expect(again.router.table.toJSON()).toEqual(table);
    expect(again.router.backends.has(nodeId(added))).toBe(true);
    expect(again.policies.get(Buffer.from('user:1'))?.policy.throttle).toEqual({
      opsPerSec: 1000,
      burst: 1000,
    });
    expect(again.executor.get(record.id)).toMatchObject({ state: 'done', kind: 'throttle-key' });
    expect(again.executor.activeOn(HOT).map((r) => r.id)).toEqual([record.id]);
    const c2 = client(again);
    for (let i = 0; i < 50; i++) expect(await c2.get(`k${i}`)).toBe(`v${i}`);
  });
});

describe('store attach - moves', () => {
  it('store attach - a move is journaled at every phase, and one cut short by a shutdown is resumed at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hs-attach-move-'));
    try {
      const dataDir = join(dir, 'data');
      const first = await start({ dataDir, nodes: 2, shards: 2 });
      let moveId: string;
      try {
        const c = new Redis({ port: first.respPort, maxRetriesPerRequest: 0 });
        for (let i = 0; i < 400; i++) await c.set(`m${i}`, 'x');
        c.disconnect();
        const shard = first.router.table.shards[0]!;
        const target = first.router.table.nodes().find((n) => n !== shard.node)!;
        const accepted = await first.operations.move(shard.id, target, { who: 'operator', reason: 'test' });
        // Slow enough that the shutdown comes mid-copy.
        await first.operations.setLimits(
          accepted.action.id,
          { maxKeysPerSec: 20 },
          { who: 'operator', reason: 'slow' },
        );
        await eventually(async () => {
          expect(await first.store.store.moves.listOpen()).toHaveLength(1);
        }, 'the move journaled as open');
        moveId = (await first.store.store.moves.listOpen())[0]!.id;
      } finally {
        await first.close();
      }
      expect((await openEmbeddedStoreAt(dataDir)).map((m) => m.id)).toEqual([moveId]);

      const second = await start({ dataDir, nodes: 2, shards: 2 });
      try {
        await eventually(async () => {
          const m = await second.store.store.moves.get(moveId);
          expect(m?.open).toBe(false);
        }, 'the resumed move ends');
        const ended = (await second.store.store.moves.get(moveId))!.state as { state: string };
        expect(['done', 'rolled-back']).toContain(ended.state);
        expect(second.router.table.shards.every((s) => s.status === 'active')).toBe(true);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The open moves a closed data directory's store holds. */
async function openEmbeddedStoreAt(dataDir: string): Promise<{ id: string }[]> {
  const { openEmbeddedStore } = await import('../../src/store/index.js');
  const store = await openEmbeddedStore({ dataDir });
  try {
    return await store.moves.listOpen();
  } finally {
    await store.close();
  }
}
