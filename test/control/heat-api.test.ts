/**
 * The dashboard's heat: per-shard history from telemetry's rings (1 s) and
 * the config store (10 s), shard lifetimes across splits and merges, the
 * keyspace heat of measured requests, the SSE column, and the HTTP routes'
 * validation and access. Time is a ManualClock; requests go through a real
 * router to embedded nodes, so counts are exact.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ShardBackend } from '../../src/backend/backend.js';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ManualClock } from '../../src/clock.js';
import { EventBus, type ControlEvent } from '../../src/control/events.js';
import { registerHeatApi } from '../../src/control/heat-api.js';
import { HeatHistory, type HeatCell, type HeatView } from '../../src/control/heat-history.js';
import {
  FINE_BUCKETS,
  KeyspaceHeat,
  keyedRequests,
  type KeyspaceView,
} from '../../src/control/heat-keyspace.js';
import { nodeId, shardId, type NodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner, rangePartitioner, type Partitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { buildHttpServer } from '../../src/router/http-server.js';
import { Instrumentation } from '../../src/router/instrumentation.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { openEmbeddedStore, type ConfigStore } from '../../src/store/index.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';

const START = 1_700_000_000_000; // a whole 10-second block
const CAPACITY = 1_000_000; // large enough that an embedded node answers at once

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface World {
  clock: ManualClock;
  router: Router;
  telemetry: RouterTelemetry;
  history: HeatHistory;
  keyspace: KeyspaceHeat;
  bus: EventBus;
  /** Sends `n` SETs of `key` through the router in the current second. */
  send(key: string, n: number, value?: string): void;
  /** Moves the clock on by whole seconds, ticking the history each second. */
  seconds(n: number): Promise<void>;
}

function world(
  options: {
    partitioner?: Partitioner;
    shards?: number;
    store?: ConfigStore;
    source?: string;
    budget?: number;
  } = {},
): World {
  const clock = new ManualClock(START);
  const nodes = ['n0', 'n1'].map(nodeId);
  const table = RoutingTable.create({
    partitioner: options.partitioner ?? hashPartitioner(),
    nodes,
    shards: options.shards ?? 4,
  });
  const backends = new Map<NodeId, ShardBackend>(
    nodes.map((n) => [n, new MemoryBackend({ node: n, clock, capacity: CAPACITY })]),
  );
  cleanups.push(() => Promise.all([...backends.values()].map((b) => b.close())));
  const router = new Router(table, backends);
  const telemetry = new RouterTelemetry({ clock, sampleBudget: options.budget ?? Infinity, sampleSeed: 7 });
  router.instrument(new Instrumentation(telemetry, table));
  const keyspace = new KeyspaceHeat(() => router.table, 600, keyedRequests(telemetry));
  telemetry.keySink = keyspace;
  const bus = new EventBus();
  const history = new HeatHistory({
    router,
    telemetry,
    clock,
    bus,
    sloP99Ms: 20,
    nodeCapacity: CAPACITY,
    store: options.store?.heat,
    source: options.source ?? 'r1',
  });
  const session = new Session(1, 'test', false, 0);
  return {
    clock,
    router,
    telemetry,
    history,
    keyspace,
    bus,
    send(key, n, value = 'v') {
      for (let i = 0; i < n; i++) {
        let answered = false;
        router.dispatch(
          session,
          [Buffer.from('SET'), Buffer.from(key), Buffer.from(value)],
          undefined,
          () => {
            answered = true;
          },
        );
        if (!answered) throw new Error('the embedded node did not answer at once');
      }
    },
    async seconds(n) {
      for (let i = 0; i < n; i++) {
        clock.advance(1000);
        await history.tick();
      }
    },
  };
}

/** A key that the table puts on shard `id` (tried in order: key:0, key:1, ...). */
function keyOn(router: Router, id: string, not: readonly string[] = []): string {
  for (let i = 0; ; i++) {
    const key = `key:${i}`;
    if (router.table.shardFor(Buffer.from(key)).id === id && !not.includes(key)) return key;
  }
}

const rowOf = (view: HeatView, id: string): (number | null)[] => {
  const i = view.rows.findIndex((r) => r.id === id);
  if (i < 0) throw new Error(`no row ${id} in ${view.rows.map((r) => r.id).join(',')}`);
  return view.values[i]!;
};

