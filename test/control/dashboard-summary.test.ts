/**
 * GET /dashboard/summary on a real in-process hotshard over embedded nodes:
 * the hot key tops the keys with its policy, its shard and node top theirs,
 * the skew gauges carry their thresholds, a throttled move shows with its
 * progress and throttle, and the route needs a token when tokens are set.
 * Load goes through the router; assertions wait for outcomes, never time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DashboardSummary } from '../../src/control/dashboard-summary.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { send } from '../mitigate/test-remedy.js';
import { openEvents, sleep, waitFor } from './harness.js';

const ADMIN = 'summary-admin-token-0123456789';
const READ = 'summary-read-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN}` };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function cluster(): Promise<TestHotshard> {
  const t = await startTestHotshard({
    backend: 'memory',
    nodes: 2,
    shards: 4,
    capacity: 100_000,
    adminToken: ADMIN,
    readToken: READ,
    // The operator acts here; the planner must not cache the hot key first.
    automation: 'manual',
  });
  cleanup.push(() => t.stop());
  return t;
}

async function summary(t: TestHotshard): Promise<DashboardSummary> {
  const res = await t.hs.http.inject({ method: 'GET', url: '/dashboard/summary', headers: admin });
  expect(res.statusCode).toBe(200);
  return res.json<DashboardSummary>();
}

/** Sends a hot key and a spread of others until stopped. */
function load(t: TestHotshard): () => Promise<void> {
  let on = true;
  const run = (async () => {
    let i = 0;
    while (on) {
      const batch: Promise<unknown>[] = [];
      for (let k = 0; k < 30; k++) batch.push(send(t.hs.router, 'GET', 'hot'));
      for (let k = 0; k < 10; k++) batch.push(send(t.hs.router, 'SET', `cold:${i++ % 1000}`, 'v'));
      await Promise.all(batch);
      await sleep(10);
    }
  })();
  return async () => {
    on = false;
    await run;
  };
}

