/**
 * The chaos suite of live rebalancing (issue 14 "Done means"): a whole
 * hotshard over three redis-server nodes, driven through `hs.operations`
 * (what the control API calls), while the load generator sends a mixed
 * SET/GET/INCR/DEL load over several connections and records every
 * acknowledged write in a write ledger. Each case then reads every key back
 * (`verifyWrites`) and asks for 0 failed requests and 0 lost writes, plus the
 * end state the operation promises: split + move of the hotter half, a merge
 * across nodes, add a node / move onto it / drain it, a move cancelled
 * mid-copy, and the control plane restarted during a copy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigInput } from '../../src/config.js';
import {
  OperationRefused,
  type OperationAction,
  type OperationContext,
} from '../../src/control/operations.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { nodeId, shardId, type NodeId, type ShardId } from '../../src/keyspace/ids.js';
import { ShardStatus } from '../../src/keyspace/routing-table.js';
import { runLoad, type LoadReport } from '../../src/load/generator.js';
import { verifyWrites, WriteLedger, type WriteCheck } from '../../src/load/write-ledger.js';
import { requireBinary, startRedis, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';

const hasRedis = requireBinary('redis-server', 'the rebalancing chaos suite on Redis');

const ctx: OperationContext = { who: 'operator', reason: 'chaos' };
const ENDED = new Set(['done', 'failed', 'cancelled', 'rolled-back']);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A hotshard in this process over the given redis-servers (the config names them, node ids are `host:port`). */
async function hotshard(redis: readonly RedisProcess[], extra: ConfigInput = {}): Promise<Hotshard> {
  const config = loadConfig({
    flags: {
      respPort: 0,
      httpPort: 0,
      logLevel: 'silent',
      shutdownDrainMs: 500,
      backend: 'redis',
      shards: 6,
      ...extra,
      redis: redis.map((r) => r.address),
    },
  });
  return startHotshard(config, pino({ level: 'silent' }));
}

async function cluster(extra: ConfigInput = {}): Promise<{ hs: Hotshard; redis: RedisProcess[] }> {
  const redis = await startRedisCluster(3);
  cleanup.push(() => Promise.all(redis.map((r) => r.stop())));
  const hs = await hotshard(redis, extra);
  cleanup.push(() => hs.close());
  return { hs, redis };
}

function client(port: number): Redis {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1 });
  cleanup.push(() => Promise.resolve(c.disconnect()));
  return c;
}

/** `n` keys written through the router (bulk for the copy to chew on), outside the load's names. */
async function bulk(hs: Hotshard, n: number, prefix = 'bulk:'): Promise<void> {
  const c = client(hs.respPort);
  for (let i = 0; i < n; i += 2_000) {
    const p = c.pipeline();
    for (let j = i; j < Math.min(n, i + 2_000); j++) p.set(`${prefix}${j}`, `v${j}`);
    const replies = (await p.exec()) ?? [];
    expect(replies.filter(([err]) => err !== null)).toEqual([]);
  }
  c.disconnect();
}

/** Keys of a redis-server that fall in `shard`'s range under hotshard's table. */
async function keysOfShard(hs: Hotshard, r: RedisProcess, shard: ShardId): Promise<string[]> {
  const c = client(r.port);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) if (hs.router.table.shardFor(Buffer.from(k)).id === shard) found.push(k);
  } while (cursor !== '0');
  c.disconnect();
  return found;
}

/** A mixed load through the router on several connections, every write in a ledger, until `stop()`. */
interface Load {
  readonly ledger: WriteLedger;
  /** Stops sending; resolves with the report once the last replies are in. */
  stop(): Promise<LoadReport>;
  /** Reads every ledger key back through hotshard on `port`. */
  check(port: number): Promise<WriteCheck>;
}

