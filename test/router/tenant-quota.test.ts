/**
 * Tenant quotas from config, end to end: a whole hotshard over RESP and HTTP
 * with two declared tenants, one with a quota. The flooding tenant gets
 * explicit HS_ERR_THROTTLED scope=tenant errors with a retry-after (RESP) or
 * 429 with Retry-After and retryAfterMs (HTTP), at once and never a timeout;
 * the other tenant is served in full. The quota's rate is one request per
 * 100 s, so exactly its burst passes however slow the machine is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { exchange } from './differential.js';

const OK = { simple: 'OK' };
const BURST = 5;
const THROTTLED =
  /^BUSY HS_ERR_THROTTLED retry-after-ms=(\d+) scope=tenant tenant flood is over its quota of 0\.01 ops\/s \(burst 5\)$/;

/** The retry-after of a throttled reply, or undefined for any other reply. */
function retryAfter(reply: unknown): number | undefined {
  if (typeof reply !== 'object' || reply === null || !('error' in reply)) return undefined;
  const m = THROTTLED.exec(String(reply.error));
  return m === null ? undefined : Number(m[1]);
}

describe('tenant quota over RESP and HTTP', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({
      backend: 'memory',
      password: 'shared',
      tenant: {
        keyPrefix: true,
        declared: [
          { name: 'flood', password: 'flood-pw', quota: { opsPerSec: 0.01, burst: BURST } },
          { name: 'calm', password: 'calm-pw' },
        ],
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('tenant quota - the flooding tenant gets throttled with a retry-after; the other tenant, side by side, is served in full', async () => {
    const N = 60;
    const [flood, calm] = await Promise.all([
      exchange(t.port, [
        ['AUTH', 'flood', 'flood-pw'],
        ...Array.from({ length: N }, (_, i) => ['SET', `f${i}`, 'v']),
      ]),
      exchange(t.port, [
        ['AUTH', 'calm', 'calm-pw'],
        ...Array.from({ length: N }, (_, i) => ['SET', `c${i}`, 'v']),
      ]),
    ]);
    expect(flood[0]).toEqual(OK);
    expect(flood.slice(1, 1 + BURST)).toEqual(Array(BURST).fill(OK));
    const refused = flood.slice(1 + BURST);
    for (const reply of refused) {
      const ms = retryAfter(reply);
      expect(ms, JSON.stringify(reply)).toBeDefined();
      // At most the time to one token: 100 s.
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(100_000);
    }
    expect(calm).toEqual(Array(N + 1).fill(OK));
    // The throttled writes never reached a node.
    expect(
      await exchange(t.port, [
        ['AUTH', 'calm', 'calm-pw'],
        ['EXISTS', ...Array.from({ length: N }, (_, i) => `f${i}`)],
      ]),
    ).toEqual([OK, BURST]);
    const status = t.hs.router.admission.status().tenants;
    expect(status).toEqual([
      expect.objectContaining({ tenant: 'flood', admitted: BURST, throttled: N - BURST }),
    ]);
  });

  it("tenant quota - with tenant.keyPrefix, a session that named no tenant counts against its key prefix's quota", async () => {
    const replies = await exchange(t.port, [
      ['AUTH', 'shared'],
      ['SET', 'flood:k', 'v'],
      ['SET', 'calm:k', 'v'],
      ['SET', 'nobody:k', 'v'],
      ['MGET', 'flood:k', 'calm:k'],
    ]);
    expect(replies[0]).toEqual(OK);
    expect(retryAfter(replies[1])).toBeGreaterThan(0);
    expect(replies.slice(2, 4)).toEqual([OK, OK]);
    expect(retryAfter(replies[4])).toBeGreaterThan(0);
  });

  it('tenant quota - over HTTP the flooding tenant gets 429 with Retry-After and retryAfterMs', async () => {
    const res = await t.hs.http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'v',
      headers: { authorization: 'Bearer flood-pw', 'x-tenant': 'flood' },
    });
    expect(res.statusCode).toBe(429);
    const body = res.json<{
      error: { code: string; retryAfterMs: number; scope: string; message: string };
    }>();
    expect(body.error).toMatchObject({ code: 'HS_ERR_THROTTLED', scope: 'tenant' });
    expect(body.error.retryAfterMs).toBeGreaterThan(0);
    expect(body.error.retryAfterMs).toBeLessThanOrEqual(100_000);
    expect(Number(res.headers['retry-after'])).toBe(Math.max(1, Math.ceil(body.error.retryAfterMs / 1000)));
    const calm = await t.hs.http.inject({
      method: 'PUT',
      url: '/kv/k',
      payload: 'v',
      headers: { authorization: 'Bearer calm-pw', 'x-tenant': 'calm' },
    });
    expect(calm.statusCode).toBe(200);
  });
});
