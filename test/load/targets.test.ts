/**
 * The generator against real endpoints: hotshard (RESP and HTTP, embedded
 * shards), plain redis-server and twemproxy in front of redis-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/load/generator.js';
import { openTarget, type Target, type TargetCommand, type TargetSpec } from '../../src/load/targets.js';
import type { WorkloadSpec } from '../../src/load/workload.js';
import { verifyWrites, WriteLedger } from '../../src/load/write-ledger.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { requireBinary, startRedis, startRedisCluster, type RedisProcess } from '../../src/testkit/index.js';
import { startNutcracker, type NutcrackerProcess } from '../../src/testkit/nutcracker.js';

const MIXED: WorkloadSpec = {
  keys: 2_000,
  distribution: { kind: 'zipf', theta: 0.99 },
  ops: { get: 50, set: 25, incr: 10, mget: 10, del: 5 },
  valueSize: { kind: 'uniform', min: 8, max: 300 },
  tenants: [
    { name: 'alpha', rate: 1 },
    { name: 'beta', rate: 2 },
  ],
};
const NO_MGET: WorkloadSpec = { ...MIXED, ops: { get: 50, set: 25, incr: 15, del: 10 } };

function call(t: Target, cmd: TargetCommand): Promise<unknown> {
  return new Promise((resolve, reject) =>
    t.send(0, cmd, (err, value) => (err ? reject(new Error(`${err.kind}: ${err.message}`)) : resolve(value))),
  );
}

/** A mixed open-loop run with a write ledger: no errors, every op type sent, no acknowledged write lost. */
async function mixedRunIsClean(target: TargetSpec, workload: WorkloadSpec): Promise<void> {
  const ledger = new WriteLedger();
  const report = await runLoad({
    target,
    workload,
    rate: 3_000,
    durationMs: 600,
    trackWrites: ledger,
    seed: 3,
  });
  expect(report.errorExamples).toEqual({});
  expect(report.ok).toBe(1_800);
  for (const op of Object.keys(workload.ops!)) expect(report.opsByType[op], op).toBeGreaterThan(0);
  const check = await verifyWrites(target, ledger);
  expect(check.lostWrites).toBe(0);
  expect(check.checkedKeys).toBeGreaterThan(100);
  expect(check.acknowledgedWrites).toBe(report.writes!.acknowledgedWrites);
}

describe('targets: hotshard (embedded)', () => {
  let hs: TestHotshard;
  beforeAll(async () => {
    hs = await startTestHotshard({ backend: 'memory' });
  });
  afterAll(() => hs.stop());

  it('targets - RESP through hotshard: every op, no errors, no write lost', async () => {
    await mixedRunIsClean({ kind: 'resp', host: '127.0.0.1', port: hs.port, connections: 8 }, MIXED);
  });

  it('targets - HTTP data API of hotshard: every op but MGET, no errors, no write lost', async () => {
    await mixedRunIsClean({ kind: 'http', url: `http://127.0.0.1:${hs.httpPort}`, connections: 8 }, NO_MGET);
  });

  it('targets - a key written over RESP reads back over HTTP under the same name', async () => {
    const resp = await openTarget(
      { kind: 'resp', host: '127.0.0.1', port: hs.port, connections: 1 },
      { timeoutMs: 2_000 },
    );
    const http = await openTarget(
      { kind: 'http', url: `http://127.0.0.1:${hs.httpPort}`, connections: 1 },
      { timeoutMs: 2_000 },
    );
    try {
      const key = 'tenant-x:key:000000000042';
      await call(resp, { op: 'set', tenant: 'tenant-x', keys: [key], value: Buffer.from('hello') });
      expect(String(await call(http, { op: 'get', tenant: 'tenant-x', keys: [key] }))).toBe('hello');
      expect(await call(http, { op: 'incr', tenant: '', keys: ['c:1'] })).toBe(1);
      expect(await call(resp, { op: 'incr', tenant: '', keys: ['c:1'] })).toBe(2);
      expect(await call(http, { op: 'del', tenant: '', keys: [key] })).toBe(1);
      expect(await call(resp, { op: 'get', tenant: '', keys: [key] })).toBeNull();
      // Errors keep their stable kind over both protocols.
      expect(await call(http, { op: 'set', tenant: '', keys: ['s'], value: Buffer.from('v') })).toBeNull();
      await expect(call(resp, { op: 'incr', tenant: '', keys: ['s'] })).rejects.toThrow(/not an integer/);
      await expect(call(http, { op: 'incr', tenant: '', keys: ['s'] })).rejects.toThrow(/HS_ERR_NOT_INTEGER/);
    } finally {
      await Promise.all([resp.close(), http.close()]);
    }
  });
});

