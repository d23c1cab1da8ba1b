/**
 * The long operations of the control API end to end, on real redis-server
 * nodes: POST /shards/{id}:move answers 202 with an action that GET
 * /actions/{id} follows to `done` with progress; PATCH /actions/{id} changes
 * its copy throttle while it runs; :cancel puts the old state back exactly;
 * POST /nodes adds a node, DELETE /nodes/{id} drains one; :merge joins two
 * ranges; the CLI's `shards move` shows progress to the end; every step is
 * audited. Written against the API contract (operations.ts); the move engine
 * and router.addBackend plug in behind it.
 */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/control/audit.js';
import type { OperationAction } from '../../src/control/operations.js';
import { shardId } from '../../src/keyspace/ids.js';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply } from '../../src/protocol/reply.js';
import { send } from '../mitigate/test-remedy.js';
import { waitFor } from './harness.js';

const ADMIN = 'moves-admin-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN}` };
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

interface Answer {
  action: OperationAction;
  error: { code: string; message: string };
  nodes: { id: string; shards: number }[];
  entries: AuditEntry[];
  node: string;
  version: number;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function cluster(nodes = 2): Promise<TestHotshard> {
  const t = await startTestHotshard({ backend: 'redis', redisNodes: nodes, shards: 4, adminToken: ADMIN });
  cleanup.push(() => t.stop());
  return t;
}

async function call(
  t: TestHotshard,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  url: string,
  payload?: object,
) {
  const res = await t.hs.http.inject({
    method,
    url,
    headers: admin,
    ...(payload === undefined ? {} : { payload }),
  });
  return { status: res.statusCode, body: res.json<Answer>() };
}

/** A key's value read through the router, as text (a Redis node's reply comes raw). */
async function get(t: TestHotshard, key: string): Promise<string | null> {
  const reply = await send(t.hs.router, 'GET', key);
  const value = reply instanceof RawReply ? decodeReply(reply.bytes) : reply;
  return Buffer.isBuffer(value) ? value.toString() : null;
}

/** Polls the action until it ends. */
function settled(t: TestHotshard, id: string, timeoutMs = 60_000): Promise<OperationAction> {
  return waitFor(
    `action ${id} to end`,
    async () => {
      const { body } = await call(t, 'GET', `/actions/${id}`);
      return ['done', 'failed', 'cancelled', 'rolled-back'].includes(body.action.state)
        ? body.action
        : undefined;
    },
    timeoutMs,
  );
}

/** Keys of shard `id` written through the router, each `key -> key`. */
async function fill(t: TestHotshard, id: string, n: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) {
    const k = `mv${i}`;
    if (t.hs.router.table.shardFor(Buffer.from(k)).id !== id) continue;
    await send(t.hs.router, 'SET', k, k);
    keys.push(k);
  }
  return keys;
}

function direct(r: RedisProcess): Redis {
  const c = new Redis({ host: r.host, port: r.port, lazyConnect: false });
  cleanup.push(() => Promise.resolve(c.disconnect()));
  return c;
}