describe('heat history', () => {
  it('heat - qps, bytes, p99 and utilization per shard per second come from the telemetry rings; seconds before the history began are null', async () => {
    const w = world();
    const a = keyOn(w.router, 's1');
    await w.seconds(2);
    w.send(a, 30);
    await w.seconds(1);
    w.send(a, 10);
    await w.seconds(1);

    const qps = await w.history.view('qps', 10);
    expect(qps.stepMs).toBe(1000);
    expect(qps.to).toBe(START + 4000);
    expect(qps.from).toBe(START - 6000);
    expect(qps.rows.map((r) => r.id)).toEqual(['s0', 's1', 's2', 's3']);
    expect(qps.rows[1]).toMatchObject({ id: 's1', node: 'n1', status: 'active' });
    // 6 seconds before the history started, then 2 idle ones, then 30 and 10.
    expect(rowOf(qps, 's1')).toEqual([null, null, null, null, null, null, 0, 0, 30, 10]);
    expect(rowOf(qps, 's0')).toEqual([null, null, null, null, null, null, 0, 0, 0, 0]);
    expect(qps.unit).toBe('ops/s');
    expect(qps.scale).toMatchObject({ min: 0, max: CAPACITY });

    const util = await w.history.view('utilization', 10);
    expect(rowOf(util, 's1').slice(8)).toEqual([30 / CAPACITY, 10 / CAPACITY]);
    expect(util.scale.max).toBe(1);

    const bytes = await w.history.view('bytes', 10);
    const perRequest = rowOf(bytes, 's1')[9]! / 10;
    expect(perRequest).toBeGreaterThan(a.length);
    expect(rowOf(bytes, 's1')[8]).toBeCloseTo(30 * perRequest, 6);

    const p99 = await w.history.view('p99', 10);
    // No request, no latency: null, not 0.
    expect(rowOf(p99, 's0').slice(6)).toEqual([null, null, null, null]);
    expect(rowOf(p99, 's1')[8]).toBeGreaterThanOrEqual(0);
    expect(p99.scale.max).toBe(40);
    expect(p99.scale.why).toContain('sloP99Ms = 20');
  });

  it('heat - a split adds a row from its second on, a merge keeps the gone shard as a row at the end with its values', async () => {
    const w = world();
    await w.seconds(1);
    const split = w.router.table.split(shardId('s1'), undefined, shardId('s9'));
    w.router.setTable(split);
    const right = keyOn(w.router, 's9');
    w.send(right, 5);
    await w.seconds(1);
    w.router.setTable(split.merge(shardId('s1')));
    w.send(keyOn(w.router, 's1'), 7);
    await w.seconds(1);

    const view = await w.history.view('qps', 10);
    expect(view.rows.map((r) => r.id)).toEqual(['s0', 's1', 's2', 's3', 's9']);
    expect(view.rows[4]).toMatchObject({ id: 's9', status: 'gone', node: 'n1' });
    // s9 was there from the split's second to the merge's (for part of it, idle: 0), then not (null).
    expect(rowOf(view, 's9').slice(7)).toEqual([null, 5, 0]);
    await w.seconds(1);
    expect(rowOf(await w.history.view('qps', 10), 's9').slice(6)).toEqual([null, 5, 0, null]);
    expect(rowOf(view, 's1').slice(7)).toEqual([0, 0, 7]);
  });

  it('heat - each second the newest column is broadcast as `heat` to broadcast listeners only, never into the backlog', async () => {
    const w = world();
    const heard: ControlEvent[] = [];
    const plain: ControlEvent[] = [];
    w.bus.subscribe((e) => heard.push(e), { broadcasts: true });
    w.bus.subscribe((e) => plain.push(e));
    const a = keyOn(w.router, 's2');
    w.send(a, 12);
    await w.seconds(1);
    w.send(a, 3);
    await w.seconds(1);
    expect(heard.map((e) => [e.type, e.at])).toEqual([
      ['heat', START],
      ['heat', START + 1000],
    ]);
    const shards = (heard[0]!.data as { shards: Record<string, HeatCell> }).shards;
    expect(Object.keys(shards)).toEqual(['s0', 's1', 's2', 's3']);
    expect(shards['s2']).toMatchObject({ qps: 12, utilization: 12 / CAPACITY });
    expect(shards['s0']).toEqual({ qps: 0, p99: null, utilization: 0, bytes: 0 });
    expect((heard[1]!.data as { shards: Record<string, HeatCell> }).shards['s2']?.qps).toBe(3);
    expect(plain).toEqual([]);
    expect(w.bus.since(0)).toEqual([]);
  });

  it('heat - complete 10-second blocks go to the config store, summed over routers, and a long view reads them at 10 s; old ones are pruned', async () => {
    const store = await openEmbeddedStore();
    cleanups.push(() => store.close());
    const w = world({ store, source: 'r1' });
    const a = keyOn(w.router, 's3');
    for (let s = 0; s < 25; s++) {
      w.send(a, s < 10 ? 20 : 40);
      await w.seconds(1);
    }
    const rows = await store.heat.list({ from: 0, to: START + 3_600_000 });
    const ofA = rows.filter((r) => r.shard === 's3');
    expect(ofA.map((r) => [r.at, r.qps, r.source])).toEqual([
      [START, 20, 'r1'],
      [START + 10_000, 40, 'r1'],
    ]);
    expect(ofA[0]!.utilization).toBeCloseTo(20 / CAPACITY, 12);
    expect(ofA[0]!.p99Ms).toBeGreaterThan(0);
    expect(rows.filter((r) => r.shard === 's0').map((r) => r.qps)).toEqual([0, 0]);
    // Another router measured the same shard in the first block.
    await store.heat.put([{ ...ofA[0]!, source: 'r2', qps: 5, utilization: 5 / CAPACITY, bytes: 1 }]);
    // And a shard this router never had, an hour ago.
    await store.heat.put([
      {
        at: START - 3_600_000,
        shard: 'old',
        node: 'n7',
        source: 'r2',
        qps: 1,
        p99Ms: 1,
        utilization: null,
        bytes: 1,
      },
    ]);

    const view = await w.history.view('qps', 7200);
    expect(view.stepMs).toBe(10_000);
    expect(view.to).toBe(START + 20_000);
    expect(view.from).toBe(START + 20_000 - 720 * 10_000);
    const col = (at: number): number => (at - view.from) / 10_000;
    const s3 = rowOf(view, 's3');
    expect(s3[col(START)]).toBe(25);
    expect(s3[col(START + 10_000)]).toBe(40);
    expect(s3[col(START - 10_000)]).toBeNull();
    expect(view.rows.at(-1)).toEqual({ id: 'old', node: 'n7', start: null, end: null, status: 'gone' });
    expect(rowOf(view, 'old')[col(START - 3_600_000)]).toBe(1);

    // A day: 8,640 blocks, 9 to a column (at most 1,000 columns); rates averaged over the blocks the shard was there.
    const day = await w.history.view('qps', 86_400);
    expect(day.stepMs).toBe(90_000);
    expect(day.values[0]).toHaveLength(960);
    expect(day.to).toBe(START + 20_000);
    expect(rowOf(day, 's3').at(-1)).toBe((25 + 40) / 2);
    expect(rowOf(day, 's3').at(-2)).toBeNull();

    // A day later the old rows go (pruned at most once a minute, when a block is stored).
    w.clock.advance(24 * 3600 * 1000 - 30_000);
    await w.seconds(71);
    const left = await store.heat.list({ from: 0, to: START + 3_600_000 });
    expect(left.filter((r) => r.at < START + 30_000)).toEqual([]);
  });
});

