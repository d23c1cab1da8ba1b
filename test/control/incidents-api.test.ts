/**
 * Who may read incidents: the access level `read` (http-auth.ts) against
 * the configurations an operator may run, and /status open in all of them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

const READ = 'read-token-0123456789a';
const PASSWORD = 'sesame';
const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

let t: TestHotshard | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const status = async (url: string, headers: Record<string, string> = {}): Promise<number> =>
  (await t!.hs.http.inject({ method: 'GET', url, headers })).statusCode;

describe('incidents api - access', () => {
  it('incidents api - no password and no token: open like any read', async () => {
    t = await startTestHotshard({ backend: 'memory' });
    expect(await status('/incidents')).toBe(200);
    expect(await status('/incidents/inc-1')).toBe(404);
    expect(await status('/status')).toBe(200);
  });

  it('incidents api - a password and no token: the client credentials, as for other reads', async () => {
    t = await startTestHotshard({ backend: 'memory', password: PASSWORD });
    expect(await status('/incidents')).toBe(401);
    expect(await status('/incidents', bearer(PASSWORD))).toBe(200);
    expect(await status('/status')).toBe(200);
  });

  it('incidents api - a token configured: only a token opens them, the client password does not', async () => {
    t = await startTestHotshard({ backend: 'memory', password: PASSWORD, readToken: READ });
    expect(await status('/incidents', bearer(PASSWORD))).toBe(401);
    expect(await status('/incidents', bearer(READ))).toBe(200);
    expect(await status('/status')).toBe(200);
    const body = (await t.hs.http.inject({ method: 'GET', url: '/status' })).json<unknown>();
    expect(body).toEqual({ status: 'operational', incidents: [] });
  });
});
