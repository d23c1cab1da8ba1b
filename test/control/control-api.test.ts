/**
 * The control read API against a real in-process hotshard under real RESP
 * load: 1.5 s of uniform traffic, then one celebrity key takes 40 % of
 * 1,000 requests/s for 2.5 s, then the load stops. The rate is one a loaded
 * 2-core machine keeps up with: at 4,000/s a starved generator sent a whole
 * second's backlog at once, and a 1 s window held 124 celebrity requests. The run is driven once in
 * beforeAll; each test reads what was captured at the moment it cares about.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, type LoadReport } from '../../src/load/generator.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import {
  getJson,
  median,
  ops,
  sleep,
  waitFor,
  type ErrorBody,
  type HotKeysBody,
  type HotspotsBody,
  type ShardStatsBody,
  type SkewReport,
} from './harness.js';

const RATE = 1000;
const SHARE = 0.4;
const CELEBRITY = 'key:000000000042';
const SPIKE_FROM_MS = 1500;

describe('control api - a celebrity key over real RESP load', () => {
  let t: TestHotshard;
  let report: LoadReport;
  let uniform: { skew: SkewReport; hotspots: HotspotsBody };
  let raised: HotspotsBody;
  let spike: {
    hotkeys: HotKeysBody;
    top3: HotKeysBody;
    stats: ShardStatsBody;
    skew: SkewReport;
    hotspots: HotspotsBody;
  };
  let cleared: HotspotsBody;
  let celebrityShard: { id: string; node: string };

  beforeAll(async () => {
    // clearTicks 2 (of 250 ms): the hotspot clears ~0.5 s after the key cools, not 2 s.
    // The celebrity runs at 400 ops/s: the key-rate floor is lowered to match.
    t = await startTestHotshard({
      backend: 'memory',
      detector: { rules: { clearTicks: 2, keyRateFloor: { raise: 200, clear: 150 } } },
    });
    const s = t.hs.router.table.shardFor(Buffer.from(CELEBRITY));
    celebrityShard = { id: s.id, node: s.node };
    const started = Date.now();
    const load = runLoad({
      target: { kind: 'resp', host: '127.0.0.1', port: t.port, connections: 4 },
      workload: {
        keys: 10_000,
        ops: { get: 90, set: 10 },
        distribution: { kind: 'celebrity', key: 42, share: SHARE, fromMs: SPIKE_FROM_MS },
      },
      rate: RATE,
      durationMs: 4000,
    });
    await sleep(1300);
    uniform = {
      skew: (await getJson<SkewReport>(t, '/skew')).body,
      hotspots: (await getJson<HotspotsBody>(t, '/hotspots')).body,
    };
    raised = await waitFor('the hot-key hotspot', async () => {
      const h = (await getJson<HotspotsBody>(t, '/hotspots')).body;
      return h.active.some((x) => x.kind === 'hot-key') ? h : undefined;
    });
    // Two whole seconds into the spike: the 1 s windows hold nothing but spike.
    await sleep(Math.max(0, started + SPIKE_FROM_MS + 2200 - Date.now()));
    // The two /hotkeys reads must see the same window: a second that ends
    // between them (a loaded machine can hold the event loop that long) moves
    // the window and reorders its cold tail, so read the pair again then.
    const samePair = async (): Promise<[HotKeysBody, HotKeysBody]> => {
      for (let attempt = 1; ; attempt++) {
        const second = Math.floor(Date.now() / 1000);
        const all = (await getJson<HotKeysBody>(t, '/hotkeys?window=1')).body;
        const top3 = (await getJson<HotKeysBody>(t, '/hotkeys?limit=3&window=1')).body;
        if (Math.floor(Date.now() / 1000) === second || attempt === 5) return [all, top3];
      }
    };
    const [hotkeys, top3] = await samePair();
    spike = {
      hotkeys,
      top3,
      stats: (await getJson<ShardStatsBody>(t, '/shards/stats?window=1')).body,
      skew: (await getJson<SkewReport>(t, '/skew')).body,
      hotspots: (await getJson<HotspotsBody>(t, '/hotspots')).body,
    };
    report = await load;
    cleared = await waitFor('the hotspot to clear', async () => {
      const h = (await getJson<HotspotsBody>(t, '/hotspots')).body;
      return h.active.length === 0 ? h : undefined;
    });
  });
  afterAll(async () => t?.stop());

  it('control api - the load ran as asked', () => {
    expect(report.errors).toBe(0);
    expect(report.throughput).toBeGreaterThan(RATE * 0.9);
  });

  it('control api - /hotkeys lists the celebrity first with its shard, node and about the rate sent', () => {
    const [first, second] = spike.hotkeys.keys;
    expect(spike.hotkeys.windowSeconds).toBe(1);
    expect(first).toMatchObject({ key: CELEBRITY, shard: celebrityShard.id, node: celebrityShard.node });
    // 40 % of 1,000/s, plus its 1/10,000 of the uniform rest.
    const sent = RATE * SHARE;
    // An open-loop generator that was starved of CPU for a moment sends the
    // backlog at once, so one 1-second window can hold up to ~2x the nominal
    // rate on a busy machine; the bounds catch an order-of-magnitude error.
    expect(ops(first!)).toBeGreaterThan(sent * 0.5);
    expect(ops(first!)).toBeLessThan(sent * 2);
    expect(first!.reads).toBeGreaterThan(first!.writes * 4);
    expect(first!.bytes).toBeGreaterThan(0);
    expect(first!.error).toBeLessThan(sent * 0.05);
    // Everything else is uniform over 10,000 keys (≈ 0.06/s each): far below
    // the celebrity. Not 1 %: a backlog sent at once after a CPU stall raises
    // the sketches' sampling factor for the rest of that second, and one cold
    // key sampled twice at weight 8 then reads 16/s (seen in CI under load).
    expect(ops(second!)).toBeLessThan(ops(first!) / 40);
    // Default limit 20, ranked by ops.
    expect(spike.hotkeys.keys).toHaveLength(20);
    const rates = spike.hotkeys.keys.map(ops);
    // reads/s + writes/s: equal counts may differ in the last bit.
    for (let i = 1; i < rates.length; i++) expect(rates[i]!).toBeLessThanOrEqual(rates[i - 1]! + 1e-9);
  });

  it('control api - /hotkeys limit=3 returns the same head', () => {
    expect(spike.top3.keys.map((k) => k.key)).toEqual(spike.hotkeys.keys.slice(0, 3).map((k) => k.key));
  });

  it('control api - /hotkeys and /shards/stats refuse bad limit and window with 400 and a JSON error', async () => {
    const bad = [
      ['/hotkeys?limit=0', /^limit must be an integer from 1 to 64, got '0'$/],
      ['/hotkeys?limit=65', /^limit /],
      ['/hotkeys?limit=abc', /^limit /],
      ['/hotkeys?limit=2.5', /^limit /],
      ['/hotkeys?limit=', /^limit /],
      ['/hotkeys?window=0', /^window must be an integer from 1 to 10/],
      ['/hotkeys?window=11', /^window /],
      ['/hotkeys?window=-1', /^window /],
      ['/shards/stats?window=0', /^window must be an integer from 1 to 600/],
      ['/shards/stats?window=601', /^window /],
      ['/shards/stats?window=1e3', /^window /],
    ] as const;
    for (const [url, message] of bad) {
      const res = await t.hs.http.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type'], url).toMatch(/^application\/json/);
      const body = res.json<ErrorBody>();
      expect(body.error.code, url).toBe('HS_ERR_BAD_REQUEST');
      expect(body.error.message, url).toMatch(message);
    }
    const edges = ['/hotkeys?limit=1', '/hotkeys?limit=64&window=10', '/shards/stats?window=600'];
    for (const url of edges)
      expect((await t.hs.http.inject({ method: 'GET', url })).statusCode, url).toBe(200);
    expect((await getJson<HotKeysBody>(t, '/hotkeys?limit=1')).body.keys.length).toBeLessThanOrEqual(1);
  });

  it('control api - /shards/stats shows the celebrity shard far above the others', () => {
    const rows = spike.stats.shards;
    expect(spike.stats.windowSeconds).toBe(1);
    expect(rows).toHaveLength(t.hs.router.table.shards.length);
    const hot = rows.find((r) => r.shard_id === celebrityShard.id)!;
    expect(hot).toMatchObject({ node: celebrityShard.node, status: 'active', errors: 0, shed: 0 });
    const others = rows.filter((r) => r !== hot).map(ops);
    expect(Math.max(...others)).toBeLessThan(ops(hot) / 4);
    expect(ops(hot)).toBeGreaterThan(median(others) * 6);
    // The whole rate is accounted for, shard by shard.
    const total = rows.reduce((sum, r) => sum + ops(r), 0);
    expect(total).toBeGreaterThan(RATE * 0.5);
    expect(total).toBeLessThan(RATE * 2);
    for (const r of rows) {
      expect(r.bytesIn).toBeGreaterThan(0);
      expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
    }
  });

  it('control api - every measured request was settled: bytes out on the hot shard, nothing left in flight once the load ends', async () => {
    const hot = spike.stats.shards.find((r) => r.shard_id === celebrityShard.id)!;
    expect(hot.bytesOut).toBeGreaterThan(hot.bytesIn / 4); // GET replies carry the values
    const after = (await getJson<ShardStatsBody>(t, '/shards/stats?window=1')).body;
    for (const r of after.shards) expect(r.inflight, r.shard_id).toBe(0);
  });

  it('control api - /hotspots holds an active hot-key for the celebrity with its evidence', () => {
    const h = raised.active.find((x) => x.kind === 'hot-key')!;
    expect(h).toMatchObject({
      subject: CELEBRITY,
      shard: celebrityShard.id,
      node: celebrityShard.node,
      heat: 'read-hot',
      clearedAt: null,
    });
    expect(h.id).toMatch(/^hot-key:key:000000000042@\d+$/);
    expect(h.detectedAt).toBeGreaterThanOrEqual(h.onset);
    expect(h.summary).toContain(CELEBRITY);
    // Raised early in the spike, possibly before the 1 s window fills: the key already
    // carries most of its shard.
    expect(h.evidence.shareOfShard).toBeGreaterThan(0.5);
    expect(h.evidence.sloP99Ms).toBe(20);
    // Two seconds in, the evidence (refreshed every tick) shows the full rate sent.
    const later = spike.hotspots.active.find((x) => x.id === h.id)!;
    expect(later).toBeDefined();
    expect(later.evidence.rate).toBeGreaterThan(RATE * SHARE * 0.5);
    // The evidence's rate is the recent one, over as little as 0.2 s: a backlog
    // the generator sent at once after a CPU stall weighs more there than in a
    // whole second (CI under load: 830/s for 400 sent). Still an order of
    // magnitude below a unit error.
    expect(later.evidence.rate).toBeLessThan(RATE * SHARE * 3);
    expect(later.evidence.rate).toBeGreaterThan(later.evidence.threshold!);
    expect(later.evidence.shareOfShard).toBeGreaterThan(0.8);
    expect(later.evidence.overMedian).toBeGreaterThan(10);
    expect(raised.recent.map((x) => x.id)).toContain(h.id);
    // No false alarm during the uniform second and a half.
    expect(uniform.hotspots.active).toEqual([]);
  });

  it('control api - /hotspots clears the hot key after the load stops and keeps it in recent', () => {
    const id = raised.active.find((x) => x.kind === 'hot-key')!.id;
    expect(cleared.active).toEqual([]);
    const past = cleared.recent.find((x) => x.id === id)!;
    expect(past.clearedAt).not.toBeNull();
    expect(past.clearedAt!).toBeGreaterThan(past.detectedAt);
  });

  it('control api - /skew returns every measure and shows the spike against a near-uniform start', () => {
    for (const report of [uniform.skew, spike.skew]) {
      expect(report.at).toBeGreaterThan(0);
      for (const over of ['shards', 'nodes'] as const) {
        for (const dim of ['reads', 'writes', 'ops', 'bytes'] as const) {
          const m = report[over][dim];
          expect(Object.keys(m).sort()).toEqual(
            [
              'cv',
              'entropy',
              'gini',
              'hottest',
              'max',
              'maxOverMean',
              'maxOverMedian',
              'mean',
              'median',
              'n',
              'p95',
              'p95OverP50',
              'total',
            ].sort(),
          );
        }
        expect(report[over].ops.n).toBe(over === 'shards' ? 16 : 4);
      }
    }
    const before = uniform.skew.shards.ops;
    expect(before.maxOverMean).toBeLessThan(1.5);
    expect(before.gini).toBeLessThan(0.15);
    expect(before.entropy).toBeGreaterThan(0.95);
    const during = spike.skew.shards.ops;
    expect(during.hottest).toBe(celebrityShard.id);
    expect(during.maxOverMean).toBeGreaterThan(4);
    expect(during.maxOverMedian).toBeGreaterThan(8);
    expect(during.gini).toBeGreaterThan(before.gini + 0.2);
    expect(during.entropy).toBeLessThan(before.entropy);
    expect(spike.skew.nodes.ops.hottest).toBe(celebrityShard.node);
    expect(spike.skew.at).toBeGreaterThan(uniform.skew.at);
  });
});
