/**
 * Telemetry sees the keys of commands the router runs whole on one node:
 * scripts' declared keys and a transaction's block are counted on their
 * shards and offered to the key sketches, read or write as they act, so a
 * key hammered through EVAL (a rate limiter) or MULTI / EXEC (a counter with
 * its expiry) is a hot key like one hammered with INCR.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { RedisBackend } from '../../src/backend/redis.js';
import { ManualClock } from '../../src/clock.js';
import { nodeId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, isErrorReply, type Reply } from '../../src/protocol/reply.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';

const START = 1_700_000_000_000;
const hasRedis = requireBinary('redis-server', 'telemetry of scripts on Redis nodes');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  readonly router: Router;
  readonly telemetry: RouterTelemetry;
  readonly clock: ManualClock;
  readonly session: Session;
}

function rig(backends: Map<NodeId, ShardBackend>): Rig {
  const nodes = [...backends.keys()];
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 4 });
  const clock = new ManualClock(START);
  const telemetry = new RouterTelemetry({ clock });
  const router = new Router(table, backends);
  router.instrument(new Instrumentation(telemetry, table));
  return { router, telemetry, clock, session: new Session(1, 'test', false, 0) };
}

/** Sends one command through the router; resolves its reply, a node's decoded. */
function send(r: Rig, ...args: string[]): Promise<unknown> {
  return new Promise((resolve) =>
    r.router.dispatch(
      r.session,
      args.map((a) => Buffer.from(a)),
      undefined,
      (reply: Reply) => resolve(reply instanceof RawReply ? decodeReply(reply.bytes, 0) : reply),
    ),
  );
}

/** Each key's reads and writes over the last whole second, as the detector reads them. */
function keyOps(r: Rig): Map<string, { reads: number; writes: number }> {
  r.clock.advance(1000);
  const out = new Map<string, { reads: number; writes: number }>();
  for (const k of r.telemetry.topKeys(1, 20, 'ops'))
    out.set(k.key.toString(), { reads: Math.round(k.reads), writes: Math.round(k.writes) });
  return out;
}

/** Reads and writes summed over every shard in the last whole second. */
function shardOps(r: Rig): { reads: number; writes: number } {
  let reads = 0;
  let writes = 0;
  for (const w of r.telemetry.window('shard', 1).values()) {
    reads += w.reads;
    writes += w.writes;
  }
  return { reads, writes };
}

