/**
 * Every HTTP error is the documented `{"error":{"code","message"}}` with a
 * stable code and a status that says whose fault it is: our handlers'
 * errors, fastify's own, and what Node's parser refuses before fastify sees
 * the request (the last through real sockets, which inject() bypasses).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpServer } from '../../src/router/http-server.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { rawConnect } from './raw-client.js';

interface ErrorBody {
  error: { code: string; message: string };
}

/** Sends raw bytes to the HTTP port; resolves with the status, headers and parsed body of the answer. */
async function rawHttp(
  port: number,
  request: string,
): Promise<{ status: number; head: string; body: ErrorBody }> {
  const c = await rawConnect(port);
  c.write(request);
  const all = await c.until((b) => {
    const text = b.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    const len = /content-length: (\d+)/i.exec(text);
    return end >= 0 && len !== null && b.length >= end + 4 + Number(len[1]);
  });
  c.close();
  const text = all.toString('utf8');
  const end = text.indexOf('\r\n\r\n');
  return {
    status: Number(text.slice(9, 12)),
    head: text.slice(0, end),
    body: JSON.parse(text.slice(end + 4)) as ErrorBody,
  };
}

describe('http errors - the documented JSON body everywhere', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', limits: { maxBulkBytes: 4096 } });
  });
  afterAll(async () => t?.stop());

  /** A well-behaved client on a real socket is served after each bad one. */
  const bystanderServed = async (): Promise<void> => {
    const url = `http://127.0.0.1:${t.httpPort}/kv/bystander`;
    expect((await fetch(url, { method: 'PUT', body: 'ok' })).status).toBe(200);
    expect(await (await fetch(url)).text()).toBe('ok');
  };

  const expectError = (
    res: { statusCode: number; json: <T>() => T },
    status: number,
    code: string,
    message?: RegExp,
  ): void => {
    expect(res.statusCode).toBe(status);
    const body = res.json<ErrorBody>();
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toBe(code);
    if (message !== undefined) expect(body.error.message).toMatch(message);
  };

  it('http errors - a ttl Redis would refuse is a 400, not a 500', async () => {
    const http = t.hs.http;
    for (const q of [
      'ttl=9999999999999999',
      'ttl=9223372036854775',
      'px=9223372036854775807',
      'ttl=0',
      'ttl=007',
      'ttl=1.5',
      'px=-1',
    ]) {
      const res = await http.inject({ method: 'PUT', url: `/kv/t?${q}`, payload: 'x' });
      expectError(res, 400, 'HS_ERR_BAD_REQUEST', /^(ttl|px) /);
    }
    expect((await http.inject({ method: 'GET', url: '/kv/t' })).statusCode).toBe(404);
    // As large as Redis takes.
    const far = await http.inject({ method: 'PUT', url: '/kv/t?ttl=9000000000000000', payload: 'x' });
    expect(far.statusCode).toBe(200);
  });

  it('http errors - a by that Redis would not read as an int64 is a 400, and counts nothing', async () => {
    const http = t.hs.http;
    for (const by of ['0007', '-0', '+5', '9223372036854775808', '-9223372036854775809', '1e3', '', ' 1']) {
      const res = await http.inject({ method: 'POST', url: `/kv/c:incr?by=${encodeURIComponent(by)}` });
      expectError(res, 400, 'HS_ERR_BAD_REQUEST', /^by must be/);
    }
    expect((await http.inject({ method: 'GET', url: '/kv/c' })).statusCode).toBe(404);
    const max = await http.inject({ method: 'POST', url: '/kv/c:incr?by=9223372036854775807' });
    expect(max.json()).toEqual({ value: '9223372036854775807' });
    // Overflowing the stored value is about the key's state: 409, as before.
    expectError(
      await http.inject({ method: 'POST', url: '/kv/c:incr' }),
      409,
      'HS_ERR_NOT_INTEGER',
      /overflow/,
    );
  });

  it('http errors - malformed percent-encoding is a 400 in our format', async () => {
    for (const url of ['/kv/%zz', '/kv/a%E0%A4%', '/kv/%', '/hotkeys%zz', '/kv/%2']) {
      expectError(
        await t.hs.http.inject({ method: 'GET', url }),
        400,
        'HS_ERR_BAD_REQUEST',
        /percent-encoding/,
      );
    }
  });

  it('http errors - a body over the limit is a 413 HS_ERR_VALUE_TOO_LARGE naming the limit', async () => {
    const res = await t.hs.http.inject({ method: 'PUT', url: '/kv/big', payload: Buffer.alloc(5000) });
    expectError(res, 413, 'HS_ERR_VALUE_TOO_LARGE', /4096-byte limit/);
  });

  it('http errors - a 100 MB body announced on a real socket is refused at the header', async () => {
    const res = await rawHttp(
      t.httpPort,
      'PUT /kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n' + 'x'.repeat(1000),
    );
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('HS_ERR_VALUE_TOO_LARGE');
    await bystanderServed();
  });

  it('http errors - a key over 16 KB gets 431 HS_ERR_HEADERS_TOO_LARGE saying why', async () => {
    const res = await rawHttp(t.httpPort, `GET /kv/${'k'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.body.error.code).toBe('HS_ERR_HEADERS_TOO_LARGE');
    expect(res.body.error.message).toMatch(/RESP/);
    await bystanderServed();
  });

  it('http errors - a method Node does not know, or CONNECT, is a 405 with Allow', async () => {
    for (const method of ['FOO', 'CONNECT']) {
      const res = await rawHttp(t.httpPort, `${method} /kv/a HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.status, method).toBe(405);
      expect(res.head).toMatch(/\r\nallow: GET, PUT, POST, PATCH, DELETE/i);
      expect(res.body.error.code).toBe('HS_ERR_METHOD_NOT_ALLOWED');
    }
    await bystanderServed();
  });

  it('http errors - a known method a route does not take is a 405 naming the ones it does', async () => {
    const kv = await t.hs.http.inject({ method: 'PATCH', url: '/kv/a' });
    expectError(kv, 405, 'HS_ERR_METHOD_NOT_ALLOWED');
    expect(kv.headers.allow).toBe('GET, PUT, POST, DELETE');
    const view = await t.hs.http.inject({ method: 'DELETE', url: '/hotkeys' });
    expectError(view, 405, 'HS_ERR_METHOD_NOT_ALLOWED');
    expect(view.headers.allow).toBe('GET');
    expectError(await t.hs.http.inject({ method: 'GET', url: '/nope' }), 404, 'HS_ERR_NOT_FOUND');
  });

  it("http errors - fastify's schema validation and content errors use our body too", async () => {
    const app = buildHttpServer(
      t.hs.router,
      { tenantHeader: 'x-tenant', tenantKeyPrefix: false, maxValueBytes: 64 },
      pino({ level: 'silent' }),
    );
    app.post<{ Querystring: { n: number } }>(
      '/checked',
      { schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } } },
      () => ({ ok: true }),
    );
    app.get('/throws', () => {
      throw new Error('secret internal detail');
    });
    try {
      expectError(
        await app.inject({ method: 'POST', url: '/checked?n=abc' }),
        400,
        'HS_ERR_BAD_REQUEST',
        /n/,
      );
      const json = { 'content-type': 'application/json' };
      expectError(
        await app.inject({ method: 'POST', url: '/checked', payload: '{bad', headers: json }),
        400,
        'HS_ERR_BAD_REQUEST',
      );
      const odd = { 'content-type': 'text/x-odd' };
      expectError(
        await app.inject({ method: 'POST', url: '/checked', payload: 'x', headers: odd }),
        415,
        'HS_ERR_BAD_REQUEST',
      );
      const boom = await app.inject({ method: 'GET', url: '/throws' });
      expectError(boom, 500, 'HS_ERR_INTERNAL');
      expect(boom.body).not.toMatch(/secret/);
    } finally {
      await app.close();
    }
  });
});