function startLoad(hs: Hotshard, seed: number): Load {
  const ledger = new WriteLedger(`chaos${seed}`);
  const abort = new AbortController();
  const target = { kind: 'resp' as const, host: '127.0.0.1', port: hs.respPort, connections: 6 };
  const running = runLoad({
    target,
    workload: {
      keys: 20_000,
      keyPrefix: `k${seed}:`,
      counterPrefix: `c${seed}:`,
      // Uniform over many keys: a write lost at a switch is rarely healed by a later one to the same key.
      distribution: { kind: 'uniform' },
      ops: { get: 40, set: 30, incr: 15, del: 15 },
      valueSize: { kind: 'uniform', min: 16, max: 256 },
    },
    rate: 1_500,
    durationMs: 120_000,
    seed,
    timeoutMs: 10_000,
    signal: abort.signal,
    trackWrites: ledger,
  });
  return {
    ledger,
    stop: () => {
      abort.abort();
      return running;
    },
    check: (port) => verifyWrites({ kind: 'resp', host: '127.0.0.1', port }, ledger),
  };
}

/** The report's failures and the ledger's losses, as one comparable object (all zero when sound). */
function damage(report: LoadReport, check: WriteCheck): Record<string, unknown> {
  return {
    errors: report.errors,
    errorsByKind: report.errorsByKind,
    lostWrites: check.lostWrites,
    excessKeys: check.excessKeys,
    readErrors: check.readErrors,
    examples: check.examples,
  };
}
const SOUND = { errors: 0, errorsByKind: {}, lostWrites: 0, excessKeys: 0, readErrors: 0, examples: [] };

/** Polls a long operation until it ends. */
function settled(hs: Hotshard, id: string, ms = 60_000): Promise<OperationAction> {
  return until(
    `action ${id} to end`,
    () => {
      const a = hs.operations.action(id);
      return a !== undefined && ENDED.has(a.state) ? a : undefined;
    },
    ms,
  );
}

/**
 * Limits a just-started move's copy rate, so it is still copying when the test
 * acts. The executor starts the move on a later tick: until then there is no
 * copy to limit (409), so this asks again.
 */
async function slow(hs: Hotshard, id: string, maxKeysPerSec: number): Promise<void> {
  await until(`move ${id} to take a copy limit`, async () => {
    try {
      await hs.operations.setLimits(id, { maxKeysPerSec }, ctx);
      return true;
    } catch (err) {
      if (err instanceof OperationRefused && err.status === 409) return undefined;
      throw err;
    }
  });
}

/** Lets the load run a little first, so the operation starts under it. */
async function warm(load: Load, hs: Hotshard): Promise<void> {
  await until('load to reach the router', () =>
    load.ledger.summary().acknowledgedWrites > 300 ? true : undefined,
  );
  expect(hs.router.table.shards.length).toBeGreaterThan(0);
}

/** Acknowledged writes so far: taken before and after an operation, it shows the load ran through it. */
const acked = (load: Load): number => load.ledger.summary().acknowledgedWrites;

const other = (hs: Hotshard, than: NodeId): NodeId => hs.router.table.nodes().find((n) => n !== than)!;