describe('keyspace heat', () => {
  it('keyspace heat - hash tables: each request lands in its hash position bucket, and the buckets add up to the requests', async () => {
    const w = world();
    const p = hashPartitioner();
    const keys = Array.from({ length: 50 }, (_, i) => `user:${i}`);
    for (const [i, k] of keys.entries()) w.send(k, i + 1);
    await w.seconds(1);
    const view = w.keyspace.view('qps', 1000, 10, w.telemetry.second);
    expect(view.partitioner).toBe('hash');
    expect(view.from).toBe(START - 9000);
    expect(view.to).toBe(START + 1000);
    const expected = new Array<number>(1000).fill(0);
    for (const [i, k] of keys.entries()) {
      // The fine bucket (1024 of them) spread over the view's 1000 in proportion.
      const fine = (p.position(Buffer.from(k)) as number) >>> 22;
      for (
        let j = Math.floor((fine * 1000) / 1024);
        j <= Math.floor(((fine + 1) * 1000) / 1024 - 1e-9);
        j++
      ) {
        const overlap = Math.min((fine + 1) * (1000 / 1024), j + 1) - Math.max(fine * (1000 / 1024), j);
        expected[j]! += ((i + 1) * overlap) / (1000 / 1024);
      }
    }
    const last = view.values.map((row) => row[9]!);
    last.forEach((v, j) => expect(v).toBeCloseTo(expected[j]!, 2));
    expect(last.reduce((a, b) => a + b, 0)).toBeCloseTo((50 * 51) / 2, 1);
    expect(view.values.every((row) => row.slice(0, 9).every((v) => v === 0))).toBe(true);
    // 1,024 buckets: each fine bucket is a bucket.
    const exact = w.keyspace.view('qps', FINE_BUCKETS, 10, w.telemetry.second);
    const k0 = (p.position(Buffer.from('user:0')) as number) >>> 22;
    expect(exact.values[k0]![9]).toBeGreaterThanOrEqual(1);
    // Edges: where each of the 4 shards starts; owners follow.
    expect(view.edges).toEqual([
      { bucket: 0, label: '0' },
      { bucket: 250, label: '1073741824' },
      { bucket: 500, label: '2147483648' },
      { bucket: 750, label: '3221225472' },
    ]);
    expect(view.shardOfBucket[249]).toBe('s0');
    expect(view.shardOfBucket[250]).toBe('s1');
    expect(
      w.keyspace
        .view('bytes', 16, 10, w.telemetry.second)
        .values.flat()
        .some((v) => v > 0),
    ).toBe(true);
  });

  it('keyspace heat - range tables: keys are in key order, inside their shard by their leading bytes', async () => {
    const r = rangePartitioner();
    const w = world({ partitioner: r, shards: 4 });
    // Splits at @, \x80, \xc0: 'A..' and 'B..' in s1, 'x' in s1 too (0x78 < 0x80), '\xd0' in s3.
    w.send('A', 1);
    w.send('B', 2);
    w.send('x', 3);
    w.send('\xd0', 4); // sent as its UTF-8 bytes, c3 90
    await w.seconds(1);
    const view = w.keyspace.view('qps', 1024, 10, w.telemetry.second);
    expect(view.partitioner).toBe('range');
    expect(view.edges.map((e) => [e.bucket, e.label])).toEqual([
      [0, ''],
      [256, '@'],
      [512, '\\x80'],
      [768, '\\xc0'],
    ]);
    const hot = view.values.flatMap((row, b) => (row[9]! > 0 ? [[b, row[9]!]] : []));
    // s1 = ['@', '\x80'): A = 0x41 is 1/64 in, B 2/64, x 56/64 (0x78 - 0x40 = 56).
    expect(hot.slice(0, 3)).toEqual([
      [256 + Math.floor((1 / 64) * 256), 1],
      [256 + Math.floor((2 / 64) * 256), 2],
      [256 + Math.floor((56 / 64) * 256), 3],
    ]);
    // c3 90 is in s3 (from \xc0 to the end), (3 + 0x90/256)/64 of the way in.
    expect(hot[3]).toEqual([768 + Math.floor(((3 + 0x90 / 256) / 64) * 256), 4]);
    expect(view.shardOfBucket[300]).toBe('s1');
  });

  it('keyspace heat - above the sample budget each column is scaled to the exact requests of its second', async () => {
    const w = world({ budget: 200 });
    let sent = 0;
    for (let s = 0; s < 4; s++) {
      for (let i = 0; i < 4000; i++) w.send(`k:${i % 500}`, 1);
      sent += 4000;
      await w.seconds(1);
    }
    const view = w.keyspace.view('qps', 64, 10, w.telemetry.second);
    const columns = view.values[0]!.map((_, c) => view.values.reduce((t, row) => t + row[c]!, 0));
    expect(columns.slice(6).map((v) => Math.round(v))).toEqual([4000, 4000, 4000, 4000]);
    expect(sent).toBe(16_000);
    // Unscaled (no exact counts), the weighted sample is an unbiased estimate.
    const raw = new KeyspaceHeat(() => w.router.table);
    w.telemetry.keySink = raw;
    for (let i = 0; i < 4000; i++) w.send(`k:${i % 500}`, 1);
    await w.seconds(1);
    const sample = raw.view('qps', 64, 10, w.telemetry.second).values.reduce((t, row) => t + row[9]!, 0);
    expect(sample).toBeGreaterThan(4000 * 0.7);
    expect(sample).toBeLessThan(4000 * 1.3);
  });

  it('keyspace heat - a view refuses bucket counts and windows it cannot give', () => {
    const w = world();
    expect(() => w.keyspace.view('qps', 2000, 10, 0)).toThrow(/buckets/);
    expect(() => w.keyspace.view('qps', 16, 601, 0)).toThrow(/seconds/);
  });
});

