/** The HTTP data API, in-process through fastify inject(). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

interface ErrorBody {
  error: { code: string; message: string };
}

describe('http api - /kv on the memory backend', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', tenant: { header: 'x-tenant', keyPrefix: true } });
  });
  afterAll(async () => t?.stop());

  it('http api - PUT then GET returns the exact bytes; DELETE removes them', async () => {
    const http = t.hs.http;
    const body = Buffer.from([0, 1, 2, 255, 10, 13]);
    const put = await http.inject({
      method: 'PUT',
      url: '/kv/user%2F42',
      payload: body,
      headers: { 'content-type': 'application/json' },
    });
    expect(put.statusCode).toBe(200);
    const get = await http.inject({ method: 'GET', url: '/kv/user%2F42' });
    expect(get.statusCode).toBe(200);
    expect(get.rawPayload.equals(body)).toBe(true);
    const del = await http.inject({ method: 'DELETE', url: '/kv/user%2F42' });
    expect(del.json()).toEqual({ deleted: 1 });
    const gone = await http.inject({ method: 'GET', url: '/kv/user%2F42' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json<ErrorBody>().error.code).toBe('HS_ERR_NOT_FOUND');
  });

  it('http api - POST :incr counts, with ?by, and refuses a non-integer value with 409', async () => {
    const http = t.hs.http;
    expect((await http.inject({ method: 'POST', url: '/kv/visits:incr' })).json()).toEqual({ value: 1 });
    expect((await http.inject({ method: 'POST', url: '/kv/visits:incr?by=41' })).json()).toEqual({
      value: 42,
    });
    await http.inject({ method: 'PUT', url: '/kv/word', payload: 'abc' });
    const bad = await http.inject({ method: 'POST', url: '/kv/word:incr' });
    expect(bad.statusCode).toBe(409);
    expect(bad.json<ErrorBody>().error.code).toBe('HS_ERR_NOT_INTEGER');
    const badBy = await http.inject({ method: 'POST', url: '/kv/visits:incr?by=abc' });
    expect(badBy.statusCode).toBe(400);
  });

  it('http api - tenants are separated by key prefix when configured', async () => {
    const http = t.hs.http;
    await http.inject({ method: 'PUT', url: '/kv/k', payload: 'A', headers: { 'x-tenant': 'acme' } });
    await http.inject({ method: 'PUT', url: '/kv/k', payload: 'B', headers: { 'x-tenant': 'globex' } });
    expect((await http.inject({ method: 'GET', url: '/kv/k', headers: { 'x-tenant': 'acme' } })).body).toBe(
      'A',
    );
    expect((await http.inject({ method: 'GET', url: '/kv/k', headers: { 'x-tenant': 'globex' } })).body).toBe(
      'B',
    );
    const bad = await http.inject({ method: 'GET', url: '/kv/k', headers: { 'x-tenant': 'no spaces!' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorBody>().error.code).toBe('HS_ERR_BAD_REQUEST');
  });

  it('http api - PUT with ?ttl expires; bad ttl is a 400', async () => {
    const http = t.hs.http;
    expect((await http.inject({ method: 'PUT', url: '/kv/temp?px=100', payload: 'x' })).statusCode).toBe(200);
    expect((await http.inject({ method: 'GET', url: '/kv/temp' })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 250));
    expect((await http.inject({ method: 'GET', url: '/kv/temp' })).statusCode).toBe(404);
    expect((await http.inject({ method: 'PUT', url: '/kv/temp?ttl=-5', payload: 'x' })).statusCode).toBe(400);
  });

  it('http api - GET /shards lists the shard metadata rows', async () => {
    const res = await t.hs.http.inject({ method: 'GET', url: '/shards' });
    const body = res.json<{ shards: Array<Record<string, unknown> & { key_range: unknown[] }> }>();
    expect(body.shards).toHaveLength(16);
    expect(Object.keys(body.shards[0]!).sort()).toEqual([
      'capacity',
      'key_range',
      'node',
      'node_status',
      'shard_id',
      'status',
      'throttle_ops_per_sec',
    ]);
    expect(body.shards[0]!.key_range[0]).toBeDefined();
  });

  it('http api - unknown routes are JSON 404s', async () => {
    const res = await t.hs.http.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json<ErrorBody>().error.code).toBe('HS_ERR_NOT_FOUND');
  });
});
