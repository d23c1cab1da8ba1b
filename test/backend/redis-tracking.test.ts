import fc from 'fast-check';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { RedisBackend, type RedisBackendOptions } from '../../src/backend/redis.js';
import { ManualClock } from '../../src/clock.js';
import { makeCommand } from '../../src/protocol/command.js';
import { nodeId } from '../../src/keyspace/ids.js';
import type { Reply } from '../../src/protocol/reply.js';
import { freePort, requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';
import { respRoundTrip } from '../../src/testkit/round-trip.js';
import { Recorder, plain, readTracked, runTrackingCases, until } from './tracking.case.js';
import { trackingSteps } from './tracking-steps.js';

const hasRedis = requireBinary('redis-server', 'Redis invalidation feed tests');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs one command as another client (after AUTH when the node has a password). */
async function ask(server: RedisProcess, ...command: string[]): Promise<Reply> {
  const auth = server.password === undefined ? [] : [['AUTH', server.password]];
  const replies = await respRoundTrip(server.host, server.port, [...auth, command], 5_000);
  return replies[replies.length - 1]!;
}

/** The node's clients as CLIENT LIST shows them, one record of fields per client. */
async function clients(server: RedisProcess): Promise<Array<Record<string, string>>> {
  const list = plain(await ask(server, 'CLIENT', 'LIST')) as string;
  return list
    .trim()
    .split('\n')
    .map((line) => Object.fromEntries(line.split(' ').map((f) => f.split('=', 2) as [string, string])));
}

/** Waits until the node has `n` clients (closed connections leave it a moment later). */
async function clientsSettle(server: RedisProcess, n: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const count = (await clients(server)).length;
    if (count === n) return;
    if (Date.now() > deadline) expect(count).toBe(n);
    await sleep(20);
  }
}

/**
 * Kills the node and holds its port, so a redis-server another suite starts
 * meanwhile cannot take it (and be tracked by mistake); the function returned
 * frees the port and starts a new node there.
 */
async function killHoldingPort(server: RedisProcess): Promise<() => Promise<RedisProcess>> {
  server.kill('SIGKILL');
  await server.exited;
  const holder: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => holder.listen(server.port, server.host, resolve));
  return async () => {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    return startRedis({ port: server.port });
  };
}