describe('shard moves api', () => {
  it('shard moves api - :move answers 202 with an action that ends done; the keys are on the target and readable; audited', async () => {
    const t = await cluster();
    const keys = await fill(t, 's0', 2000);
    const source = t.hs.router.table.shard(shardId('s0'))!.node;
    const target = source === t.redis[0]!.address ? t.redis[1]! : t.redis[0]!;
    const started = await call(t, 'POST', '/shards/s0:move', { node: target.address, reason: 'rebalance' });
    expect(started.status).toBe(202);
    expect(started.body.action).toMatchObject({ kind: 'move', subject: { type: 'shard', name: 's0' } });
    expect(['pending', 'running']).toContain(started.body.action.state);
    const end = await settled(t, started.body.action.id);
    expect(end.state).toBe('done');
    expect(end.progress?.keysCopied).toBeGreaterThanOrEqual(2000);
    expect(t.hs.router.table.shard(shardId('s0'))!.node).toBe(target.address);
    expect(await direct(target).dbsize()).toBeGreaterThanOrEqual(2000);
    for (const k of keys.slice(0, 50)) expect(await get(t, k)).toBe(k);
    const audit = (await call(t, 'GET', '/audit')).body.entries;
    expect(audit[0]).toMatchObject({
      who: 'operator',
      verb: 'shard.move',
      target: 'shard:s0',
      reason: 'rebalance',
    });
    const listed = await t.hs.http.inject({ url: '/actions?kind=move', headers: admin });
    expect(listed.json<{ actions: OperationAction[] }>().actions.map((a) => a.id)).toContain(end.id);
  }, 120_000);

  it('shard moves api - PATCH /actions/{id} changes a running move’s copy limits; :cancel restores the old state exactly', async () => {
    const t = await cluster();
    await fill(t, 's1', 20_000);
    const before = t.hs.router.table;
    const source = before.shard(shardId('s1'))!.node;
    const target = source === t.redis[0]!.address ? t.redis[1]! : t.redis[0]!;
    const targetBefore = await direct(target).dbsize();
    const started = await call(t, 'POST', '/shards/s1:move', { node: target.address });
    const id = started.body.action.id;
    const limited = await call(t, 'PATCH', `/actions/${id}`, { maxKeysPerSec: 500, reason: 'peak hours' });
    expect(limited.status).toBe(200);
    expect(limited.body.action.limits).toMatchObject({ maxKeysPerSec: 500 });
    const cancelled = await call(t, 'POST', `/actions/${id}:cancel`, { reason: 'wrong target' });
    expect(cancelled.status).toBe(200);
    const end = await settled(t, id);
    expect(['cancelled', 'rolled-back']).toContain(end.state);
    expect(t.hs.router.table.shard(shardId('s1'))).toEqual(before.shard(shardId('s1')));
    expect(await direct(target).dbsize()).toBe(targetBefore);
    const verbs = (await call(t, 'GET', '/audit')).body.entries.map((e) => e.verb);
    expect(verbs.slice(0, 3)).toEqual(['action.cancel', 'action.limits', 'shard.move']);
    const again = await call(t, 'PATCH', `/actions/${id}`, { maxKeysPerSec: 1000 });
    expect(again.status).toBe(409);
  }, 120_000);

  it('shard moves api - POST /nodes adds a Redis node; DELETE /nodes/{id} drains it back off; GET /nodes follows', async () => {
    const t = await cluster();
    const extra = await startRedis();
    cleanup.push(() => extra.stop());
    const added = await call(t, 'POST', '/nodes', { address: extra.address, reason: 'capacity' });
    expect(added.status).toBe(201);
    expect(added.body.node).toBe(extra.address);
    expect((await call(t, 'POST', '/nodes', { address: extra.address })).status).toBe(409);
    const moved = await call(t, 'POST', '/shards/s2:move', { node: extra.address });
    expect((await settled(t, moved.body.action.id)).state).toBe('done');
    let nodes = (await call(t, 'GET', '/nodes')).body.nodes;
    expect(nodes.find((n) => n.id === extra.address)?.shards).toBe(1);
    // Recorded in the config store (a restart connects it again) until it is drained.
    expect(await t.hs.store.store.nodes.get(extra.address)).toMatchObject({ status: 'added' });
    const drain = await call(t, 'DELETE', `/nodes/${extra.address}?reason=decommission`);
    expect(drain.status).toBe(202);
    expect((await settled(t, drain.body.action.id)).state).toBe('done');
    nodes = (await call(t, 'GET', '/nodes')).body.nodes;
    expect(nodes.map((n) => n.id)).not.toContain(extra.address);
    expect(await t.hs.store.store.nodes.get(extra.address)).toBeUndefined();
    expect((await t.hs.store.store.routing.latest())?.version).toBe(t.hs.router.table.version);
  }, 120_000);

  it('shard moves api - :merge joins a shard with its right-hand neighbour, across nodes through a move', async () => {
    const t = await cluster();
    const keys = await fill(t, 's1', 500);
    const merged = await call(t, 'POST', '/shards/s0:merge', { reason: 'cold' });
    expect([200, 202]).toContain(merged.status);
    if (merged.status === 202) expect((await settled(t, merged.body.action.id)).state).toBe('done');
    expect(t.hs.router.table.shard(shardId('s1'))).toBeUndefined();
    for (const k of keys.slice(0, 50)) expect(await get(t, k)).toBe(k);
  }, 120_000);

  it('shard moves api - the CLI follows a move with a progress line to the end and exits 0', async () => {
    const t = await cluster();
    await fill(t, 's3', 5000);
    const source = t.hs.router.table.shard(shardId('s3'))!.node;
    const target = source === t.redis[0]!.address ? t.redis[1]! : t.redis[0]!;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        'shards',
        'move',
        's3',
        target.address,
        '--poll-ms',
        '50',
        '--url',
        `http://127.0.0.1:${t.httpPort}`,
        '--token',
        ADMIN,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, err).toBe(0);
    expect(err).toMatch(/a-\d+ \[#+\] 100 % {2}done/);
    expect(out).toMatch(/a-\d+ done/);
  }, 120_000);
});
