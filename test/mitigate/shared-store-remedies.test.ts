/**
 * On a shared config store, the remedies only the router holding a policy
 * applies (replicas, salting) are not offered: the other routers would not
 * follow the policy live. PUT /policies says why; the embedded store offers
 * them.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { createTestDatabase, postgresForTests, type TestDatabase } from '../store/pg-database.js';

const TOKEN = 'b'.repeat(32);
let hasPostgres = false;
beforeAll(async () => {
  hasPostgres = await postgresForTests('shared-store remedy tests');
});

let t: TestHotshard | undefined;
let db: TestDatabase | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
  await db?.drop();
  db = undefined;
});

async function remediesAndReplicas(
  store?: string,
): Promise<{ remedies: string[]; status: number; body: string }> {
  t = await startTestHotshard({
    backend: 'memory',
    adminToken: TOKEN,
    ...(store === undefined ? {} : { store }),
  });
  const base = `http://127.0.0.1:${t.httpPort}`;
  const { remedies } = (await (await fetch(`${base}/policies`)).json()) as { remedies: string[] };
  const res = await fetch(`${base}/policies/acct%3A1`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ consistency: 'strong', replicas: { count: 2 }, reason: 'test' }),
  });
  return { remedies, status: res.status, body: await res.text() };
}

describe('remedies on a shared store', () => {
  it('shared store - replicas and salting are not offered, and PUT /policies says why; the embedded store offers them', async (ctx) => {
    const own = await remediesAndReplicas();
    expect(own.remedies).toEqual(expect.arrayContaining(['replicas', 'salt']));
    expect(own.status).toBe(200);
    await t!.stop();
    t = undefined;
    if (!hasPostgres) return ctx.skip();
    db = await createTestDatabase('hs_remedies');
    const shared = await remediesAndReplicas(db.url);
    expect(shared.remedies).not.toContain('replicas');
    expect(shared.remedies).not.toContain('salt');
    expect(shared.remedies).toEqual(expect.arrayContaining(['cache', 'throttle', 'aggregate']));
    expect(shared.status).toBe(400);
    expect(shared.body).toMatch(
      /remedy 'replicas' is not available here .*on a shared store the other routers do not follow/,
    );
  });
});
