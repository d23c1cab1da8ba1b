import { PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { Outcome, RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { buildSnapshot, keyText } from '../../src/telemetry/snapshot.js';

const START = 1_700_000_000_000; // a whole second

function setup(): { clock: ManualClock; t: RouterTelemetry; s: number[]; n: number[]; tn: number[] } {
  const clock = new ManualClock(START);
  const t = new RouterTelemetry({ clock });
  return {
    clock,
    t,
    s: ['s0', 's1', 's2'].map((id) => t.shardIndex(id)),
    n: ['n0', 'n1'].map((id) => t.nodeIndex(id)),
    tn: ['acme', 'globex'].map((id) => t.tenantIndex(id)),
  };
}

describe('router telemetry', () => {
  it('router telemetry - one record feeds its shard, node and tenant; windows are per-second rates over whole seconds', () => {
    const { clock, t, s, n, tn } = setup();
    expect(t.shardIndex('s1')).toBe(s[1]); // stable
    for (let sec = 0; sec < 4; sec++) {
      for (let i = 0; i < 100; i++)
        t.record(s[0]!, n[0]!, tn[0]!, Buffer.from(`k${i}`), false, 20, 200, 1000, Outcome.Ok);
      for (let i = 0; i < 10; i++)
        t.record(s[1]!, n[1]!, tn[1]!, Buffer.from('w'), true, 500, 10, 5000, Outcome.Error);
      t.record(s[1]!, n[1]!, -1, null, false, 0, 0, 0, Outcome.Shed);
      clock.advance(1000);
    }
    const w = t.window('shard', 4);
    expect(w.get('s0')).toMatchObject({
      reads: 100,
      writes: 0,
      bytesIn: 2000,
      bytesOut: 20_000,
      errors: 0,
      requests: 400,
    });
    expect(w.get('s0')!.p99Ms).toBeCloseTo(1, 1);
    expect(w.get('s1')).toMatchObject({ reads: 1, writes: 10, errors: 10, shed: 1 });
    expect(Math.abs(w.get('s1')!.p50Ms / 5 - 1)).toBeLessThan(0.016); // the shed request adds no latency sample
    expect(w.get('s2')).toMatchObject({ reads: 0, requests: 0, p99Ms: 0 });
    expect(t.window('node', 4).get('n1')).toMatchObject({ writes: 10, shed: 1 });
    const tenants = t.window('tenant', 4);
    expect(tenants.get('acme')?.reads).toBe(100);
    expect(tenants.get('globex')?.writes).toBe(10);
    expect(tenants.get('globex')?.reads).toBe(0); // the tenant-less request went nowhere
    // A longer window than there is history divides by its length: zeros before the start.
    expect(t.window('shard', 8).get('s0')?.reads).toBe(50);
    const series = t.shardSeries('s0', 5);
    expect(series.map((x) => x.t)).toEqual([-1, 0, 1, 2, 3].map((k) => START + k * 1000));
    expect(series.map((x) => x.reads)).toEqual([0, 100, 100, 100, 100]);
    expect(series[1]!.p99Ms).toBeCloseTo(1, 1);
    expect(t.series('tenant', 'nobody', 2)).toHaveLength(2);
  });

  it('router telemetry - above the sample budget only a sample is measured: request counts stay exact, bytes, errors and percentiles unbiased', () => {
    const clock = new ManualClock(START);
    // The sketches sample again among the measured requests (nested weights).
    const t = new RouterTelemetry({ clock, sampleBudget: 1000, sketchBudget: 300, sampleSeed: 7 });
    const s0 = t.shardIndex('s0');
    const n0 = t.nodeIndex('n0');
    // 9 in 10 requests take 1 ms, 1 in 10 takes 20 ms and fails; 20 k requests a second.
    const second = (): number => {
      let measured = 0;
      for (let i = 0; i < 20_000; i++) {
        t.count(s0, n0, -1, false);
        const w = t.sample();
        if (w === 0) continue;
        measured++;
        const slow = i % 10 === 9;
        t.begin(s0, n0, w);
        t.end(s0, n0, w);
        t.measure(
          s0,
          n0,
          -1,
          Buffer.from('k'),
          false,
          10,
          100,
          slow ? 20_000 : 1000,
          slow ? Outcome.Error : Outcome.Ok,
          w,
        );
      }
      clock.advance(1000);
      // Counting does not read the clock; a read moves the ring on (the
      // monitor reads every tick), else a sampling gap's worth would spill
      // into the second before.
      expect(t.second).toBe(clock.now() / 1000);
      return measured;
    };
    second(); // sets the rate
    const measured = [second(), second(), second()];
    for (const n of measured) expect(n).toBeLessThan(1100); // 20 k / 32 ≈ 625 a second
    const w = t.window('shard', 3).get('s0')!;
    expect(w).toMatchObject({ reads: 20_000, requests: 60_000, inflight: 0 });
    // ±10 % on ≈ 1,900 samples of weight 32 (relative standard error ≈ 2.3 %; 7 % for the errors).
    expect(Math.abs(w.bytesIn / 200_000 - 1)).toBeLessThan(0.1);
    expect(Math.abs(w.bytesOut / 2_000_000 - 1)).toBeLessThan(0.1);
    expect(Math.abs(w.errors / 2000 - 1)).toBeLessThan(0.25);
    expect(w.p50Ms).toBeCloseTo(1, 1);
    expect(w.p99Ms).toBeCloseTo(20, 0);
    expect(Math.abs(w.meanMs / 2.9 - 1)).toBeLessThan(0.1);
    // Each second's own percentiles come from its weighted histogram.
    expect(t.shardSeries('s0', 1)[0]!.p99Ms).toBeCloseTo(20, 0);
    // The sketches kept a sample of the sample (weight ≈ 32 × 4), still an
    // unbiased count of the key: ≈ 470 kept over 3 s, ±5 % standard error.
    expect(Math.abs(t.topKeys(3, 1)[0]!.reads / 20_000 - 1)).toBeLessThan(0.15);
    expect(t.keys.sampler.factor).toBeGreaterThan(1);
  });

  it('router telemetry - a count before any measured request still lands in the current second of the clock', () => {
    const clock = new ManualClock(START + 500);
    const t = new RouterTelemetry({ clock });
    const s0 = t.shardIndex('s0');
    t.count(s0, t.nodeIndex('n0'), -1, true);
    clock.advance(1000);
    expect(t.window('shard', 1).get('s0')).toMatchObject({ writes: 1, p99Ms: 0, meanMs: 0 });
  });

  it('router telemetry - consistent: one reading of the clock, so shard and node windows agree across a second’s end', () => {
    const { clock, t, s, n } = setup();
    const second = (sent: number): void => {
      t.window('node', 1);
      for (let i = 0; i < sent; i++) t.count(s[0]!, n[0]!, -1, false);
      clock.advance(1000);
    };
    second(30);
    second(70);
    t.window('node', 1);
    for (let i = 0; i < 40; i++) t.count(s[0]!, n[0]!, -1, false);
    clock.advance(999);
    // A read that the end of the second overtakes half-way, as a scrape can be.
    const read = (): [number, number] => {
      const shards = t.window('shard', 1).get('s0')!.reads;
      clock.advance(2);
      return [shards, t.window('node', 1).get('n0')!.reads];
    };
    expect(t.consistent(read)).toEqual([70, 70]);
    // Unfrozen, the same read straddles two seconds.
    t.window('node', 1);
    for (let i = 0; i < 5; i++) t.count(s[0]!, n[0]!, -1, false);
    clock.advance(998);
    expect(read()).toEqual([40, 5]);
  });

  it('router telemetry - peakRate: the busiest whole second of the window, shed requests aside, the current second not yet', () => {
    const { clock, t, s, n } = setup();
    // Counting reads no clock: a read moves the rings on, as the monitor's tick does.
    const second = (sent: number, shed: number): void => {
      t.window('node', 1);
      for (let i = 0; i < sent; i++) t.count(s[0]!, n[0]!, -1, i % 2 === 0);
      for (let i = 0; i < shed; i++) t.measure(s[0]!, n[0]!, -1, null, false, 10, 10, 100, Outcome.Shed, 1);
      clock.advance(1000);
    };
    second(30, 0);
    second(90, 40); // 50 reached the node
    second(70, 0);
    second(10, 0);
    t.window('node', 1);
    for (let i = 0; i < 500; i++) t.count(s[0]!, n[0]!, -1, false); // the current second
    expect(t.peakRate('node', 'n0', 60)).toBe(70);
    expect(t.peakRate('node', 'n0', 1)).toBe(10);
    expect(t.peakRate('node', 'n1', 60)).toBe(0);
    expect(t.peakRate('node', 'nobody', 60)).toBe(0);
  });

  it('router telemetry - peakKeyRate: the heaviest key of the current second, once it has been sampled a few times', () => {
    const clock = new ManualClock(START);
    const t = new RouterTelemetry({ clock, sampleBudget: 100, sampleSeed: 3 });
    const [s0, n0] = [t.shardIndex('s0'), t.nodeIndex('n0')];
    // As the router does: count every request, measure the sampled ones with their weight.
    const send = (key: string, times: number): void => {
      const k = Buffer.from(key);
      for (let i = 0; i < times; i++) {
        t.count(s0, n0, -1, false);
        const w = t.sample();
        if (w > 0) t.measure(s0, n0, -1, k, false, 20, 20, 100, Outcome.Ok, w);
      }
    };
    // Below the budget every request is a sample of weight 1.
    for (let i = 0; i < 50; i++) send(`cold:${i}`, 1);
    expect(t.peakKeyRate()).toBe(0); // each key seen once: not yet a rate
    send('hot', 30);
    clock.advance(500);
    expect(t.peakKeyRate()).toBe(30 / 0.5);
    // 10 k requests a second: the next second samples 1 in 128 (weight 128).
    for (let i = 0; i < 10_000; i++) send(`cold:${i}`, 1);
    clock.advance(500);
    expect(t.second).toBe(START / 1000 + 1);
    for (let i = 0; i < 5_000; i++) send(`cold:${i}`, 1);
    // One sample of a cold key weighs 128 (256/s at 0.5 s): no key is hot.
    clock.advance(100);
    expect(t.peakKeyRate()).toBe(0);
    send('hot', 5_000); // ≈ 39 samples
    clock.advance(400);
    const rate = t.peakKeyRate();
    expect(rate).toBeGreaterThan(0.6 * 10_000);
    expect(rate).toBeLessThan(1.4 * 10_000);
    // A new second's first milliseconds count as a quarter second, not as a rate of their own.
    clock.advance(510);
    send('hot', 2_000);
    expect(t.peakKeyRate()).toBeLessThan(1.5 * (2_000 / 0.25));
  });

  it('router telemetry - in-flight gauges follow begin/end and their peak shows in the window', () => {
    const { clock, t, s, n } = setup();
    t.record(s[0]!, n[0]!, -1, null, false, 0, 0, 1, Outcome.Ok);
    t.begin(s[0]!, n[0]!);
    t.begin(s[0]!, n[1]!);
    t.end(s[0]!, n[1]!);
    clock.advance(1000);
    const w = t.window('shard', 1).get('s0')!;
    expect(w.inflight).toBe(1);
    expect(w.inflightMax).toBe(2);
    expect(t.window('node', 1).get('n1')).toMatchObject({ inflight: 0, inflightMax: 1 });
  });

  it('router telemetry - top keys are rates; routers merge their exported sketches', () => {
    const a = setup();
    const b = setup();
    for (let i = 0; i < 300; i++)
      a.t.record(a.s[0]!, a.n[0]!, -1, Buffer.from('hot'), false, 10, 90, 100, Outcome.Ok);
    for (let i = 0; i < 100; i++)
      b.t.record(b.s[0]!, b.n[0]!, -1, Buffer.from('hot'), true, 10, 0, 100, Outcome.Ok);
    b.t.record(b.s[0]!, b.n[0]!, -1, Buffer.from('cold'), false, 10, 0, 100, Outcome.Ok);
    a.clock.advance(2000);
    b.clock.advance(2000);
    expect(a.t.topKeys(2, 5)).toEqual([
      expect.objectContaining({ key: Buffer.from('hot'), reads: 150, writes: 0, bytes: 15_000, error: 0 }),
    ]);
    expect(a.t.mergeSketch(b.t.exportSketch())).toEqual({ merged: 1, dropped: 0 });
    const top = a.t.topKeys(2, 5);
    expect(top.map((k) => [k.key.toString(), k.reads, k.writes])).toEqual([
      ['hot', 150, 50],
      ['cold', 0.5, 0],
    ]);
    expect(a.t.distinctKeys(2)).toBeCloseTo(2, 1);
    // Shipping only seconds not shipped before.
    expect(b.t.exportSketch(b.t.lastCompleteSecond + 1).length).toBeLessThan(64);
  });

  it('router telemetry - the hot path (count, sample, measure) allocates nothing once warm, across second rotations', async () => {
    const clock = new ManualClock(START);
    const t = new RouterTelemetry({ clock, sampleBudget: 50_000 });
    const shards = Array.from({ length: 16 }, (_, i) => t.shardIndex(`s${i}`));
    const nodes = Array.from({ length: 4 }, (_, i) => t.nodeIndex(`n${i}`));
    const tenants = Array.from({ length: 8 }, (_, i) => t.tenantIndex(`t${i}`));
    const keys = Array.from({ length: 4096 }, (_, i) => Buffer.from(`user:${i * 7919}:profile`));
    const run = (count: number): void => {
      for (let i = 0; i < count; i++) {
        if (i % 100_000 === 0) clock.advance(1000);
        const k = (i * 2654435761) >>> 20;
        const shard = shards[i & 15]!;
        const node = nodes[i & 3]!;
        const tenant = tenants[i & 7]!;
        const isWrite = (i & 7) === 0;
        t.count(shard, node, tenant, isWrite);
        const w = t.sample();
        if (w === 0) continue;
        t.begin(shard, node, w);
        t.end(shard, node, w);
        const outcome = (i & 255) === 0 ? Outcome.Error : Outcome.Ok;
        t.measure(shard, node, tenant, keys[k]!, isWrite, 40, 400, 150 + (i & 1023), outcome, w);
      }
    };
    run(600_000); // warm-up: optimized code, every structure touched
    // The optimizing compiler works on a background thread, which a loaded
    // machine starves: until its code is in, the hot path runs unoptimized and
    // boxes numbers. Warm up until a short run allocates nothing (at most 2
    // s more); an allocation per request never settles and fails below.
    for (let i = 0; i < 20; i++) {
      const at = process.memoryUsage().heapUsed;
      run(100_000);
      if (process.memoryUsage().heapUsed - at < 16 * 1024) break;
    }
    // A million requests, up to three times: a loaded machine can still have
    // the compiler swap code under one run (CI saw a scavenge, and 300 KB
    // grown, once in a few runs, before and after the last telemetry change).
    // An allocation per request fails every attempt: 16 bytes each is 16 MB.
    const attempts: { gcs: number; grown: number }[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const gcDuring: number[] = [];
      let from = 0;
      let to = Infinity;
      const obs = new PerformanceObserver((list) => {
        for (const e of list.getEntries())
          if (e.startTime >= from && e.startTime <= to) gcDuring.push(e.startTime);
      });
      obs.observe({ entryTypes: ['gc'] });
      const before = process.memoryUsage().heapUsed;
      from = performance.now();
      run(1_000_000);
      to = performance.now();
      const grown = process.memoryUsage().heapUsed - before;
      await new Promise((r) => setTimeout(r, 20));
      obs.disconnect();
      attempts.push({ gcs: gcDuring.length, grown });
      if (gcDuring.length === 0 && grown < 256 * 1024) break;
    }
    expect(attempts.at(-1)!.gcs, JSON.stringify(attempts)).toBe(0);
    expect(attempts.at(-1)!.grown, JSON.stringify(attempts)).toBeLessThan(256 * 1024);
  });
});

describe('tick snapshot', () => {
  it('snapshot - buildSnapshot turns windows, placements and top keys into the detector input', () => {
    const { clock, t, s, n, tn } = setup();
    for (let sec = 0; sec < 5; sec++) {
      for (let i = 0; i < 50; i++)
        t.record(s[0]!, n[0]!, tn[0]!, Buffer.from(`a${i}`), false, 10, 100, 2000, Outcome.Ok);
      for (let i = 0; i < 400; i++)
        t.record(s[1]!, n[1]!, tn[1]!, Buffer.from('celebrity'), false, 10, 1000, 30_000, Outcome.Ok);
      for (let i = 0; i < 20; i++)
        t.record(s[1]!, n[1]!, tn[1]!, Buffer.from([0x63, 0x00, 0x5c]), true, 50, 5, 500, Outcome.Ok);
      clock.advance(1000);
    }
    t.begin(s[1]!, n[1]!);
    const shards = new Map([
      ['s0', { node: 'n0', range: ['', 'm'] as const, capacity: 1000 }],
      ['s1', { node: 'n1', range: ['m', null] as const, capacity: 400 }],
    ]);
    const snap = buildSnapshot(t, {
      windowSeconds: 5,
      sloP99Ms: 10,
      shards,
      nodes: new Map([['n1', { capacity: 1000, queueDepth: 7 }]]),
      locate: (key) =>
        key.toString() === 'celebrity' || key[0] === 0x63
          ? { shard: 's1', node: 'n1' }
          : { shard: 's0', node: 'n0' },
      topKeys: 3,
    });
    expect(snap.now).toBe(START + 5000);
    expect(snap.windowMs).toBe(5000);
    expect(snap.sloP99Ms).toBe(10);
    expect(snap.shards.map((x) => x.id)).toEqual(['s0', 's1']); // s2 is not in the table
    const s1 = snap.shards[1]!;
    expect(s1).toMatchObject({ node: 'n1', range: ['m', null], reads: 400, writes: 20, queueDepth: 1 });
    expect(s1.utilization).toBeCloseTo(420 / 400);
    expect(s1.p99Ms).toBeCloseTo(30, 0);
    expect(s1.bytes).toBe(400 * 1010 + 20 * 55);
    expect(snap.nodes.map((x) => [x.id, x.queueDepth, x.utilization])).toEqual([
      ['n0', 0, null],
      ['n1', 7, 0.42],
    ]);
    expect(snap.tenants.map((x) => [x.id, x.reads])).toEqual([
      ['acme', 50],
      ['globex', 400],
    ]);
    expect(snap.topKeys.map((k) => [k.key, k.shard, k.reads, k.writes])).toEqual([
      ['celebrity', 's1', 400, 0],
      ['c\\x00\\\\', 's1', 0, 20],
      [expect.stringMatching(/^a\d+$/), 's0', 1, 0],
    ]);
    expect(snap.totalKeyOps).toBe(470);
    expect(Math.abs(snap.distinctKeys - 52)).toBeLessThan(2);
  });

  it('snapshot - a key written, then read: the window still counts mostly writes, its recent split is the reads', () => {
    const { clock, t, s, n, tn } = setup();
    const key = Buffer.from('mylist');
    const step = (isWrite: boolean): void => {
      for (let i = 0; i < 60; i++) t.record(s[0]!, n[0]!, tn[0]!, key, isWrite, 10, 10, 500, Outcome.Ok);
      clock.advance(100);
    };
    const snap = () =>
      buildSnapshot(t, {
        windowSeconds: 1,
        sloP99Ms: 10,
        shards: new Map([['s0', { node: 'n0', range: ['', null] as const }]]),
        locate: () => ({ shard: 's0', node: 'n0' }),
        withCurrent: true,
      }).topKeys[0]!;
    for (let i = 0; i < 25; i++) step(true); // 2.5 s of LPUSH at 600/s
    snap(); // the detector's tick: remembers the key's counts
    for (let i = 0; i < 3; i++) step(false); // then 300 ms of LRANGE at 600/s
    const k = snap();
    expect(k.writes).toBeGreaterThan(k.reads); // the window's split lags
    expect(k.recent).toBeCloseTo(600, 0);
    expect(k.recentReads).toBeCloseTo(600, 0);
  });

  it('snapshot - keyText keeps printable ASCII and escapes the rest', () => {
    expect(keyText(Buffer.from('user:1'))).toBe('user:1');
    expect(keyText(Buffer.from([0x00, 0xff, 0x5c, 0x41, 0x0a]))).toBe('\\x00\\xff\\\\A\\x0a');
    expect(keyText(Buffer.from('abc'), true)).toBe('abc…');
  });
});
