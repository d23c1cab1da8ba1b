/**
 * Bad input - a tenant flood: thousands of tenant names minted over RESP
 * AUTH, the HTTP tenant header and key prefixes keep telemetry's tenant
 * table and the heap bounded, and a bystander is served throughout.
 * (Each tenant used to cost ≈ 400 KB of counters, forever.)
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { rawConnect } from './raw-client.js';

const NAMES = 1500; // per source: 4,500 in all (≈ 1.8 GB of counters before the bound)
const MAX_TRACKED = 16;

function resp(...args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

const heap = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

describe('bad input - tenant flood', () => {
  let t: TestHotshard;
  let bystander: Redis;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      password: 'pw',
      tenant: { keyPrefix: true, maxTracked: MAX_TRACKED },
    });
    bystander = new Redis({ port: t.port, host: '127.0.0.1', password: 'pw', maxRetriesPerRequest: 0 });
  });
  afterAll(async () => {
    bystander?.disconnect();
    await t?.stop();
  });

  const tenantTable = (): number => t.hs.telemetry!.window('tenant', 1).size;

  it('bad input - thousands of tenant names over AUTH, X-Tenant and key prefixes keep the tenant table and heap bounded', async () => {
    const before = heap();
    // RESP: one connection re-authenticating under a new username before each GET.
    const c = await rawConnect(t.port);
    let out = '';
    for (let i = 0; i < NAMES; i++) out += resp('AUTH', `auth${i}`, 'pw') + resp('GET', 'k');
    c.write(out);
    await c.until((b) => b.toString('latin1').split('$-1\r\n').length - 1 === NAMES, 30_000);
    expect(c.received().toString('latin1')).not.toMatch(/(^|\r\n)-/);
    c.close();
    // Key prefixes: a session that named no tenant, one prefix per key.
    const p = await rawConnect(t.port);
    out = resp('AUTH', 'pw');
    for (let i = 0; i < NAMES; i++) out += resp('GET', `prefix${i}:k`);
    p.write(out);
    await p.until((b) => b.toString('latin1').split('$-1\r\n').length - 1 === NAMES, 30_000);
    p.close();
    // HTTP: a new tenant header on every request.
    for (let i = 0; i < NAMES; i++) {
      const res = await t.hs.http.inject({
        method: 'PUT',
        url: '/kv/k',
        payload: 'v',
        headers: { 'x-tenant': `http${i}`, authorization: 'Bearer pw' },
      });
      expect(res.statusCode).toBe(200);
    }
    // Bystander served during and after the flood.
    await bystander.set('bystander', 'ok');
    expect(await bystander.get('bystander')).toBe('ok');

    // MAX_TRACKED by name, `default`, and `other` holding the rest.
    expect(tenantTable()).toBeLessThanOrEqual(MAX_TRACKED + 2);
    expect(t.hs.telemetry!.counters('tenant').names.length).toBeLessThanOrEqual(MAX_TRACKED + 2);
    // 4,500 tenants at ≈ 400 KB each would be 1.8 GB; the bounded table is ≈ 7 MB.
    expect(heap() - before).toBeLessThan(200 * 1024 * 1024);
  });

  it('bad input - after the flood every request is still counted: named tenants plus other add up', () => {
    const telemetry = t.hs.telemetry!;
    const w = telemetry.window('tenant', 600, true);
    let total = 0;
    for (const e of w.values()) total += e.requests;
    // GETs over RESP and PUTs over HTTP (3 × NAMES), the bystander's SET and GET.
    expect(total).toBe(3 * NAMES + 2);
    expect(w.get('other')?.requests).toBeGreaterThan(0);
  });

  it('bad input - after the flood /metrics exports at most 20 tenants by name and one "other"', async () => {
    const res = await t.hs.http.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: 'Bearer pw' },
    });
    expect(res.statusCode).toBe(200);
    const series = res.body.split('\n').filter((l) => l.startsWith('hotshard_tenant_ops_per_second{'));
    expect(series.length).toBeGreaterThan(1);
    expect(series.length).toBeLessThanOrEqual(21);
    expect(series.filter((l) => l.includes('tenant="other"'))).toHaveLength(1);
  });
});