describe('targets: hotshard with a password (HTTP)', () => {
  let hs: TestHotshard;
  let url: string;
  beforeAll(async () => {
    hs = await startTestHotshard({ backend: 'memory', password: 'pw' });
    url = `http://127.0.0.1:${hs.httpPort}`;
  });
  afterAll(() => hs.stop());

  it('targets - HTTP with the password: every op but MGET for every tenant, no errors, no write lost', async () => {
    await mixedRunIsClean({ kind: 'http', url, password: 'pw', connections: 8 }, NO_MGET);
  });

  it('targets - HTTP with a wrong or no password: every request fails at once as a 401, counted by kind', async () => {
    for (const [password, kind] of [
      ['nope', 'HS_ERR_BAD_AUTH'],
      [undefined, 'HS_ERR_NOAUTH'],
    ] as const) {
      const report = await runLoad({
        target: { kind: 'http', url, connections: 4, ...(password === undefined ? {} : { password }) },
        workload: NO_MGET,
        rate: 1_000,
        durationMs: 300,
        timeoutMs: 60_000, // a hang would show as no answer before the run ends, not as a 401
        seed: 5,
      });
      expect(report.ok, String(password)).toBe(0);
      expect(report.errorsByKind, String(password)).toEqual({ [kind]: 300 });
      expect(report.errorExamples[kind]).toMatch(/^401: /);
    }
  });
});

describe.skipIf(!requireBinary('redis-server', 'load generator tests against redis-server'))(
  'targets: redis-server',
  () => {
    let redis: RedisProcess;
    beforeAll(async () => {
      redis = await startRedis({ password: 'pw' });
    });
    afterAll(() => redis.stop());

    it('targets - RESP to plain Redis with AUTH: every op, no errors, no write lost', async () => {
      await mixedRunIsClean(
        { kind: 'resp', host: redis.host, port: redis.port, password: 'pw', connections: 8 },
        MIXED,
      );
    });

    it('targets - a wrong password fails at the start with a message naming the target', async () => {
      await expect(
        runLoad({
          target: { kind: 'resp', host: redis.host, port: redis.port, password: 'nope' },
          rate: 1,
          durationMs: 1,
        }),
      ).rejects.toThrow(new RegExp(`load target resp 127.0.0.1:${redis.port}: .*(AUTH|WRONGPASS|invalid)`));
    });
  },
);

describe.skipIf(
  !requireBinary('redis-server', 'load generator tests against twemproxy') ||
    !requireBinary('nutcracker', 'load generator tests against twemproxy'),
)('targets: twemproxy', () => {
  let nodes: RedisProcess[];
  let twem: NutcrackerProcess;
  beforeAll(async () => {
    nodes = await startRedisCluster(2);
    twem = await startNutcracker({ servers: nodes.map((n) => n.address) });
  });
  afterAll(async () => {
    await twem?.stop();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it('targets - RESP through twemproxy: every op incl. cross-node MGET, no errors, no write lost', async () => {
    await mixedRunIsClean({ kind: 'resp', host: twem.host, port: twem.port, connections: 8 }, MIXED);
  });
});
