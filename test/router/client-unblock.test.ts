/**
 * CLIENT UNBLOCK of a client blocked through hotshard ends its wait as Redis
 * ends it: the node it waits on is asked (a Redis node, by the client id of
 * the dedicated connection; an embedded node, in place), so the blocked
 * command gets Redis's timeout reply or UNBLOCKED error, and an element
 * pushed at the same moment goes either to the blocked client or stays in
 * the list: never to a wait nobody answers.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, type Reply } from '../../src/protocol/reply.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startRedisCluster, type RedisProcess } from '../../src/testkit/redis-server.js';
import { plain, startComparedTargets, type ComparedTargets } from './differential.js';

const hasRedis = requireBinary('redis-server', 'CLIENT UNBLOCK compared with redis-server');

/** One blocking command, the push that would serve it, and what is set up first. */
interface Case {
  readonly name: string;
  readonly setup: string[][];
  readonly block: string[];
  readonly push: string[];
  /** Counts what the push left unserved. */
  readonly left: string[];
}

const CASES: readonly Case[] = [
  {
    name: 'BLPOP',
    setup: [],
    block: ['BLPOP', '{u}l', '0'],
    push: ['RPUSH', '{u}l', 'a'],
    left: ['LLEN', '{u}l'],
  },
  {
    name: 'BRPOP',
    setup: [],
    block: ['BRPOP', '{u}l', '{u}m', '0'],
    push: ['RPUSH', '{u}m', 'a'],
    left: ['LLEN', '{u}m'],
  },
  {
    name: 'BLMOVE',
    setup: [],
    block: ['BLMOVE', '{u}l', '{u}d', 'LEFT', 'RIGHT', '0'],
    push: ['RPUSH', '{u}l', 'a'],
    left: ['LLEN', '{u}l'],
  },
  {
    name: 'BRPOPLPUSH',
    setup: [],
    block: ['BRPOPLPUSH', '{u}l', '{u}d', '0'],
    push: ['RPUSH', '{u}l', 'a'],
    left: ['LLEN', '{u}l'],
  },
  {
    name: 'BLMPOP',
    setup: [],
    block: ['BLMPOP', '0', '1', '{u}l', 'LEFT'],
    push: ['RPUSH', '{u}l', 'a'],
    left: ['LLEN', '{u}l'],
  },
  {
    name: 'BZPOPMIN',
    setup: [],
    block: ['BZPOPMIN', '{u}z', '0'],
    push: ['ZADD', '{u}z', '1', 'a'],
    left: ['ZCARD', '{u}z'],
  },
  {
    name: 'BZMPOP',
    setup: [],
    block: ['BZMPOP', '0', '1', '{u}z', 'MAX'],
    push: ['ZADD', '{u}z', '1', 'a'],
    left: ['ZCARD', '{u}z'],
  },
  {
    name: 'XREAD BLOCK',
    setup: [['XADD', '{u}s', '1-1', 'f', 'v']],
    block: ['XREAD', 'BLOCK', '0', 'STREAMS', '{u}s', '$'],
    push: ['XADD', '{u}s', '2-1', 'f', 'v'],
    left: ['XLEN', '{u}s'],
  },
  {
    name: 'XREADGROUP BLOCK',
    setup: [['XGROUP', 'CREATE', '{u}s', 'g', '$', 'MKSTREAM']],
    block: ['XREADGROUP', 'GROUP', 'g', 'c', 'BLOCK', '0', 'STREAMS', '{u}s', '>'],
    push: ['XADD', '{u}s', '2-1', 'f', 'v'],
    left: ['XPENDING', '{u}s', 'g'],
  },
];

const shown = (r: unknown): unknown => (r instanceof Error ? { error: r.message } : r);

/** Polls INFO until `port` reports `n` blocked clients. */
async function blockedClients(client: Redis, n: number): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    const info = await client.info('clients');
    if (new RegExp(`blocked_clients:${n}\\r?\\n`).test(info)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`blocked_clients never reached ${n}`);
}

/**
 * What a client sees: blocked by `c.block`, unblocked by another client
 * (`how`), then served by a fresh wait and a push on the same connection.
 */
