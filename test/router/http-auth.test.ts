/**
 * HTTP with `--password`: the data API and every view that shows key names
 * need the same credentials as RESP (Bearer <password>, or basic auth with
 * the tenant as user); only /healthz stays open.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

interface ErrorBody {
  error: { code: string; message: string };
}

const PASSWORD = 'sesame';
const ADMIN = 'root-secret';
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const basic = (user: string, pass: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});

describe('http auth - with a password set', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      password: PASSWORD,
      adminPassword: ADMIN,
      tenant: { header: 'x-tenant', keyPrefix: true },
    });
  });
  afterAll(async () => t?.stop());

  const kvCalls = [
    { method: 'PUT', url: '/kv/secret', payload: 'v' },
    { method: 'GET', url: '/kv/secret' },
    { method: 'DELETE', url: '/kv/secret' },
    { method: 'POST', url: '/kv/count:incr' },
  ] as const;
  const views = [
    '/hotkeys',
    '/hotspots',
    '/shards',
    '/shards/stats',
    '/skew',
    '/metrics',
    '/events',
    '/nope',
  ];

  it('http auth - without credentials the data API and every view answer 401 with WWW-Authenticate', async () => {
    for (const call of [...kvCalls, ...views.map((url) => ({ method: 'GET' as const, url }))]) {
      const res = await t.hs.http.inject(call);
      expect(res.statusCode, `${call.method} ${call.url}`).toBe(401);
      expect(res.json<ErrorBody>().error.code).toBe('HS_ERR_NOAUTH');
      expect(res.headers['www-authenticate']).toEqual([
        'Bearer realm="hotshard"',
        'Basic realm="hotshard", charset="UTF-8"',
      ]);
    }
    // Nothing was written by the refused PUT and :incr.
    const redis = new Redis({ port: t.port, host: '127.0.0.1', password: PASSWORD });
    try {
      expect(await redis.exists('default:secret', 'default:count')).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('http auth - wrong credentials answer 401 HS_ERR_BAD_AUTH, for Bearer and basic alike', async () => {
    for (const headers of [
      bearer('wrong'),
      bearer(''),
      basic('acme', 'wrong'),
      basic('admin', PASSWORD),
      { authorization: 'Basic !!!' },
      { authorization: 'Digest x' },
    ]) {
      const res = await t.hs.http.inject({ method: 'GET', url: '/kv/secret', headers });
      expect(res.statusCode, headers.authorization).toBe(401);
      expect(res.json<ErrorBody>().error.code).toBe('HS_ERR_BAD_AUTH');
      expect(res.headers['www-authenticate']).toBeDefined();
    }
  });

  it('http auth - Bearer <password> opens the data API; the tenant still comes from X-Tenant', async () => {
    const http = t.hs.http;
    const headers = { ...bearer(PASSWORD), 'x-tenant': 'globex' };
    expect((await http.inject({ method: 'PUT', url: '/kv/k', payload: 'G', headers })).statusCode).toBe(200);
    expect((await http.inject({ method: 'GET', url: '/kv/k', headers })).body).toBe('G');
    expect((await http.inject({ method: 'POST', url: '/kv/n:incr', headers })).json()).toEqual({ value: 1 });
    expect((await http.inject({ method: 'DELETE', url: '/kv/n', headers })).json()).toEqual({ deleted: 1 });
    const scheme = await http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: { ...headers, authorization: `bearer ${PASSWORD}` },
    });
    expect(scheme.statusCode).toBe(200);
    for (const url of views.slice(0, 6)) {
      expect((await http.inject({ method: 'GET', url, headers })).statusCode, url).toBe(200);
    }
  });

  it('http auth - basic auth names the tenant, as AUTH <tenant> <password> does over RESP', async () => {
    const http = t.hs.http;
    const put = await http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'A',
      headers: basic('acme', PASSWORD),
    });
    expect(put.statusCode).toBe(200);
    const redis = new Redis({ port: t.port, host: '127.0.0.1', username: 'acme', password: PASSWORD });
    try {
      expect(await redis.get('acme:k')).toBe('A');
    } finally {
      redis.disconnect();
    }
    // The same tenant named twice is fine; two different tenants are a client error.
    const same = await http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: { ...basic('acme', PASSWORD), 'x-tenant': 'acme' },
    });
    expect(same.body).toBe('A');
    const clash = await http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: { ...basic('acme', PASSWORD), 'x-tenant': 'globex' },
    });
    expect(clash.statusCode).toBe(400);
    expect(clash.json<ErrorBody>().error.code).toBe('HS_ERR_BAD_REQUEST');
    // A user that cannot be a tenant fails as AUTH does (WRONGPASS).
    const badName = await http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: basic('no spaces!', PASSWORD),
    });
    expect(badName.statusCode).toBe(401);
  });

  it('http auth - basic admin with the admin password is accepted, as AUTH admin is', async () => {
    const res = await t.hs.http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: { ...basic('admin', ADMIN), 'x-tenant': 'acme' },
    });
    expect(res.body).toBe('A');
  });

  it('http auth - the event stream needs credentials too, and opens with them', async () => {
    const url = `http://127.0.0.1:${t.httpPort}/events`;
    expect((await fetch(url)).status).toBe(401);
    const abort = new AbortController();
    const res = await fetch(url, { headers: basic('acme', PASSWORD), signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    abort.abort();
  });

  it('http auth - /healthz stays open for load balancers', async () => {
    const res = await t.hs.http.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json<{ status: string }>().status).toBe('ok');
  });
});

describe('http auth - without a password', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory' });
  });
  afterAll(async () => t?.stop());

  it('http auth - everything is open and an Authorization header is ignored', async () => {
    const http = t.hs.http;
    expect((await http.inject({ method: 'PUT', url: '/kv/k', payload: 'v' })).statusCode).toBe(200);
    expect((await http.inject({ method: 'GET', url: '/kv/k', headers: bearer('anything') })).body).toBe('v');
    expect((await http.inject({ method: 'GET', url: '/hotkeys' })).statusCode).toBe(200);
  });
});

describe('http auth - declared tenants with passwords of their own', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      password: PASSWORD,
      tenant: {
        header: 'x-tenant',
        keyPrefix: true,
        declared: [{ name: 'acme', password: 'acme-pw' }, { name: 'globex' }],
      },
    });
  });
  afterAll(async () => t?.stop());

  it('http auth - a tenant is checked against its own password, as AUTH <tenant> is', async () => {
    const http = t.hs.http;
    const own = await http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'A',
      headers: basic('acme', 'acme-pw'),
    });
    expect(own.statusCode).toBe(200);
    // The shared password does not open a tenant that has its own, by basic auth or by Bearer + header.
    for (const headers of [basic('acme', PASSWORD), { ...bearer(PASSWORD), 'x-tenant': 'acme' }]) {
      const res = await http.inject({ method: 'GET', url: '/kv/k', headers });
      expect(res.statusCode, headers.authorization).toBe(401);
      expect(res.json<ErrorBody>().error.code).toBe('HS_ERR_BAD_AUTH');
    }
    expect((await http.inject({ method: 'GET', url: '/kv/k', headers: bearer('acme-pw') })).statusCode).toBe(
      401,
    );
    // globex has no password of its own: the shared one is its password.
    const globex = await http.inject({ method: 'GET', url: '/kv/k', headers: basic('globex', PASSWORD) });
    expect(globex.statusCode).toBe(404);
    // A tenant that is not declared cannot authenticate at all.
    const mallory = await http.inject({ method: 'GET', url: '/kv/k', headers: basic('mallory', PASSWORD) });
    expect(mallory.statusCode).toBe(401);
  });
});

describe('http auth - declared tenants, no shared password', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      tenant: {
        header: 'x-tenant',
        keyPrefix: true,
        declared: [{ name: 'acme', password: 'acme-pw' }, { name: 'open' }],
      },
    });
  });
  afterAll(async () => t?.stop());

  it('http auth - naming a tenant that has a password takes that password; default and password-less tenants need none', async () => {
    const http = t.hs.http;
    const borrowed = await http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'x',
      headers: { 'x-tenant': 'acme' },
    });
    expect(borrowed.statusCode).toBe(401);
    expect(borrowed.json<ErrorBody>().error.code).toBe('HS_ERR_NOAUTH');
    const acme = await http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'A',
      headers: basic('acme', 'acme-pw'),
    });
    expect(acme.statusCode).toBe(200);
    expect((await http.inject({ method: 'PUT', url: '/kv/k', payload: 'D' })).statusCode).toBe(200);
    const open = await http.inject({ method: 'GET', url: '/kv/k', headers: { 'x-tenant': 'open' } });
    expect(open.statusCode).toBe(404);
    const undeclared = await http.inject({ method: 'GET', url: '/kv/k', headers: { 'x-tenant': 'mallory' } });
    expect(undeclared.statusCode).toBe(400);
    expect((await http.inject({ method: 'GET', url: '/kv/k', headers: basic('acme', 'acme-pw') })).body).toBe(
      'A',
    );
  });
});