describe('heat api', () => {
  async function app(tokens: { adminToken?: string; readToken?: string } = {}) {
    const w = world();
    const http = buildHttpServer(
      w.router,
      { tenantHeader: 'x-tenant', tenantKeyPrefix: false, maxValueBytes: 1 << 20, ...tokens },
      pino({ level: 'silent' }),
    );
    registerHeatApi(http, { history: w.history, keyspace: w.keyspace, telemetry: w.telemetry });
    await http.ready();
    cleanups.push(() => http.close());
    return { w, http };
  }

  it('heat api - GET /heat and /heat/keyspace answer per the contract, defaults included', async () => {
    const { w, http } = await app();
    w.send(keyOn(w.router, 's0'), 9);
    await w.seconds(1);
    const heat = await http.inject({ method: 'GET', url: '/heat' });
    expect(heat.statusCode).toBe(200);
    const body = heat.json<HeatView>();
    expect(body).toMatchObject({ metric: 'qps', unit: 'ops/s', stepMs: 1000 });
    expect(body.values).toHaveLength(4);
    expect(body.values[0]).toHaveLength(600);
    expect(body.values[0]!.at(-1)).toBe(9);
    const ks = await http.inject({ method: 'GET', url: '/heat/keyspace?metric=bytes&buckets=16&seconds=10' });
    expect(ks.statusCode).toBe(200);
    const kb = ks.json<KeyspaceView & { scale: { max: number; why: string } }>();
    expect(kb.values).toHaveLength(16);
    expect(kb.shardOfBucket).toHaveLength(16);
    expect(kb.scale.max).toBe(125_000_000);
    const dflt = (await http.inject({ method: 'GET', url: '/heat/keyspace' })).json<KeyspaceView>();
    expect(dflt.buckets).toBe(1000);
    expect(dflt.values[0]).toHaveLength(600);
  });

  it('heat api - bad parameters get a 400 naming the field', async () => {
    const { http } = await app();
    for (const [url, re] of [
      ['/heat?metric=heat', /metric must be one of/],
      ['/heat?seconds=9', /seconds must be >= 10/],
      ['/heat?seconds=86401', /seconds must be <= 86400/],
      ['/heat?seconds=ten', /seconds must be integer/],
      ['/heat?window=5', /unknown field 'window'/],
      ['/heat/keyspace?metric=p99', /metric must be one of/],
      ['/heat/keyspace?buckets=15', /buckets must be >= 16/],
      ['/heat/keyspace?buckets=1025', /buckets must be <= 1024/],
      ['/heat/keyspace?seconds=601', /seconds must be <= 600/],
    ] as const) {
      const res = await http.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      const { error } = res.json<{ error: { code: string; message: string } }>();
      expect(error.code).toBe('HS_ERR_BAD_REQUEST');
      expect(error.message).toMatch(re);
    }
  });

  it('heat api - with tokens configured, the heat routes need the read or admin token', async () => {
    const { http } = await app({ adminToken: 'admin-t', readToken: 'read-t' });
    expect((await http.inject({ method: 'GET', url: '/heat?seconds=10' })).statusCode).toBe(401);
    for (const token of ['read-t', 'admin-t']) {
      for (const url of ['/heat?seconds=10', '/heat/keyspace?seconds=10&buckets=16']) {
        const res = await http.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
        expect(res.statusCode, `${url} ${token}`).toBe(200);
      }
    }
  });
});
