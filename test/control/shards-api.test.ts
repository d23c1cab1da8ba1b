/**
 * The shard and node routes of the control API on a started hotshard:
 * split and throttle change what the router does; the long operations
 * validate their input and refuse with 501 naming what is missing; every
 * state change needs the admin token and lands in the audit log with who,
 * when, what and why.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { shardId } from '../../src/keyspace/ids.js';
import { ShardStatus } from '../../src/keyspace/routing-table.js';
import { OK, ReplyError } from '../../src/protocol/reply.js';
import type { AuditEntry } from '../../src/control/audit.js';
import { send } from '../mitigate/test-remedy.js';

const ADMIN = 'shards-admin-token-0123456789';
const READ = 'shards-read-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN}` };

interface Row {
  shard_id: string;
  key_range: [string, string | null];
  node: string;
  status: string;
  throttle_ops_per_sec: number | null;
}

interface Body {
  error: { code: string; message: string };
  version: number;
  shards: Row[];
  shard: Row | string;
  limit: { opsPerSec: number; burst: number } | null;
  load: { windowSeconds: number; writes: number; opsPerSec: number } | null;
  throttle: { opsPerSec: number; throttled: number } | null;
  actions: unknown[];
  entries: AuditEntry[];
}

const running: Hotshard[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((hs) => hs.close()));
});

async function start(flags: Record<string, unknown> = {}): Promise<Hotshard> {
  const config = loadConfig({
    flags: {
      respPort: 0,
      httpPort: 0,
      logLevel: 'silent',
      nodes: 2,
      shards: 4,
      adminToken: ADMIN,
      readToken: READ,
      ...flags,
    },
  });
  const hs = await startHotshard(config, pino({ level: 'silent' }));
  running.push(hs);
  return hs;
}

async function call(
  hs: Hotshard,
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH',
  url: string,
  payload?: unknown,
  headers: Record<string, string> = admin,
): Promise<{ status: number; body: Body }> {
  const res = await hs.http.inject({
    method,
    url,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  return { status: res.statusCode, body: res.json<Body>() };
}

/** A key the table in force places on shard `id`. */
function keyIn(hs: Hotshard, id: string, from = 0): string {
  for (let i = from; ; i++) if (hs.router.table.shardFor(Buffer.from(`k${i}`)).id === id) return `k${i}`;
}