describe('instrumentation of commands run whole on one node', () => {
  it('instrumentation - a MULTI / EXEC block counts its keys, as writes when a command in it writes, as reads when none does', async () => {
    const backends = new Map<NodeId, ShardBackend>(
      ['n0', 'n1'].map((n) => [nodeId(n), new MemoryBackend({ node: nodeId(n) })]),
    );
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())));
    const r = rig(backends);
    for (let i = 0; i < 30; i++) {
      await send(r, 'MULTI');
      await send(r, 'INCR', '{likes}');
      await send(r, 'EXPIRE', '{likes}', '60');
      expect(await send(r, 'EXEC')).toHaveLength(2);
    }
    for (let i = 0; i < 20; i++) {
      await send(r, 'MULTI');
      await send(r, 'GET', 'profile');
      expect(await send(r, 'EXEC')).toHaveLength(1);
    }
    // A block that aborts runs nothing, and counts nothing.
    await send(r, 'MULTI');
    await send(r, 'NOSUCHCOMMAND');
    expect(isErrorReply((await send(r, 'EXEC')) as Reply)).toBe(true);
    const keys = keyOps(r);
    const ops = shardOps(r);
    // Each EXEC is one request per key of its block: {likes} twice a block.
    expect(keys.get('{likes}')).toEqual({ reads: 0, writes: 60 });
    expect(keys.get('profile')).toEqual({ reads: 20, writes: 0 });
    expect(ops).toEqual({ reads: 20, writes: 60 });
  });

  it('instrumentation - a blocking pop counts its key, untimed: no latency sample for its wait, and not in flight while it waits', async () => {
    const backends = new Map<NodeId, ShardBackend>(
      ['n0', 'n1'].map((n) => [nodeId(n), new MemoryBackend({ node: nodeId(n) })]),
    );
    cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())));
    const r = rig(backends);
    await send(r, 'RPUSH', 'jobs', 'a', 'b', 'c');
    for (const job of ['a', 'b', 'c'])
      expect(await send(r, 'BLPOP', 'jobs', '0')).toEqual([Buffer.from('jobs'), Buffer.from(job)]);
    // A consumer waiting on an empty queue, from its own session.
    const waiter = new Session(2, 'test', false, 0);
    const popped = new Promise<Reply>((resolve) =>
      r.router.dispatch(
        waiter,
        ['BLPOP', 'later', '0'].map((a) => Buffer.from(a)),
        undefined,
        resolve,
      ),
    );
    const laterShard = r.router.table.shardFor(Buffer.from('later')).id;
    expect(r.telemetry.window('shard', 1, true).get(laterShard)?.inflight ?? 0).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await send(r, 'LPUSH', 'later', 'x');
    expect(await popped).toEqual([Buffer.from('later'), Buffer.from('x')]);
    const keys = keyOps(r);
    expect(keys.get('jobs')).toEqual({ reads: 0, writes: 4 });
    expect(keys.get('later')).toEqual({ reads: 0, writes: 2 });
    const shard = r.telemetry.window('shard', 1).get(laterShard)!;
    // Measured untimed counts as measured: the key's rate is not scaled up.
    expect(shard.sentPerMeasured).toBe(1);
    // Only the LPUSH was timed: the 60 ms wait is no latency of the node's.
    expect(shard.p99Ms).toBeLessThan(30);
  });

  describe.skipIf(!hasRedis)('on Redis nodes', () => {
    async function redisRig(): Promise<Rig> {
      const servers: RedisProcess[] = await Promise.all([startRedis(), startRedis()]);
      cleanups.push(() => Promise.all(servers.map((s) => s.stop())));
      const backends = new Map<NodeId, ShardBackend>();
      for (const [i, s] of servers.entries()) {
        const b = new RedisBackend({
          node: nodeId(`n${i}`),
          host: s.host,
          port: s.port,
          learnCommands: false,
        });
        await b.connect();
        backends.set(b.node, b);
      }
      cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())));
      return rig(backends);
    }

    it('instrumentation - EVAL counts each declared key as a write, EVAL_RO as a read; a keyless script counts nothing', async () => {
      const r = await redisRig();
      const limiter = "local n = redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], 60); return n";
      for (let i = 1; i <= 25; i++) expect(await send(r, 'EVAL', limiter, '1', 'rl:alice')).toBe(i);
      for (let i = 0; i < 15; i++)
        expect(await send(r, 'EVAL_RO', "return redis.call('GET', KEYS[1])", '1', 'rl:alice')).toBeDefined();
      for (let i = 0; i < 5; i++) expect(await send(r, 'EVAL', 'return 1', '0')).toBe(1);
      const keys = keyOps(r);
      const ops = shardOps(r);
      expect(keys.get('rl:alice')).toEqual({ reads: 15, writes: 25 });
      expect(ops).toEqual({ reads: 15, writes: 25 });
    });

    it('instrumentation - a script refused for keys on two nodes counts nothing', async () => {
      const r = await redisRig();
      const table = r.router.table;
      let other = 0;
      while (table.shardFor(Buffer.from(`k${other}`)).node === table.shardFor(Buffer.from('a')).node) other++;
      expect(isErrorReply((await send(r, 'EVAL', 'return 1', '2', 'a', `k${other}`)) as Reply)).toBe(true);
      expect(keyOps(r).size).toBe(0);
      expect(shardOps(r)).toEqual({ reads: 0, writes: 0 });
    });
  });
});
