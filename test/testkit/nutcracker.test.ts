import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisBenchmarkError,
  parseRedisBenchmarkCsv,
  runRedisBenchmark,
} from '../../bench/lib/redis-benchmark.js';
import { requireBinary, startRedis, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';
import { decodeReply, scanReply } from '../../src/protocol/reply-decoder.js';
import { SimpleString, type Reply } from '../../src/protocol/reply.js';
import {
  findNutcracker,
  nutcrackerConfig,
  startNutcracker,
  type NutcrackerProcess,
} from '../../src/testkit/nutcracker.js';

// nutcracker lives in /usr/sbin, which findNutcracker also searches; requireBinary
// prints the skip notice (or fails in CI) only when it is really absent.
const hasNutcracker =
  findNutcracker() !== undefined || requireBinary('nutcracker', 'twemproxy testkit tests');
const hasRedis = requireBinary('redis-server', 'twemproxy testkit tests');
const hasBenchmark = requireBinary('redis-benchmark', 'redis-benchmark wrapper tests');

/** Sends RESP commands pipelined on one connection; resolves with the decoded replies. */
function send(port: number, ...commands: string[][]): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    let offset = 0;
    const replies: Reply[] = [];
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      for (let end = scanReply(data, offset); end !== -1; end = scanReply(data, offset)) {
        replies.push(decodeReply(data, offset));
        offset = end;
      }
      if (replies.length === commands.length) {
        socket.destroy();
        resolve(replies);
      }
    });
    socket.write(
      commands
        .map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
        .join(''),
    );
  });
}

describe('nutcracker config', () => {
  it('nutcracker config - one ketama pool, no ejection, one connection per node', () => {
    const yaml = nutcrackerConfig('127.0.0.1:7000', { servers: ['127.0.0.1:7001', '127.0.0.1:7002'] });
    expect(yaml).toContain('listen: 127.0.0.1:7000');
    expect(yaml).toContain('distribution: ketama');
    expect(yaml).toContain('hash: murmur');
    expect(yaml).toContain('auto_eject_hosts: false');
    expect(yaml).toContain('server_connections: 1');
    expect(yaml).toContain('    - 127.0.0.1:7001:1\n    - 127.0.0.1:7002:1');
  });

  it('nutcracker config - rejects a server that is not host:port', () => {
    expect(() => nutcrackerConfig('127.0.0.1:7000', { servers: ['localhost'] })).toThrow(/host:port/);
    expect(() => nutcrackerConfig('127.0.0.1:7000', { servers: [] })).toThrow(/at least one/);
  });
});

describe('redis-benchmark csv', () => {
  it('redis-benchmark csv - parses the Redis 7 form with latencies', () => {
    const out =
      '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"\n' +
      '"SET","408163.28","1.751","0.472","1.615","3.311","3.871","4.007"\n' +
      '"GET","769230.75","0.895","0.456","0.871","1.279","1.463","1.679"\n';
    const [set, get] = parseRedisBenchmarkCsv(out, ['get', 'set']);
    expect(set).toEqual({
      test: 'SET',
      rps: 408163.28,
      avgMs: 1.751,
      minMs: 0.472,
      p50Ms: 1.615,
      p95Ms: 3.311,
      p99Ms: 3.871,
      maxMs: 4.007,
    });
    expect(get?.rps).toBe(769230.75);
  });

  it('redis-benchmark csv - parses the old two-column form and skips the CONFIG warning', () => {
    const out =
      'WARNING: Could not fetch server CONFIG\r\n"PING_INLINE","1000.50"\r\n"PING_MBULK","2000.00"\r\n';
    expect(parseRedisBenchmarkCsv(out, ['ping']).map((r) => r.rps)).toEqual([1000.5, 2000]);
  });

  it('redis-benchmark csv - an error line, a zero rate or a missing test throws', () => {
    expect(() => parseRedisBenchmarkCsv('"test","rps"\nError from server: ERR x\n')).toThrow(/unexpected/);
    expect(() => parseRedisBenchmarkCsv('"test","rps"\n"GET","0.00"\n')).toThrow(/no throughput/);
    expect(() => parseRedisBenchmarkCsv('"test","rps"\n"GET","nan"\n')).toThrow(/not a number/);
    expect(() => parseRedisBenchmarkCsv('"test","rps"\n"SET","10.00"\n', ['get', 'set'])).toThrow(
      /no result for GET/,
    );
  });
});

