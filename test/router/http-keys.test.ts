/**
 * Keys over HTTP are bytes: the path after /kv/ is percent-decoded byte by
 * byte (`%FF` is the byte 0xFF), never read as UTF-8, so every key a RESP
 * client can use is reachable over HTTP and the other way round.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { rawConnect } from './raw-client.js';

describe.each(['memory', 'redis'] as const)('http keys - bytes, percent-encoded (%s backend)', (backend) => {
  let t: TestHotshard;
  let redis: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({ backend, redisNodes: 2 });
    redis = new Redis({ port: t.port, host: '127.0.0.1' });
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.stop();
  });

  it('http keys - a key that is not UTF-8, set over RESP, is read and deleted over HTTP', async () => {
    const key = Buffer.from([0xff, 0x00, 0x2f, 0x3f, 0x25, 0xc3, 0x28, 0x20]);
    await redis.set(key, 'binary');
    const url = '/kv/%FF%00%2F%3F%25%c3%28%20';
    const get = await t.hs.http.inject({ method: 'GET', url });
    expect(get.statusCode).toBe(200);
    expect(get.body).toBe('binary');
    expect((await t.hs.http.inject({ method: 'DELETE', url })).json()).toEqual({ deleted: 1 });
    expect(await redis.exists(key)).toBe(0);
  });

  it('http keys - a key written over HTTP has exactly the decoded bytes over RESP', async () => {
    const put = await t.hs.http.inject({ method: 'PUT', url: '/kv/caf%C3%A9/%E9%80:x', payload: 'v' });
    expect(put.statusCode).toBe(200);
    const key = Buffer.concat([Buffer.from('café/'), Buffer.from([0xe9, 0x80]), Buffer.from(':x')]);
    expect(await redis.get(key)).toBe('v');
    const incr = await t.hs.http.inject({ method: 'POST', url: '/kv/%FE%FF:incr?by=2' });
    expect(incr.json()).toEqual({ value: 2 });
    expect(await redis.get(Buffer.from([0xfe, 0xff]))).toBe('2');
  });

  it('http keys - an encoded colon belongs to the key, the last literal :incr is the action', async () => {
    const res = await t.hs.http.inject({ method: 'POST', url: '/kv/hits%3Aincr:incr' });
    expect(res.json()).toEqual({ value: 1 });
    expect(await redis.get('hits:incr')).toBe('1');
  });

  it('http keys - an absolute-form request target reaches the same bytes', async () => {
    await redis.set(Buffer.from([0xff, 0x41]), 'abs');
    // inject() strips a URL to its path, so this one goes over a real socket.
    const c = await rawConnect(t.httpPort);
    c.write('GET http://localhost/kv/%FFA HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const answer = await c.until((b) => b.includes('\r\n\r\n') && /\r\n\r\n.+/s.test(b.toString()));
    c.close();
    expect(answer.toString()).toMatch(/^HTTP\/1\.1 200 .*\r\n\r\nabs$/s);
  });

  it('http keys - a missing key reads back in the encoding it was asked in', async () => {
    const res = await t.hs.http.inject({ method: 'GET', url: '/kv/%FFnone' });
    expect(res.statusCode).toBe(404);
    expect(res.json<{ error: { message: string } }>().error.message).toContain('%FFnone');
  });
});