async function transcript(port: number, c: Case, how: string[]): Promise<unknown[]> {
  const blocked = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  const other = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await Promise.all([blocked.connect(), other.connect()]);
  try {
    const out: unknown[] = [];
    await other.del('{u}l', '{u}m', '{u}d', '{u}z', '{u}s');
    for (const cmd of c.setup) await other.call(cmd[0]!, ...cmd.slice(1));
    const id = String(await blocked.client('ID'));
    const first = blocked.call(c.block[0]!, ...c.block.slice(1)).catch((err: Error) => err);
    await blockedClients(other, 1);
    out.push(shown(await other.call('CLIENT', 'UNBLOCK', id, ...how)));
    out.push(shown(await first));
    out.push(await other.call('CLIENT', 'UNBLOCK', id, ...how));
    // Nobody waits any more: the push stays where it was put.
    out.push(await other.call(c.push[0]!, ...c.push.slice(1)));
    out.push(await other.call(c.left[0]!, ...c.left.slice(1)));
    await blockedClients(other, 0);
    // The same connection blocks again and is served.
    if (c.name.startsWith('XREADGROUP')) await other.xgroup('SETID', '{u}s', 'g', '$');
    else await other.del('{u}l', '{u}m', '{u}z');
    const again = blocked.call(c.block[0]!, ...c.block.slice(1)).catch((err: Error) => err);
    await blockedClients(other, 1);
    const push = c.name.startsWith('X') ? ['XADD', '{u}s', '3-1', 'f', 'w'] : c.push;
    await other.call(push[0]!, ...push.slice(1));
    out.push(shown(await again));
    out.push(await blocked.ping());
    return out;
  } finally {
    blocked.disconnect();
    other.disconnect();
  }
}

describe.skipIf(!hasRedis)('CLIENT UNBLOCK - a blocked client is unblocked as on Redis', () => {
  let targets: ComparedTargets;
  beforeAll(async () => {
    targets = await startComparedTargets();
  });
  afterAll(async () => {
    await targets?.stop();
  });

  it("CLIENT UNBLOCK - CLIENT LIST shows a blocked client's flags=b and a client inside MULTI's flags=x with its queued count, as redis-server", async () => {
    /** flags, multi and cmd of the blocked client and of the one in MULTI, from a third client's CLIENT LIST. */
    const fields = async (port: number): Promise<string[]> => {
      const [blocked, inMulti, other] = [0, 1, 2].map(() => new Redis({ port, host: '127.0.0.1' }));
      try {
        const ids = [String(await blocked!.client('ID')), String(await inMulti!.client('ID'))];
        const waiting = blocked!.blpop('{u}flags', 0);
        await blockedClients(other!, 1);
        await inMulti!.call('MULTI');
        await inMulti!.call('SET', '{u}f1', '1');
        await inMulti!.call('INCR', '{u}f1');
        const list = String(await other!.client('LIST'));
        const shown = ids.map((id) => {
          const line = list.split('\n').find((l) => l.startsWith(`id=${id} `))!;
          return line.match(/ (flags|multi|cmd)=\S*/g)!.join('');
        });
        await inMulti!.call('DISCARD');
        await other!.rpush('{u}flags', 'x');
        await waiting;
        return shown;
      } finally {
        for (const c of [blocked, inMulti, other]) c!.disconnect();
      }
    };
    const expected = await fields(targets.redis.port);
    expect(expected).toEqual([' flags=b multi=-1 cmd=blpop', ' flags=x multi=2 cmd=incr']);
    expect(await fields(targets.embedded.port)).toEqual(expected);
    expect(await fields(targets.onRedis.port)).toEqual(expected);
  });

  for (const how of [[], ['TIMEOUT'], ['ERROR']]) {
    it(`CLIENT UNBLOCK - ${how.join(' ') || '(no reason)'}: every blocking command ends as on redis-server, on embedded and Redis nodes`, async () => {
      for (const c of CASES) {
        const expected = await transcript(targets.redis.port, c, how);
        expect(expected[0], c.name).toBe(1);
        expect(await transcript(targets.embedded.port, c, how), `${c.name} embedded`).toEqual(expected);
        expect(await transcript(targets.onRedis.port, c, how), `${c.name} on redis nodes`).toEqual(expected);
      }
    });
  }
});