describe('dashboard summary', () => {
  it('dashboard summary - the hot key tops the keys with its policy; its shard and node top theirs; skew gauges carry thresholds', async () => {
    const t = await cluster();
    const stop = load(t);
    cleanup.push(stop);
    const hot = t.hs.router.table.shardFor(Buffer.from('hot'));
    const s = await waitFor(
      'the hot key at the top',
      async () => {
        const s = await summary(t);
        return s.topKeys[0]?.key === 'hot' && s.topShards[0]?.id === hot.id ? s : undefined;
      },
      20_000,
    );
    expect(s.automation).toEqual({ mode: 'manual' });
    expect(s.topKeys[0]).toMatchObject({ key: 'hot', writes: 0, policy: null });
    expect(s.topKeys[0]!.reads).toBeGreaterThan(0);
    expect(s.topKeys[0]!.share).toBeGreaterThan(0.4);
    expect(s.topShards[0]).toMatchObject({ id: hot.id, node: hot.node });
    expect(s.topShards[0]!.utilization).toBeCloseTo(s.topShards[0]!.qps / 100_000, 6);
    expect(s.topNodes[0]).toMatchObject({ id: hot.node, status: 'up' });
    expect(s.topNodes.map((n) => n.id).sort()).toEqual(['n0', 'n1']);
    expect(s.topTenants).toEqual([
      { tenant: 'default', qps: s.topTenants[0]!.qps, share: 1, throttled: false },
    ]);
    expect(s.skew.map((g) => [g.name, g.threshold])).toEqual([
      ['max/median', 10],
      ['p95/p50', 2],
      ['gini', 0.8],
      ['cv', 0.5],
    ]);
    for (const g of s.skew) expect(g.over).toBe(g.value >= g.threshold);
    expect(s.moves).toEqual([]);

    const put = await t.hs.http.inject({
      method: 'PUT',
      url: '/policies/hot',
      headers: admin,
      payload: { cache: { maxStaleMs: 100 }, reason: 'test' },
    });
    expect(put.statusCode).toBe(200);
    const after = await summary(t);
    expect(after.topKeys.find((k) => k.key === 'hot')?.policy).toBe('cache');
  });

  it('dashboard summary - a move under way shows its shard, source, target, progress and throttle', async () => {
    const t = await cluster();
    const shard = t.hs.router.table.shards[0]!;
    const target = shard.node === 'n0' ? 'n1' : 'n0';
    // Enough keys on the shard that a throttled copy takes a while.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; writes.length < 4000; i++) {
      const key = `m:${i}`;
      if (t.hs.router.table.shardFor(Buffer.from(key)).id === shard.id)
        writes.push(send(t.hs.router, 'SET', key, 'v'));
    }
    await Promise.all(writes);
    // Started with its throttle, as the range planner starts moves: a copy this small finishes too fast to catch otherwise.
    const started = t.hs.executor.start({
      kind: 'move',
      subject: { type: 'shard', name: shard.id },
      settings: { node: target, limits: { maxKeysPerSec: 200 } },
      by: 'operator',
      reason: 'test',
    });
    void started.settled.catch(() => {});
    const id = started.record.id;
    const row = await waitFor('the move in the summary with its throttle', async () => {
      const m = (await summary(t)).moves[0];
      return m?.maxKeysPerSec === 200 && m.keysCopied > 0 ? m : undefined;
    });
    expect(row).toMatchObject({ action: id, shard: shard.id, source: shard.node, target });
    expect(typeof row.phase).toBe('string');
    expect(row.keysTotal === null || row.keysTotal >= row.keysCopied).toBe(true);
    const cancel = await t.hs.http.inject({
      method: 'POST',
      url: `/actions/${id}:cancel`,
      headers: admin,
      payload: { reason: 'test over' },
    });
    expect(cancel.statusCode).toBeLessThan(300);
    await waitFor(
      'no move under way',
      async () => ((await summary(t)).moves.length === 0 ? true : undefined),
      20_000,
    );
  });

  it('dashboard summary - with tokens configured it needs the read or admin token; the routes are in /openapi.json', async () => {
    const t = await cluster();
    expect((await t.hs.http.inject({ method: 'GET', url: '/dashboard/summary' })).statusCode).toBe(401);
    const read = await t.hs.http.inject({
      method: 'GET',
      url: '/dashboard/summary',
      headers: { authorization: `Bearer ${READ}` },
    });
    expect(read.statusCode).toBe(200);
    // Listed in the OpenAPI document with their schemas.
    const doc = (await t.hs.http.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<
        string,
        { get?: { responses?: Record<string, unknown>; parameters?: { name: string }[] } }
      >;
    }>();
    for (const path of ['/heat', '/heat/keyspace', '/dashboard/summary'])
      expect(doc.paths[path]?.get?.responses?.['200'], path).toBeDefined();
    expect(doc.paths['/heat']?.get?.parameters?.map((p) => p.name).sort()).toEqual(['metric', 'seconds']);
  });

  it('dashboard data - /events carries a heat column each second, every shard of the table, on the heatmap time axis', async () => {
    const t = await cluster();
    const stream = await openEvents(t.httpPort);
    cleanup.push(() => Promise.resolve(stream.close()));
    const stop = load(t);
    cleanup.push(stop);
    const first = await stream.until((e) => e.event === 'heat', 10_000);
    const next = await stream.until((e) => e.event === 'heat' && e.id > first.id, 10_000);
    expect(next.data['at']).toBe((first.data['at'] as number) + 1000);
    expect((first.data['at'] as number) % 1000).toBe(0);
    const shards = next.data['shards'] as Record<
      string,
      { qps: number; p99: number | null; utilization: number; bytes: number }
    >;
    expect(Object.keys(shards).sort()).toEqual(t.hs.router.table.shards.map((s) => s.id).sort());
    const busy = await stream.until(
      (e) =>
        e.event === 'heat' &&
        Object.values(e.data['shards'] as Record<string, { qps: number }>).some((c) => c.qps > 0),
      10_000,
    );
    const cells = Object.values(busy.data['shards'] as Record<string, { qps: number; utilization: number }>);
    for (const c of cells) expect(c.utilization).toBeCloseTo(c.qps / 100_000, 6);
    // Heat columns are not kept for resuming: a reconnect replays none of them.
    const resumed = await openEvents(t.httpPort, 0);
    cleanup.push(() => Promise.resolve(resumed.close()));
    await sleep(200);
    expect(resumed.received.filter((e) => e.event === 'heat' && e.id <= next.id)).toEqual([]);
  });
});