describe.skipIf(!hasNutcracker || !hasRedis)('nutcracker', () => {
  let redis: RedisProcess[] = [];
  let twem: NutcrackerProcess | undefined;

  beforeAll(async () => {
    redis = await startRedisCluster(3);
    twem = await startNutcracker({ servers: redis.map((r) => r.address) });
  });

  afterAll(async () => {
    await twem?.stop();
    await Promise.all(redis.map((r) => r.stop()));
  });

  it('nutcracker - routes SET and GET and spreads keys over every node', async () => {
    const port = twem!.port;
    const keys = Array.from({ length: 60 }, (_, i) => `nc-test:spread:${i}`);
    const sets = await send(port, ...keys.map((k) => ['SET', k, `v-${k}`]));
    expect(sets).toEqual(keys.map(() => new SimpleString('OK')));
    const gets = await send(port, ...keys.map((k) => ['GET', k]));
    expect(gets.map(String)).toEqual(keys.map((k) => `v-${k}`));
    // Each node got some of the keys: the pool really fronts all three.
    for (const r of redis) {
      const [size] = await send(r.port, ['DBSIZE']);
      expect(size).toBeGreaterThan(0);
    }
  });

  it('nutcracker - stats port reports every server connected', async () => {
    const stats = await twem!.stats();
    expect(stats.service).toBe('nutcracker');
    const pool = stats.hotshard as Record<string, unknown>;
    for (const r of redis) expect(pool[r.address]).toBeDefined();
  });

  it.skipIf(!hasBenchmark)('redis-benchmark - measures GET and SET through nutcracker', async () => {
    const results = await runRedisBenchmark({
      port: twem!.port,
      tests: ['set', 'get'],
      requests: 5_000,
      clients: 10,
      pipeline: 4,
    });
    expect(results.map((r) => r.test).sort()).toEqual(['GET', 'SET']);
    for (const r of results) expect(r.rps).toBeGreaterThan(0);
  });

  it('nutcracker - stop ends the process and is safe to call twice', async () => {
    const t = await startNutcracker({ servers: [redis[0]!.address] });
    await Promise.all([t.stop(), t.stop()]);
    expect(() => process.kill(t.pid, 0)).toThrow();
    await expect(send(t.port, ['PING'])).rejects.toThrow(/ECONNREFUSED/);
  });

  it('nutcracker - start fails with the log when a node is down', async () => {
    const dead = await startRedis();
    await dead.stop();
    await expect(startNutcracker({ servers: [dead.address], startTimeoutMs: 1_500 })).rejects.toThrow(
      /did not route/,
    );
  });

  it.skipIf(!hasBenchmark)(
    'redis-benchmark - an error reply through the proxy throws with the output',
    async () => {
      const dead = await startRedis();
      const t = await startNutcracker({ servers: [dead.address] });
      try {
        await dead.stop();
        const run = runRedisBenchmark({
          port: t.port,
          tests: ['get'],
          requests: 1_000,
          clients: 2,
          timeoutMs: 10_000,
        });
        await expect(run).rejects.toBeInstanceOf(RedisBenchmarkError);
        await expect(run).rejects.toThrow(/redis-benchmark output/);
      } finally {
        await t.stop();
      }
    },
  );

  it.skipIf(!hasBenchmark)(
    'redis-benchmark - a target that never answers times out instead of hanging',
    async () => {
      const dead = await startRedis();
      await dead.stop();
      const run = runRedisBenchmark({
        port: dead.port,
        tests: ['get'],
        requests: 1_000,
        clients: 2,
        timeoutMs: 1_500,
      });
      await expect(run).rejects.toThrow(/timed out|exited/);
    },
  );
});