describe.skipIf(!hasRedis)('rebalancing chaos - 3 redis-server nodes under mixed load', () => {
  it('split + move of the hotter half: 0 failed, 0 lost, the half on its new node only', async () => {
    const { hs, redis } = await cluster();
    await bulk(hs, 6_000);
    const load = startLoad(hs, 1);
    await warm(load, hs);
    const s0 = shardId('s0');
    const split = await hs.operations.split(s0, undefined, ctx);
    const [left, right] = split.shards;
    expect(left.node).toBe(right.node);
    // The hotter half by what the router counted on each in the last seconds.
    await sleep(1_200);
    const w = hs.telemetry?.window('shard', 2, true);
    const ops = (id: ShardId): number => {
      const x = w?.get(id);
      return x === undefined ? 0 : x.reads + x.writes;
    };
    const hot = ops(right.id) > ops(left.id) ? right : left;
    const target = other(hs, hot.node);
    const ackedBefore = acked(load);
    const started = await hs.operations.move(hot.id, target, ctx);
    const end = await settled(hs, started.action.id);
    const ackedDuring = acked(load) - ackedBefore;
    const report = await load.stop();
    expect(end.state, end.detail ?? '').toBe('done');
    expect(ackedDuring).toBeGreaterThan(0);
    expect(damage(report, await load.check(hs.respPort))).toEqual(SOUND);
    expect(hs.router.table.shard(hot.id)).toMatchObject({ node: target, status: ShardStatus.Active });
    const source = redis.find((r) => r.address === hot.node)!;
    expect(await keysOfShard(hs, source, hot.id)).toEqual([]);
    expect(
      (
        await keysOfShard(
          hs,
          redis.find((r) => r.address === target)!,
          hot.id,
        )
      ).length,
    ).toBeGreaterThan(0);
  }, 60_000);

  it('merge of two ranges on different nodes (a move, then the merge): 0 failed, 0 lost', async () => {
    const { hs, redis } = await cluster();
    await bulk(hs, 6_000);
    const shards = hs.router.table.shards;
    const i = shards.findIndex((s, j) => shards[j + 1] !== undefined && shards[j + 1]!.node !== s.node);
    expect(i).toBeGreaterThanOrEqual(0);
    const [left, right] = [shards[i]!, shards[i + 1]!];
    const load = startLoad(hs, 2);
    await warm(load, hs);
    const ackedBefore = acked(load);
    const merged = await hs.operations.merge(left.id, ctx);
    expect('action' in merged).toBe(true);
    const end = await settled(hs, (merged as { action: OperationAction }).action.id);
    const ackedDuring = acked(load) - ackedBefore;
    const report = await load.stop();
    expect(end.state, end.detail ?? '').toBe('done');
    expect(ackedDuring).toBeGreaterThan(0);
    expect(damage(report, await load.check(hs.respPort))).toEqual(SOUND);
    expect(hs.router.table.shard(right.id)).toBeUndefined();
    const joined = hs.router.table.shard(left.id)!;
    expect([joined.node, joined.status, joined.end]).toEqual([left.node, ShardStatus.Active, right.end]);
    // Nothing of the joined range is left on the node the right half came from.
    expect(
      await keysOfShard(
        hs,
        redis.find((r) => r.address === right.node)!,
        left.id,
      ),
    ).toEqual([]);
  }, 60_000);

  it('add a 4th node, move a shard onto it, drain it: 0 failed, 0 lost, the node gone from the table', async () => {
    const { hs } = await cluster();
    await bulk(hs, 6_000);
    const extra = await startRedis();
    cleanup.push(() => extra.stop());
    const load = startLoad(hs, 3);
    await warm(load, hs);
    const ackedBefore = acked(load);
    const added = await hs.operations.addNode(extra.address, ctx);
    expect(added.node).toBe(extra.address);
    expect(hs.router.table.nodes()).toContain(nodeId(extra.address));
    const s2 = shardId('s2');
    const moved = await hs.operations.move(s2, nodeId(extra.address), ctx);
    const movedEnd = await settled(hs, moved.action.id);
    expect(movedEnd.state, movedEnd.detail ?? '').toBe('done');
    expect(hs.router.table.shard(s2)!.node).toBe(extra.address);
    expect((await keysOfShard(hs, extra, s2)).length).toBeGreaterThan(0);
    const drain = await hs.operations.drainNode(nodeId(extra.address), ctx);
    const drainEnd = await settled(hs, drain.action.id);
    const ackedDuring = acked(load) - ackedBefore;
    const report = await load.stop();
    expect(drainEnd.state, drainEnd.detail ?? '').toBe('done');
    expect(ackedDuring).toBeGreaterThan(0);
    expect(damage(report, await load.check(hs.respPort))).toEqual(SOUND);
    expect(hs.router.table.nodes()).not.toContain(nodeId(extra.address));
    expect(hs.router.backends.has(nodeId(extra.address))).toBe(false);
    expect(hs.router.table.shard(s2)!.status).toBe(ShardStatus.Active);
  }, 60_000);

  it('a move cancelled mid-copy: the old state exactly, the target holds none of the range, 0 failed, 0 lost', async () => {
    const { hs, redis } = await cluster();
    await bulk(hs, 30_000);
    const s1 = shardId('s1');
    const before = { ...hs.router.table.shard(s1)! };
    const target = other(hs, before.node);
    const targetProc = redis.find((r) => r.address === target)!;
    const load = startLoad(hs, 4);
    await warm(load, hs);
    const started = await hs.operations.move(s1, target, ctx);
    const id = started.action.id;
    await slow(hs, id, 1_000);
    await until('the copy to be under way', () => {
      const p = hs.operations.action(id)?.progress;
      return p !== null && p !== undefined && p.keysCopied > 0 ? true : undefined;
    });
    // Still copying: at 1000 keys/s the ~5000 keys of the range take seconds.
    expect(hs.operations.action(id)!.state).toBe('running');
    await hs.operations.cancel(id, ctx);
    const end = await settled(hs, id);
    const report = await load.stop();
    expect(['cancelled', 'rolled-back']).toContain(end.state);
    expect(damage(report, await load.check(hs.respPort))).toEqual(SOUND);
    expect({ ...hs.router.table.shard(s1)! }).toEqual(before);
    expect(await keysOfShard(hs, targetProc, s1)).toEqual([]);
  }, 60_000);

  it('control plane restarted mid-copy (embedded store): the move resumes to a clean state, every acknowledged write readable', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hotshard-chaos-'));
    cleanup.push(() => Promise.resolve(rmSync(dataDir, { recursive: true, force: true })));
    const redis = await startRedisCluster(3);
    cleanup.push(() => Promise.all(redis.map((r) => r.stop())));
    const first = await hotshard(redis, { dataDir });
    cleanup.push(() => first.close());
    await bulk(first, 24_000);
    const s3 = shardId('s3');
    const before = { ...first.router.table.shard(s3)! };
    const target = other(first, before.node);
    const load = startLoad(first, 5);
    await warm(load, first);
    const started = await first.operations.move(s3, target, ctx);
    const id = started.action.id;
    await slow(first, id, 1_500);
    await until('the copy to be under way', () => {
      const p = first.operations.action(id)?.progress;
      return p !== null && p !== undefined && p.keysCopied > 0 ? true : undefined;
    });
    expect(first.operations.action(id)!.state).toBe('running');
    const report = await load.stop();
    // Cut short mid-copy: the move is still open in the store when the control plane goes.
    expect(first.operations.action(id)!.state).toBe('running');
    expect((await first.store.store.moves.listOpen()).map((m) => m.id)).toHaveLength(1);
    await first.close();

    const second = await hotshard(redis, { dataDir });
    cleanup.push(() => second.close());
    // The restarted router takes traffic while the move resumes; its writes are checked too.
    const after = startLoad(second, 6);
    // The resumed move ends when the range is active again and no move is open in the store.
    await until(
      'the resumed move to end',
      async () =>
        second.router.table.shard(s3)?.status === ShardStatus.Active &&
        (await second.store.store.moves.listOpen()).length === 0
          ? true
          : undefined,
      45_000,
    );
    const ackedDuring = acked(after);
    const afterReport = await after.stop();
    expect(ackedDuring).toBeGreaterThan(0);
    const now = second.router.table.shard(s3)!;
    expect([now.start, now.end]).toEqual([before.start, before.end]);
    expect([before.node, target]).toContain(now.node);
    const holder = redis.find((r) => r.address === now.node)!;
    const others = redis.filter((r) => r !== holder);
    for (const r of others) expect(await keysOfShard(second, r, s3)).toEqual([]);
    expect((await keysOfShard(second, holder, s3)).length).toBeGreaterThan(0);
    expect(damage(report, await load.check(second.respPort))).toEqual(SOUND);
    expect(damage(afterReport, await after.check(second.respPort))).toEqual(SOUND);
  }, 90_000);
});
