/** With `telemetry: false` the control routes do not exist and the proxy serves as before. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../src/load/generator.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import type { ErrorBody } from './harness.js';

describe('telemetry off', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory', telemetry: false });
  });
  afterAll(async () => t?.stop());

  it('telemetry off - the control routes and /metrics are 404 with a JSON error', async () => {
    expect(t.hs.telemetry).toBeUndefined();
    expect(t.hs.monitor).toBeUndefined();
    for (const url of ['/hotspots', '/hotkeys?limit=5', '/shards/stats', '/skew', '/events', '/metrics']) {
      const res = await t.hs.http.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json<ErrorBody>().error.code, url).toBe('HS_ERR_NOT_FOUND');
    }
  });

  it('telemetry off - the proxy still serves RESP load and the HTTP data API', async () => {
    const report = await runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: t.port, connections: 2 },
      workload: { keys: 100, ops: { get: 50, set: 50 } },
      rate: 2000,
      durationMs: 300,
    });
    expect(report.ok).toBeGreaterThan(500);
    expect(report.errors).toBe(0);
    const put = await t.hs.http.inject({ method: 'PUT', url: '/kv/off', payload: 'still here' });
    expect(put.statusCode).toBe(200);
    expect((await t.hs.http.inject({ method: 'GET', url: '/kv/off' })).body).toBe('still here');
    expect((await t.hs.http.inject({ method: 'GET', url: '/shards' })).statusCode).toBe(200);
  });
});
