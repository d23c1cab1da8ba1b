/**
 * Who may be a tenant: AUTH answers as Redis 7 does, declared tenants (config
 * `tenant.declared`) are the only names AUTH, the tenant header and key
 * prefixes accept, and telemetry then tracks exactly those.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { exchange } from './differential.js';

const WRONGPASS = { error: 'WRONGPASS invalid username-password pair or user is disabled.' };
const OK = { simple: 'OK' };

const hasRedis = requireBinary('redis-server', 'AUTH compared with redis-server');
describe.skipIf(!hasRedis)('auth - no password set, compared with redis-server 7', () => {
  let t: TestHotshard;
  let redis: RedisProcess;
  beforeAll(async () => {
    [t, redis] = await Promise.all([startTestHotshard({ backend: 'memory' }), startRedis()]);
  });
  afterAll(async () => {
    await Promise.all([t?.stop(), redis?.stop()]);
  });

  it('auth - AUTH <user> <anything> is WRONGPASS, AUTH default <anything> OK, AUTH <pass> the no-password error', async () => {
    const commands = [
      ['AUTH', 'alice', 'anything'],
      ['AUTH', 'pass'],
      ['AUTH', 'default', 'anything'],
      ['HELLO', '2', 'AUTH', 'mallory', 'x'],
      ['AUTH', 'a', 'b', 'c'],
      ['PING'],
    ];
    const expected = await exchange(redis.port, commands);
    expect(expected[0]).toEqual(WRONGPASS);
    expect(await exchange(t.port, commands)).toEqual(expected);
  });
});

describe('auth - declared tenants', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      password: 'shared',
      tenant: {
        keyPrefix: true,
        declared: [{ name: 'acme', password: 'acme-pw' }, { name: 'globex' }],
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('auth - only declared tenants AUTH, each with its own password or else the shared one', async () => {
    expect(
      await exchange(t.port, [
        ['AUTH', 'acme', 'acme-pw'],
        ['AUTH', 'acme', 'shared'],
        ['AUTH', 'globex', 'shared'],
        ['AUTH', 'globex', 'acme-pw'],
        ['AUTH', 'mallory', 'shared'],
        ['AUTH', 'other', 'shared'],
        ['AUTH', 'shared'],
        ['AUTH', 'default', 'shared'],
      ]),
    ).toEqual([OK, WRONGPASS, OK, WRONGPASS, WRONGPASS, WRONGPASS, OK, OK]);
    // A refused AUTH leaves the connection unauthenticated.
    expect(
      await exchange(t.port, [
        ['AUTH', 'mallory', 'shared'],
        ['GET', 'k'],
      ]),
    ).toEqual([WRONGPASS, { error: 'NOAUTH Authentication required.' }]);
  });

  it('auth - an undeclared tenant header gets a 400 JSON error naming the config; a declared one is served', async () => {
    const http = t.hs.http;
    const headers = { authorization: 'Bearer shared' };
    const bad = await http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'v',
      headers: { ...headers, 'x-tenant': 'mallory' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      error: {
        code: 'HS_ERR_BAD_REQUEST',
        message: "x-tenant: tenant 'mallory' is not declared (config tenant.declared)",
      },
    });
    const good = await http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'v',
      headers: { ...headers, 'x-tenant': 'globex' },
    });
    expect(good.statusCode).toBe(200);
    const reserved = await http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: { ...headers, 'x-tenant': 'other' },
    });
    expect(reserved.statusCode).toBe(400);
  });

  it("auth - with declared tenants, telemetry tracks exactly them: an undeclared key prefix is the session tenant's", async () => {
    await exchange(t.port, [
      ['AUTH', 'shared'],
      ...Array.from({ length: 200 }, (_, i) => ['SET', `stranger${i}:k`, 'v']),
      ['GET', 'acme:k'],
    ]);
    const w = t.hs.telemetry!.window('tenant', 600, true);
    expect([...w.keys()].sort()).toEqual(expect.arrayContaining(['acme', 'default']));
    for (const name of w.keys()) expect(['acme', 'globex', 'default']).toContain(name);
    expect(w.get('default')!.writes * w.get('default')!.seconds).toBeCloseTo(200, 6);
  });
});
