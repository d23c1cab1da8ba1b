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
    // The user is held to the tenant name rules, as X-Tenant is.
    const badName = await http.inject({
      method: 'GET',
      url: '/kv/k',
      headers: basic('no spaces!', PASSWORD),
    });
    expect(badName.statusCode).toBe(400);
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