describe.skipIf(!hasRedis)('redis backend - invalidation feed', () => {
  runTrackingCases('redis', async () => {
    let server = await startRedis();
    let restart: (() => Promise<RedisProcess>) | undefined;
    const b = new RedisBackend({ node: nodeId('redis-tracking'), host: server.host, port: server.port });
    await b.connect();
    return {
      backend: b,
      external: (...args: string[]) => ask(server, ...args),
      elapse: (ms: number) => sleep(ms), // active expiry (hz 10) finds the key soon after
      cutLink: async () => {
        restart = await killHoldingPort(server);
      },
      restoreLink: async () => {
        server = await restart!();
      },
      teardown: async () => {
        await b.close();
        await server.stop();
      },
    };
  });

  const backends: RedisBackend[] = [];
  const servers: RedisProcess[] = [];
  async function redis(opts: Parameters<typeof startRedis>[0] = {}): Promise<RedisProcess> {
    const r = await startRedis(opts);
    servers.push(r);
    return r;
  }
  function backend(opts: Partial<RedisBackendOptions> & { port: number }): RedisBackend {
    const b = new RedisBackend({ node: nodeId('n1'), host: '127.0.0.1', ...opts });
    backends.push(b);
    return b;
  }
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((b) => b.close()));
    await Promise.all(servers.splice(0).map((r) => r.stop()));
  });

  /** A connected backend and a live feed on it. */
  async function tracked(server: RedisProcess, opts: Partial<RedisBackendOptions> = {}) {
    const b = backend({ port: server.port, ...opts });
    await b.connect();
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    await until(() => feed.live, 'the feed is live');
    rec.heard.length = 0; // a Redis feed's first linkUp: the tests look at what comes after
    return { b, rec, feed };
  }

  it('the feed tracks on two connections of its own: a subscriber and a reader redirecting to it', async () => {
    const server = await redis();
    await tracked(server);
    const list = await clients(server);
    const sub = list.find((c) => c['flags']?.includes('P'));
    const reader = list.find((c) => c['flags']?.includes('t'));
    expect(sub?.['sub']).toBe('1');
    expect(reader).toBeDefined();
    expect(plain(await ask(server, 'INFO', 'clients'))).toMatch(/tracking_clients:1\r\n/);
    expect(list).toHaveLength(4); // with the data connection and the asker
  });

  it('a killed subscriber is reported down, and tracking is set up again with a new one', async () => {
    const server = await redis();
    const { rec, feed } = await tracked(server);
    expect((await readTracked(feed, 'GET', 'before')).tracked).toBe(true);
    expect(plain(await ask(server, 'CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBe(1);
    await until(() => rec.links.join() === 'down,up', 'down, then up again');
    expect(rec.heard[0]).toMatchObject({
      reason: expect.stringMatching(/invalidation subscriber .* lost/) as unknown,
    });
    // The new reader redirects to the new subscriber.
    expect((await readTracked(feed, 'GET', 'after')).tracked).toBe(true);
    await ask(server, 'SET', 'after', 'v');
    await until(() => rec.count('after') === 1, 'a key read after the repair is reported');
    // The old pair is gone: the data connection, the new pair, and the asker.
    await clientsSettle(server, 4);
  });

  it('a killed tracked-read connection is reported down, then up once a new one tracks', async () => {
    const server = await redis();
    const { rec, feed } = await tracked(server);
    const reader = (await clients(server)).find((c) => c['flags']?.includes('t'));
    expect(plain(await ask(server, 'CLIENT', 'KILL', 'ID', reader!['id']!))).toBe(1);
    await until(() => rec.links.join() === 'down,up', 'down, then up again');
    expect(rec.heard[0]).toMatchObject({
      reason: expect.stringMatching(/tracked-read connection .* lost/) as unknown,
    });
    expect((await readTracked(feed, 'HGETALL', 'h')).tracked).toBe(true);
    await ask(server, 'HSET', 'h', 'f', 'v');
    await until(() => rec.count('h') === 1, 'reported');
  });

  it("a node that stops answering is noticed by the idle subscriber's PING; reads in flight answer untracked", async () => {
    const server = await redis();
    const { rec, feed } = await tracked(server, {
      timeoutMs: 300,
      healthCheckMs: 100,
      connectTimeoutMs: 300,
    });
    server.kill('SIGSTOP');
    try {
      const inFlight = readTracked(feed, 'GET', 'k');
      await until(() => rec.links.includes('down'), 'linkDown while the node is stopped');
      expect(feed.live).toBe(false);
      expect((await inFlight).tracked).toBe(false);
    } finally {
      server.kill('SIGCONT');
    }
    await until(() => feed.live, 'up once the node answers again');
    expect(rec.links).toEqual(['down', 'up']);
  });

  it('a node down from the start: the feed is not live and tells nothing until the node is up, then linkUp', async () => {
    const port = await freePort();
    const b = backend({ port });
    await b.connect().catch(() => undefined);
    const rec = new Recorder();
    const feed = b.trackInvalidations(rec);
    await sleep(200);
    expect(feed.live).toBe(false);
    expect(rec.heard).toEqual([]);
    const r = await readTracked(feed, 'GET', 'k');
    expect(r.tracked).toBe(false);
    expect(r.reply).toMatchObject({ error: expect.stringMatching(/HS_ERR_SHARD_UNAVAILABLE/) as unknown });
    await redis({ port });
    await until(() => feed.live, 'live once the node is up');
    expect(rec.links).toEqual(['up']);
  });

  it('with a password: the feed authenticates on both connections, also after a reconnect', async () => {
    const server = await redis({ password: 'pa55' });
    const { rec, feed } = await tracked(server, { password: 'pa55' });
    expect(await readTracked(feed, 'GET', 'k')).toEqual({ reply: null, tracked: true });
    await ask(server, 'SET', 'k', 'v');
    await until(() => rec.count('k') === 1, 'reported');
    await ask(server, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    await until(() => rec.links.join() === 'down,up', 'down, then up again');
    expect(await readTracked(feed, 'GET', 'k')).toEqual({ reply: 'v', tracked: true });
  });

  it('closing the backend tells a live feed linkDown and closes its connections; a later feed is never live', async () => {
    const server = await redis();
    const { b, rec, feed } = await tracked(server);
    await b.close();
    expect(rec.heard).toEqual([
      { kind: 'down', reason: expect.stringMatching(/is shutting down/) as unknown },
    ]);
    expect(feed.live).toBe(false);
    await clientsSettle(server, 1); // the asker
    const late = b.trackInvalidations(new Recorder());
    await sleep(100);
    expect(late.live).toBe(false);
  });

  it('closing a feed closes its two connections and tells its listener nothing', async () => {
    const server = await redis();
    const { rec, feed } = await tracked(server);
    expect(await clients(server)).toHaveLength(4);
    feed.close();
    await clientsSettle(server, 2); // the data connection and the asker
    expect(rec.heard).toEqual([]);
  });

  it('the embedded node replies and reports invalidations as Redis does, command for command (differential)', async () => {
    const server = await redis();
    const { rec, feed } = await tracked(server);
    const other = backend({ port: server.port, node: nodeId('other') }); // another client of the node
    await other.connect();
    const send = (b: ShardBackend, args: string[]): Promise<unknown> =>
      new Promise((resolve) => b.send(makeCommand(...args), (r) => resolve(plain(r))));
    // Times to live that cannot run out during the run, or are already past.
    const { command, read } = trackingSteps(['-1', '0', '100000', '300000', '0.5'], {
      deterministic: true,
    });
    const step = fc.oneof(
      { weight: 3, arbitrary: command.map((args) => ({ read: false, args })) },
      { weight: 2, arbitrary: read.map((args) => ({ read: true, args })) },
    );
    const reported = (r: Recorder, from: number): string[] =>
      [...new Set(r.heard.slice(from).flatMap((h) => (h.kind === 'invalidate' ? (h.keys ?? ['*']) : [])))]
        .filter((k) => k !== 'marker')
        .sort();
    /** Everything Redis reported for the commands before comes before the marker's report. */
    const sync = async (): Promise<void> => {
      expect((await readTracked(feed, 'GET', 'marker')).tracked).toBe(true);
      const marked = rec.count('marker');
      await send(other, ['SET', 'marker', 'm']);
      await until(() => rec.count('marker') > marked, 'the marker is reported');
    };
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 25 }), async (steps) => {
        await send(other, ['FLUSHALL']);
        await until(() => rec.keys.includes('*'), 'the flush before the run is reported');
        await sync();
        rec.heard.length = 0;
        const clock = new ManualClock(Date.now());
        const mem = new MemoryBackend({ node: nodeId('mem-diff'), clock });
        const memRec = new Recorder();
        const memFeed = mem.trackInvalidations(memRec);
        try {
          for (const s of steps) {
            const [from, memFrom] = [rec.heard.length, memRec.heard.length];
            if (s.read) {
              const [got, want] = [await readTracked(memFeed, ...s.args), await readTracked(feed, ...s.args)];
              expect(got, s.args.join(' ')).toEqual(want);
              continue;
            }
            const [got, want] = [await send(mem, s.args), await send(other, s.args)];
            expect(timeLeft(s.args, got, clock.now()), s.args.join(' ')).toEqual(
              timeLeft(s.args, want, Date.now()),
            );
            await sync();
            expect(reported(memRec, memFrom), s.args.join(' ')).toEqual(reported(rec, from));
          }
        } finally {
          memFeed.close();
          await mem.close();
        }
      }),
      { numRuns: 15 },
    );
  });
});

/**
 * A time to live as the differential compares it: the embedded node's clock
 * stands still while Redis's runs, so a time left (TTL, PTTL) is compared in
 * whole seconds (the difference stays far below one over a run), and an
 * absolute expiry (EXPIRETIME, PEXPIRETIME) as the time left from each side's
 * own clock, in tens of seconds (EXPIRETIME's rounding to a second alone can
 * differ by one); other replies as they are.
 */
function timeLeft(args: readonly string[], reply: unknown, nowMs: number): unknown {
  const name = args[0]!.toLowerCase();
  if (typeof reply !== 'number' || reply < 0) return reply;
  if (name === 'ttl') return reply;
  if (name === 'pttl') return Math.ceil(reply / 1000);
  if (name === 'expiretime') return { expiresInTensOfSeconds: Math.round((reply - nowMs / 1000) / 10) };
  if (name === 'pexpiretime') return { expiresInTensOfSeconds: Math.round((reply - nowMs) / 10_000) };
  return reply;
}