describe('shards api', () => {
  it('shards api - GET /shards/{id} shows the row, its load over the window and its throttle; 404 for an unknown shard', async () => {
    const hs = await start();
    for (let i = 0; i < 30; i++) await send(hs.router, 'SET', keyIn(hs, 's2', i), 'v');
    const one = await call(hs, 'GET', '/shards/s2?window=600', undefined, {
      authorization: `Bearer ${READ}`,
    });
    expect(one.status).toBe(200);
    expect(one.body.shard).toMatchObject({
      shard_id: 's2',
      node: 'n0',
      status: 'active',
      throttle_ops_per_sec: null,
    });
    expect(one.body.version).toBe(1);
    expect(one.body.load).toMatchObject({ windowSeconds: 600 });
    expect(one.body.throttle).toBeNull();
    expect(one.body.actions).toEqual([]);
    const missing = await call(hs, 'GET', '/shards/s99');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'HS_ERR_NOT_FOUND', message: "no shard 's99'" });
    expect((await call(hs, 'GET', '/shards/s2?window=0')).status).toBe(400);
    // The stats route is not taken for a shard id.
    expect((await call(hs, 'GET', '/shards/stats')).body).toHaveProperty('windowSeconds');
  });

  it('shards api - :split at the midpoint by default, or at a given position; both halves stay on the node; the keys stay readable', async () => {
    const hs = await start();
    const keys = Array.from({ length: 40 }, (_, i) => keyIn(hs, 's1', i));
    for (const k of keys) await send(hs.router, 'SET', k, k);
    const mid = await call(hs, 'POST', '/shards/s1:split', { reason: 'hot range' });
    expect(mid.status).toBe(200);
    expect(mid.body.version).toBe(2);
    expect(mid.body.shards).toEqual([
      expect.objectContaining({ shard_id: 's1', key_range: ['1073741824', '1610612736'], node: 'n1' }),
      expect.objectContaining({ shard_id: 's4', key_range: ['1610612736', '2147483648'], node: 'n1' }),
    ]);
    expect(hs.router.table.version).toBe(2);
    const at = await call(hs, 'POST', '/shards/s4:split', { at: 1700000000 });
    expect(at.body.shards?.map((s) => s.key_range)).toEqual([
      ['1610612736', '1700000000'],
      ['1700000000', '2147483648'],
    ]);
    const owners = new Set(keys.map((k) => hs.router.table.shardFor(Buffer.from(k)).id));
    expect(owners.size).toBeGreaterThan(1);
    for (const k of keys) expect(await send(hs.router, 'GET', k)).toEqual(Buffer.from(k));
    const published = hs.events.since(0).filter((e) => e.type === 'shard.split');
    expect(published.map((e) => e.data)).toEqual([
      expect.objectContaining({
        shard: 's1',
        newShard: 's4',
        at: '1610612736',
        version: 2,
        by: 'operator',
        reason: 'hot range',
      }),
      expect.objectContaining({ shard: 's4', newShard: 's5', at: '1700000000', version: 3, reason: null }),
    ]);
    // A percent-encoded colon is the same verb (find-my-way decodes before matching).
    expect((await call(hs, 'POST', '/shards/s2%3Asplit', {})).body.version).toBe(4);
    // A hex position, the partitioner's other spelling.
    expect((await call(hs, 'POST', '/shards/s0:split', { at: '0x10' })).body.shards?.[1]?.key_range[0]).toBe(
      '16',
    );
  });

  it('shards api - :split refuses a point outside the range or malformed (400), an unknown shard (404), a shard that is not active (409)', async () => {
    const hs = await start();
    const outside = await call(hs, 'POST', '/shards/s1:split', { at: '5' });
    expect(outside.status).toBe(400);
    expect(outside.body.error.message).toMatch(/not strictly inside shard s1's range/);
    const bad = await call(hs, 'POST', '/shards/s1:split', { at: 'nope' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^at: hash position "nope"/);
    const unknown = await call(hs, 'POST', '/shards/s1:split', { reason: 'x', extra: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/unknown field 'extra'/);
    expect((await call(hs, 'POST', '/shards/s9:split', {})).status).toBe(404);
    hs.router.setTable(hs.router.table.withStatus(shardId('s1'), ShardStatus.Moving));
    const moving = await call(hs, 'POST', '/shards/s1:split', {});
    expect(moving.status).toBe(409);
    expect(moving.body.error).toEqual({
      code: 'HS_ERR_NOT_ALLOWED',
      message: 'shard s1 is moving: only an active shard can be split',
    });
    expect(hs.router.table.shards).toHaveLength(4);
  });

  it('shards api - :throttle limits the shard over RESP with scope=shard, a split carries it to both halves, null lifts it', async () => {
    const hs = await start();
    const set = await call(hs, 'POST', '/shards/s3:throttle', { opsPerSec: 2, reason: 'runaway batch job' });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ shard: 's3', limit: { opsPerSec: 2, burst: 2 } });
    const k = keyIn(hs, 's3');
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await send(hs.router, 'SET', k, 'v'));
    const refused = replies[2] as ReplyError;
    expect(refused).toBeInstanceOf(ReplyError);
    expect(refused.message).toMatch(
      /^BUSY HS_ERR_THROTTLED retry-after-ms=\d+ scope=shard shard s3 is over its limit of 2 ops\/s/,
    );
    // Other shards of the node pass.
    expect(await send(hs.router, 'SET', keyIn(hs, 's1'), 'v')).toBe(OK);
    const row = (await call(hs, 'GET', '/shards')).body.shards.find((s) => s.shard_id === 's3');
    expect(row?.throttle_ops_per_sec).toBe(2);
    expect((await call(hs, 'GET', '/shards/s3')).body.throttle).toMatchObject({ opsPerSec: 2, throttled: 1 });

    const split = await call(hs, 'POST', '/shards/s3:split', {});
    expect(split.body.shards?.map((s) => s.throttle_ops_per_sec)).toEqual([2, 2]);
    const off = await call(hs, 'POST', '/shards/s3:throttle', { opsPerSec: null });
    expect(off.body).toEqual({ shard: 's3', limit: null });
    for (let i = 0; i < 5; i++) expect(await send(hs.router, 'SET', keyIn(hs, 's3'), 'v')).toBe(OK);

    for (const body of [{ opsPerSec: 0 }, { opsPerSec: -1 }, { opsPerSec: 'fast' }, {}]) {
      const r = await call(hs, 'POST', '/shards/s1:throttle', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('HS_ERR_BAD_REQUEST');
    }
  });

  it('shards api - every state change needs the admin token: 401 without, 403 with the read token, and changes nothing', async () => {
    const hs = await start();
    const routes: [string, string, unknown][] = [
      ['POST', '/shards/s1:split', {}],
      ['POST', '/shards/s1:move', { node: 'n0' }],
      ['POST', '/shards/s1:merge', {}],
      ['POST', '/shards/s1:throttle', { opsPerSec: 1 }],
      ['POST', '/nodes', { address: '127.0.0.1:7001' }],
      ['DELETE', '/nodes/n1', undefined],
      ['POST', '/actions/a-1:cancel', {}],
      ['PATCH', '/actions/a-1', { maxKeysPerSec: 10 }],
    ];
    for (const [method, url, payload] of routes) {
      const none = await call(hs, method as 'POST', url, payload, {});
      expect(none.status, `${method} ${url}`).toBe(401);
      const read = await call(hs, method as 'POST', url, payload, { authorization: `Bearer ${READ}` });
      expect(read.status, `${method} ${url}`).toBe(403);
      expect(read.body.error.message).toMatch(/read-only token cannot change state/);
    }
    expect(hs.router.table.version).toBe(1);
    expect(hs.router.admission.engaged).toBe(false);
    expect(hs.audit.size).toBe(0);
  });

  it('shards api - move, merge, nodes, drain, cancel and copy limits validate their input, then answer 501 naming the move engine', async () => {
    const hs = await start();
    const expect501 = async (
      method: 'POST' | 'DELETE' | 'PATCH',
      url: string,
      payload?: unknown,
    ): Promise<void> => {
      const r = await call(hs, method, url, payload);
      expect(r.status, `${method} ${url}`).toBe(501);
      expect(r.body.error.code).toBe('HS_ERR_NOT_ALLOWED');
      expect(r.body.error.message).toMatch(/move engine/);
    };
    await expect501('POST', '/shards/s1:move', { node: 'n0', reason: 'rebalance' });
    await expect501('POST', '/shards/s0:merge');
    await expect501('POST', '/nodes', { address: '10.0.0.7:6379' });
    await expect501('DELETE', '/nodes/n1?reason=decommission');
    await expect501('POST', '/actions/a-77:cancel', { reason: 'wrong target' });
    await expect501('PATCH', '/actions/a-77', { maxKeysPerSec: 50_000, maxBytesPerSec: null });

    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/shards/s1:move', {}, 400, /must have required property 'node'/],
      ['POST', '/shards/s9:move', { node: 'n0' }, 404, /no shard 's9'/],
      ['POST', '/shards/s1:move', { node: 'n7' }, 404, /no node 'n7'.*POST \/nodes/],
      ['POST', '/shards/s1:move', { node: 'n1' }, 409, /already on node n1/],
      ['POST', '/shards/s3:merge', {}, 409, /last range: it has no right-hand neighbour/],
      ['POST', '/nodes', { address: 'redis.local' }, 400, /host:port/],
      ['POST', '/nodes', { address: '10.0.0.7:70000' }, 400, /port from 1 to 65535/],
      [
        'POST',
        '/nodes',
        { address: 'n0:1', reason: '' },
        400,
        /reason must NOT have fewer than 1 characters/,
      ],
      ['DELETE', '/nodes/n5', undefined, 404, /no node 'n5'/],
      ['PATCH', '/actions/a-1', { maxKeysPerSec: 0 }, 400, /maxKeysPerSec must be > 0/],
      ['PATCH', '/actions/a-1', { reason: 'x' }, 400, /give maxKeysPerSec and\/or maxBytesPerSec/],
      ['POST', '/shards/s1:teleport', {}, 404, /no route/],
    ];
    for (const [method, url, payload, status, message] of cases) {
      const r = await call(hs, method as 'POST', url, payload);
      expect(r.status, `${method} ${url} ${JSON.stringify(payload)}`).toBe(status);
      expect(r.body.error.message).toMatch(message);
    }
    // A node id that is host:port reaches the route whole.
    const redisId = await call(hs, 'DELETE', '/nodes/127.0.0.1:6390');
    expect(redisId.body.error.message).toMatch(/no node '127.0.0.1:6390'/);
    expect(hs.audit.size).toBe(0);
  });

  it('shards api - :cancel of an executor action that already took effect is a 409 (only a pending one stops)', async () => {
    const hs = await start();
    hs.executor.setAutomation({ mode: 'auto', by: 'operator', reason: 'test' });
    const done = await hs.executor.execute({
      kind: 'shed',
      subject: { type: 'node', name: 'n0' },
      settings: { belowPriority: 1 },
      by: 'operator',
      reason: 'test',
    });
    const r = await call(hs, 'POST', `/actions/${done.id}:cancel`, { reason: 'too late' });
    expect(r.status).toBe(409);
    expect(r.body.error.message).toMatch(/only a pending action can be cancelled/);
  });
});
