/**
 * The mitigation API over HTTP, on a started hotshard: admin-token levels
 * (401 / 403 / 403 naming the flag), policies that change what the router does
 * for a key, the actions log with reasons, and the automation modes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { pino } from 'pino';
import type { ActionRecord } from '../../src/mitigate/action.js';
import { answeringRemedy } from '../mitigate/test-remedy.js';

/** The fields these tests read from the API's JSON answers. */
interface Body {
  error: { code: string; message: string };
  action: ActionRecord;
  actions: ActionRecord[];
  policies: unknown[];
  policy: { key: string };
  mode: string;
  changes: { mode: string }[];
}

const ADMIN = 'admin-token-0123456789';
const READ = 'read-token-0123456789';

const running: Hotshard[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((hs) => hs.close()));
});

async function start(flags: Record<string, unknown> = {}): Promise<Hotshard> {
  const config = loadConfig({ flags: { respPort: 0, httpPort: 0, logLevel: 'silent', nodes: 2, ...flags } });
  const hs = await startHotshard(config, pino({ level: 'silent' }), [
    answeringRemedy('cache'),
    answeringRemedy('throttle'),
  ]);
  running.push(hs);
  return hs;
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const cachePolicy = { cache: { maxStaleMs: 100 }, reason: 'celebrity launch' };

describe('mitigation api', () => {
  it('mitigation api - with no admin token configured, a state-changing route answers 403 naming --admin-token; reads stay open', async () => {
    const hs = await start();
    const put = await hs.http.inject({ method: 'PUT', url: '/policies/hot', payload: cachePolicy });
    expect(put.statusCode).toBe(403);
    expect(put.json<Body>().error).toMatchObject({ code: 'HS_ERR_NOT_ALLOWED' });
    expect(put.json<Body>().error.message).toMatch(/--admin-token/);
    const auto = await hs.http.inject({
      method: 'POST',
      url: '/automation',
      payload: { mode: 'frozen', reason: 'x' },
    });
    expect(auto.statusCode).toBe(403);
    expect((await hs.http.inject({ url: '/policies' })).statusCode).toBe(200);
    expect((await hs.http.inject({ url: '/automation' })).json<Body>()).toMatchObject({ mode: 'auto' });
  });

  it('mitigation api - admin routes: 401 with a challenge without credentials or with wrong ones, 403 with the read-only token, 200 with the admin token', async () => {
    const hs = await start({ adminToken: ADMIN, readToken: READ });
    const none = await hs.http.inject({ method: 'PUT', url: '/policies/hot', payload: cachePolicy });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBeDefined();
    expect(none.json<Body>().error.code).toBe('HS_ERR_NOAUTH');
    const wrong = await hs.http.inject({
      method: 'PUT',
      url: '/policies/hot',
      payload: cachePolicy,
      headers: bearer('not-the-token-at-all'),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json<Body>().error.code).toBe('HS_ERR_BAD_AUTH');
    const read = await hs.http.inject({
      method: 'PUT',
      url: '/policies/hot',
      payload: cachePolicy,
      headers: bearer(READ),
    });
    expect(read.statusCode).toBe(403);
    expect(read.json<Body>().error.message).toMatch(/read-only token/);
    const ok = await hs.http.inject({
      method: 'PUT',
      url: '/policies/hot',
      payload: cachePolicy,
      headers: bearer(ADMIN),
    });
    expect(ok.statusCode).toBe(200);
    expect(hs.policies.list()).toHaveLength(1);
  });

  it('mitigation api - with a client password, reads need it or either token; the tokens do not open data writes', async () => {
    const hs = await start({ adminToken: ADMIN, readToken: READ, password: 'client-pass' });
    expect((await hs.http.inject({ url: '/policies' })).statusCode).toBe(401);
    expect((await hs.http.inject({ url: '/policies', headers: bearer(READ) })).statusCode).toBe(200);
    expect((await hs.http.inject({ url: '/actions', headers: bearer(ADMIN) })).statusCode).toBe(200);
    expect((await hs.http.inject({ url: '/actions', headers: bearer('client-pass') })).statusCode).toBe(200);
    const write = await hs.http.inject({ method: 'PUT', url: '/kv/k', payload: 'v', headers: bearer(READ) });
    expect(write.statusCode).toBe(401);
    // The client password does not open an admin route.
    const put = await hs.http.inject({
      method: 'PUT',
      url: '/policies/hot',
      payload: cachePolicy,
      headers: bearer('client-pass'),
    });
    expect(put.statusCode).toBe(401);
  });

  it('mitigation api - PUT, GET and DELETE of a policy change what the router does for the key, each an action with its reason', async () => {
    const hs = await start({ adminToken: ADMIN });
    await hs.http.inject({ method: 'PUT', url: '/kv/hot', payload: 'plain' });
    const put = await hs.http.inject({
      method: 'PUT',
      url: '/policies/hot',
      payload: cachePolicy,
      headers: bearer(ADMIN),
    });
    expect(put.statusCode).toBe(200);
    expect(put.json<Body>()).toMatchObject({
      action: { id: 'a-1', kind: 'policy', state: 'done', by: 'operator', reason: 'celebrity launch' },
      policy: {
        key: 'hot',
        policy: { consistency: 'bounded', cache: { maxStaleMs: 100, staleWhileRevalidate: false } },
      },
    });
    expect((await hs.http.inject({ url: '/kv/hot' })).body).toBe(
      'cache:{"maxStaleMs":100,"staleWhileRevalidate":false,"writeThrough":true}',
    );
    const got = await hs.http.inject({ url: '/policies/hot' });
    expect(got.json<Body>()).toMatchObject({
      key: 'hot',
      actions: ['a-1'],
      status: { cache: { serving: 'hot' } },
    });
    expect((await hs.http.inject({ url: '/policies/cold' })).statusCode).toBe(404);

    const del = await hs.http.inject({
      method: 'DELETE',
      url: '/policies/hot?reason=launch%20over',
      headers: bearer(ADMIN),
    });
    expect(del.statusCode).toBe(200);
    expect((await hs.http.inject({ url: '/kv/hot' })).body).toBe('plain');
    expect((await hs.http.inject({ url: '/policies' })).json<Body>().policies).toEqual([]);
    const log = (await hs.http.inject({ url: '/actions' })).json<Body>().actions as {
      id: string;
      reason: string;
    }[];
    expect(log.map((a) => `${a.id} ${a.reason}`)).toEqual(['a-2 launch over', 'a-1 celebrity launch']);
    expect((await hs.http.inject({ url: '/actions/a-1' })).json<Body>().action.detail).toBe(
      'superseded by a-2',
    );
    const missing = await hs.http.inject({
      method: 'DELETE',
      url: '/policies/hot?reason=x',
      headers: bearer(ADMIN),
    });
    expect(missing.statusCode).toBe(404);
  });

  it('mitigation api - a key is percent-encoded bytes in the URL, as under /kv/', async () => {
    const hs = await start({ adminToken: ADMIN });
    const put = await hs.http.inject({
      method: 'PUT',
      url: '/policies/%FF%00k%2Fz',
      payload: cachePolicy,
      headers: bearer(ADMIN),
    });
    expect(put.statusCode).toBe(200);
    expect(hs.policies.get(Buffer.from([0xff, 0x00, 0x6b, 0x2f, 0x7a]))).toBeDefined();
    expect(put.json<Body>().policy.key).toBe('\\xff\\x00k/z');
    expect((await hs.http.inject({ url: '/kv/%FF%00k%2Fz' })).body).toMatch(/^cache:/);
    expect((await hs.http.inject({ url: '/policies/%zz' })).statusCode).toBe(400);
  });

  it('mitigation api - a bad body is a 400 naming the field; an unavailable remedy or an empty policy too', async () => {
    const hs = await start({ adminToken: ADMIN });
    const put = (payload: unknown) =>
      hs.http.inject({
        method: 'PUT',
        url: '/policies/k',
        payload: payload as object,
        headers: bearer(ADMIN),
      });
    const unknown = await put({ ...cachePolicy, cahce: {} });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json<Body>().error).toEqual({
      code: 'HS_ERR_BAD_REQUEST',
      message:
        "body: unknown field 'cahce' (known: reason, consistency, throttle, aggregate, salt, replicas, cache, coalesce)",
    });
    const noReason = await put({ cache: {} });
    expect(noReason.json<Body>().error.message).toMatch(/reason/);
    const negative = await put({ ...cachePolicy, cache: { maxStaleMs: -5 } });
    expect(negative.json<Body>().error.message).toMatch(/body\.cache\.maxStaleMs must be >= 0/);
    const consistency = await put({ ...cachePolicy, consistency: 'eventual' });
    expect(consistency.json<Body>().error.message).toMatch(/consistency must be one of "bounded", "strong"/);
    const salt = await put({ salt: { buckets: 4 }, reason: 'x' });
    expect(salt.statusCode).toBe(400);
    expect(salt.json<Body>().error.message).toMatch(
      /'salt' is not available here \(available: throttle, cache\)/,
    );
    const empty = await put({ reason: 'x' });
    expect(empty.json<Body>().error.message).toMatch(/names no remedy/);
    expect(hs.executor.list()).toEqual([]);
  });

  it('mitigation api - POST /actions/{id}:revert takes an action back with the reason; a second revert is a 409', async () => {
    const hs = await start({ adminToken: ADMIN });
    const a = await hs.executor.execute({
      kind: 'throttle-key',
      subject: { type: 'key', name: 'w' },
      settings: { opsPerSec: 10 },
      by: 'planner',
      reason: 'write-hot',
    });
    expect((await hs.http.inject({ url: '/kv/w' })).body).toBe('throttle:{"opsPerSec":10,"burst":10}');
    const revert = () =>
      hs.http.inject({
        method: 'POST',
        url: `/actions/${a.id}:revert`,
        payload: { reason: 'false alarm' },
        headers: bearer(ADMIN),
      });
    const first = await revert();
    expect(first.statusCode).toBe(200);
    expect(first.json<Body>().action).toMatchObject({
      state: 'rolled-back',
      detail: 'reverted by operator: false alarm',
    });
    expect((await hs.http.inject({ url: '/kv/w' })).statusCode).toBe(404);
    const second = await revert();
    expect(second.statusCode).toBe(409);
    const none = await hs.http.inject({
      method: 'POST',
      url: '/actions/a-99:revert',
      payload: { reason: 'x' },
      headers: bearer(ADMIN),
    });
    expect(none.statusCode).toBe(404);
    const filtered = await hs.http.inject({ url: '/actions?state=rolled-back&kind=throttle-key&limit=5' });
    expect(filtered.json<Body>().actions.map((r) => r.id)).toEqual([a.id]);
    expect((await hs.http.inject({ url: '/actions?state=nope' })).statusCode).toBe(400);
  });

  it('mitigation api - automation modes: dry-run records the planner as recommended, frozen refuses operators with a clear 409', async () => {
    const hs = await start({ adminToken: ADMIN, automation: 'dry-run' });
    expect((await hs.http.inject({ url: '/automation' })).json<Body>().mode).toBe('dry-run');
    const rec = await hs.executor.execute({
      kind: 'cache',
      subject: { type: 'key', name: 'r' },
      settings: {},
      by: 'planner',
      reason: 'read-hot',
    });
    expect(rec.outcome).toBe('recommended');
    expect(hs.policies.list()).toEqual([]);
    const freeze = await hs.http.inject({
      method: 'POST',
      url: '/automation',
      payload: { mode: 'frozen', reason: 'change freeze', doNotTouch: ['session:*'] },
      headers: bearer(ADMIN),
    });
    expect(freeze.statusCode).toBe(200);
    expect(freeze.json<Body>()).toMatchObject({ mode: 'frozen', doNotTouch: ['session:*'] });
    const put = await hs.http.inject({
      method: 'PUT',
      url: '/policies/k',
      payload: cachePolicy,
      headers: bearer(ADMIN),
    });
    expect(put.statusCode).toBe(409);
    expect(put.json<Body>().error.message).toMatch(/frozen/);
    const state = (await hs.http.inject({ url: '/automation' })).json<Body>();
    expect(state.changes[0]).toMatchObject({ mode: 'frozen', by: 'operator', reason: 'change freeze' });
    const bad = await hs.http.inject({
      method: 'POST',
      url: '/automation',
      payload: { mode: 'yolo', reason: 'x' },
      headers: bearer(ADMIN),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<Body>().error.message).toMatch(/"auto", "dry-run", "manual", "frozen"/);
  });

  it('mitigation api - a key policy that throws is counted as a policy control error; close removes every policy before the backends go', async () => {
    const closed: string[] = [];
    const config = loadConfig({
      flags: { respPort: 0, httpPort: 0, logLevel: 'silent', nodes: 2, adminToken: ADMIN },
    });
    const hs = await startHotshard(config, pino({ level: 'silent' }), [
      answeringRemedy('cache', closed),
      {
        name: 'throttle',
        build: (_policy, key, next) => ({
          run(req, done) {
            if (req.spec.name === 'get') throw new Error('broken stage');
            next.run(req, done);
          },
          status: () => ({}),
          close: () => {
            closed.push(`throttle ${key.toString()}`);
            return Promise.resolve();
          },
        }),
      },
    ]);
    const put = (key: string, payload: object) =>
      hs.http.inject({ method: 'PUT', url: `/policies/${key}`, payload, headers: bearer(ADMIN) });
    expect((await put('a', cachePolicy)).statusCode).toBe(200);
    expect((await put('b', { throttle: { opsPerSec: 1, burst: 1 }, reason: 'x' })).statusCode).toBe(200);
    const failed = await hs.http.inject({ url: '/kv/b' });
    expect(failed.statusCode).toBe(500);
    const metrics = (await hs.http.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/hotshard_control_errors_total\{where="policy"\} 1/);
    await hs.close();
    expect(closed.sort()).toEqual(['a', 'throttle b']);
    expect(hs.policies.list()).toEqual([]);
  });
});