describe.skipIf(!hasRedis)('CLIENT UNBLOCK - racing the blocked command on Redis nodes', () => {
  let servers: RedisProcess[] = [];
  let router: Router;
  let backends: RedisBackend[] = [];
  beforeAll(async () => {
    servers = await startRedisCluster(2);
    backends = servers.map((s, i) => new RedisBackend({ node: nodeId(`n${i}`), host: s.host, port: s.port }));
    await Promise.all(backends.map((b) => b.connect()));
    const table = RoutingTable.create({
      partitioner: hashPartitioner(),
      nodes: backends.map((b) => b.node),
      shards: 4,
    });
    router = new Router(table, new Map(backends.map((b) => [b.node, b])));
  });
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  const value = (r: Reply): unknown => plain(r instanceof RawReply ? decodeReply(r.bytes) : r);
  let nextId = 100;
  /** A session known to CLIENT UNBLOCK, as the RESP front end registers each connection. */
  const client = (): Session => {
    const session = new Session(nextId++, 'c', false, 0);
    router.clients.set(session.id, { session, laddr: '', lastActivity: 0, kill: () => {} });
    return session;
  };
  const run = (session: Session, ...args: string[]): Promise<unknown> =>
    new Promise((resolve) =>
      router.dispatch(
        session,
        args.map((a) => Buffer.from(a)),
        undefined,
        (r) => resolve(value(r)),
      ),
    );
  const nodeBlocked = async (key: string): Promise<RedisProcess> => {
    const node = router.table.shards[router.table.indexFor(Buffer.from(key))]!.node;
    const server = servers[backends.findIndex((b) => b.node === node)]!;
    const direct = new Redis({ port: server.port, host: server.host });
    try {
      await blockedClients(direct, 1);
    } finally {
      direct.disconnect();
    }
    return server;
  };

  it('CLIENT UNBLOCK - sent in the same turn as the BLPOP, before its connection is found: 1, and the BLPOP ends', async () => {
    const [waiter, admin] = [client(), client()];
    const pop = run(waiter, 'BLPOP', 'race:early', '0');
    const unblock = run(admin, 'CLIENT', 'UNBLOCK', String(waiter.id));
    expect(await unblock).toBe(1);
    expect(await pop).toBeNull();
    expect(await run(admin, 'CLIENT', 'UNBLOCK', String(waiter.id), 'ERROR')).toBe(0);
  });

  it('CLIENT UNBLOCK - behind a push that serves the blocked client: 0, and the element reaches it', async () => {
    const [waiter, admin] = [client(), client()];
    const pop = run(waiter, 'BLPOP', 'race:served', '0');
    await nodeBlocked('race:served');
    const push = run(admin, 'RPUSH', 'race:served', 'job');
    const unblock = run(admin, 'CLIENT', 'UNBLOCK', String(waiter.id), 'ERROR');
    expect(await push).toBe(1);
    expect(await unblock).toBe(0);
    expect(await pop).toEqual(['race:served', 'job']);
    expect(await run(admin, 'LLEN', 'race:served')).toBe(0);
  });

  it('CLIENT UNBLOCK - ahead of a push: 1, the BLPOP ends with UNBLOCKED and the element stays in the list', async () => {
    const [waiter, admin] = [client(), client()];
    const pop = run(waiter, 'BLPOP', 'race:first', '0');
    await nodeBlocked('race:first');
    const unblock = run(admin, 'CLIENT', 'UNBLOCK', String(waiter.id), 'ERROR');
    const push = run(admin, 'RPUSH', 'race:first', 'job');
    expect(await unblock).toBe(1);
    expect(await push).toBe(1);
    expect(await pop).toEqual({ error: 'UNBLOCKED client unblocked via CLIENT UNBLOCK' });
    expect(await run(admin, 'LRANGE', 'race:first', '0', '-1')).toEqual(['job']);
    // The dedicated connection went back to the pool, clean, and serves the next wait.
    const node = router.table.shards[router.table.indexFor(Buffer.from('race:first'))]!.node;
    expect(router.dedicated.inUse(node)).toBe(0);
    expect(await run(waiter, 'BLPOP', 'race:first', '0')).toEqual(['race:first', 'job']);
  });
});
