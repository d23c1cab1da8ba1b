/**
 * Telemetry on the hot path: ns per request through RouterTelemetry (count,
 * sample, and measure the sampled: counters, latency, sketches), per
 * HeavyHitters.offer() with and without sampling, and per
 * update of each sketch alone, next to the naive peer — a Map<string, number>
 * keyed by the key as a string (one allocation per request, unbounded memory).
 *
 * The stream: Zipf(1.1) over 1 M keys ("key:0000123"), 20 % writes, 16 shards,
 * 4 nodes, 8 tenants; a round of 1 M requests is one simulated second, so the
 * sampled runs see 1 M requests/s against a budget of 100 k measured requests/s
 * (factor 16 after the first second). Contenders run interleaved, round by
 * round, so drift on a shared machine hits them alike; each figure is the
 * median of the measured rounds.
 *
 *   npm run bench:sketch -- [--accuracy]     (node --import tsx bench/sketch/run.ts)
 *
 * --accuracy adds the 10 M-request accuracy summary of the sketch test
 * (heavy keys found, worst overcount against the bounds). Prints one JSON
 * line, then a table. About 20 s (30 s with --accuracy).
 */
import * as hdr from 'hdr-histogram-js';
import { parseArgs } from 'node:util';
import { ManualClock } from '../../src/clock.js';
import { LatencyHistogram } from '../../src/telemetry/histogram.js';
import {
  Outcome,
  RouterTelemetry,
  type RouterTelemetryOptions,
} from '../../src/telemetry/router-telemetry.js';
import { CountMinSketch } from '../../src/telemetry/sketches/count-min.js';
import { HeavyHitters } from '../../src/telemetry/sketches/heavy-hitters.js';
import { HyperLogLog } from '../../src/telemetry/sketches/hyperloglog.js';
import { keyHash, remix } from '../../src/telemetry/sketches/key-hash.js';
import { SpaceSaving } from '../../src/telemetry/sketches/space-saving.js';

const KEYS = 1_000_000;
const PER_ROUND = 1_000_000;
const ROUNDS = 5;
const WARMUP = 2;
const BUDGET = 100_000;
const KEY_BYTES = 11;

const { values: args } = parseArgs({ options: { accuracy: { type: 'boolean', default: false } } });

/** mulberry32, seeded, so every run measures the same stream. */
function random(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf(s) ranks by inverse CDF with a guide table (≈ one step per draw). */
function zipf(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cdf[r] = sum += Math.pow(r + 1, -s);
  for (let r = 0; r < n; r++) cdf[r]! /= sum;
  cdf[n - 1] = 1;
  const guide = new Int32Array(n);
  for (let g = 0, r = 0; g < n; g++) {
    while (cdf[r]! < g / n) r++;
    guide[g] = r;
  }
  return () => {
    const u = rand();
    let i = guide[Math.floor(u * n)]!;
    while (cdf[i]! < u) i++;
    return i;
  };
}

/** Writes the digits of `rank` into a key buffer whose "key:" prefix is already there. */
function writeKey(out: Buffer, rank: number): Buffer {
  for (let j = KEY_BYTES - 1; j >= 4; j--) {
    out[j] = 48 + (rank % 10);
    rank = Math.floor(rank / 10);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs each contender once per round, after warm-up rounds; median ns per operation. */
function race(contenders: Record<string, (round: number) => number>): Record<string, number> {
  const times: Record<string, number[]> = {};
  for (const name of Object.keys(contenders)) times[name] = [];
  for (let round = -WARMUP; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(contenders)) {
      const start = process.hrtime.bigint();
      const ops = run(round + WARMUP);
      const ns = Number(process.hrtime.bigint() - start);
      if (round >= 0) times[name]!.push(ns / ops);
    }
  }
  const out: Record<string, number> = {};
  for (const [name, ts] of Object.entries(times)) out[name] = median(ts);
  return out;
}

const started = Date.now();
const rand = random(42);
const nextRank = zipf(KEYS, 1.1, rand);
const ranks = new Int32Array(PER_ROUND);
const writes = new Uint8Array(PER_ROUND);
const hashes = new Int32Array(PER_ROUND);
const latencies = new Float64Array(PER_ROUND);
const key = Buffer.alloc(KEY_BYTES);
key.write('key:', 0, 'latin1');
for (let i = 0; i < PER_ROUND; i++) {
  ranks[i] = nextRank();
  writes[i] = rand() < 0.2 ? 1 : 0;
  hashes[i] = keyHash(writeKey(key, ranks[i]!));
  latencies[i] = Math.exp(5.5 + 1.1 * (rand() + rand() + rand() - 1.5)); // ~250 µs median, long tail
}
const bytesOf = (rank: number): number => 32 + (rank % 61) * 16;

/** Telemetry on a manual clock with 16 shards on 4 nodes and 8 tenants (their indexes). */
function rig(options: RouterTelemetryOptions = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const t = new RouterTelemetry({ ...options, clock });
  return {
    clock,
    t,
    shards: Array.from({ length: 16 }, (_, i) => t.shardIndex(`s${i}`)),
    nodes: Array.from({ length: 4 }, (_, i) => t.nodeIndex(`n${i}`)),
    tenants: Array.from({ length: 8 }, (_, i) => t.tenantIndex(`t${i}`)),
  };
}

function facade(budget: number): (round: number) => number {
  const { clock, t, shards, nodes, tenants } = rig({
    sampleBudget: budget,
    sketchBudget: budget,
    sampleSeed: 7,
  });
  return () => {
    clock.advance(1000);
    for (let i = 0; i < PER_ROUND; i++) {
      const r = ranks[i]!;
      const s = shards[r & 15]!;
      const n = nodes[r & 3]!;
      const tenant = tenants[i & 7]!;
      const isWrite = writes[i] === 1;
      // What the router does per request: count it, and measure the sampled ones.
      t.count(s, n, tenant, isWrite);
      const w = t.sample();
      if (w > 0)
        t.measure(s, n, tenant, writeKey(key, r), isWrite, 40, bytesOf(r), latencies[i]!, Outcome.Ok, w);
    }
    return PER_ROUND;
  };
}

function keyless(): (round: number) => number {
  const { clock, t, shards, nodes, tenants } = rig();
  return () => {
    clock.advance(1000);
    for (let i = 0; i < PER_ROUND; i++) {
      const r = ranks[i]!;
      t.record(
        shards[r & 15]!,
        nodes[r & 3]!,
        tenants[i & 7]!,
        null,
        writes[i] === 1,
        40,
        bytesOf(r),
        latencies[i]!,
        Outcome.Ok,
      );
    }
    return PER_ROUND;
  };
}

/** What every request costs: one count for its shard, node and tenant. */
function countOnly(): (round: number) => number {
  const { clock, t, shards, nodes, tenants } = rig();
  return () => {
    clock.advance(1000);
    for (let i = 0; i < PER_ROUND; i++) {
      const r = ranks[i]!;
      t.count(shards[r & 15]!, nodes[r & 3]!, tenants[i & 7]!, writes[i] === 1);
    }
    t.counters('shard'); // moves to the clock's second, folding the counts in, as a read would
    return PER_ROUND;
  };
}

function offer(budget: number): (round: number) => number {
  const hh = new HeavyHitters({ budget, seed: 7 });
  return (round) => {
    hh.advanceTo(1000 + round);
    for (let i = 0; i < PER_ROUND; i++) {
      const r = ranks[i]!;
      hh.offer(writeKey(key, r), writes[i] === 1, bytesOf(r));
    }
    return PER_ROUND;
  };
}

let sink = 0;
const cmsCu = new CountMinSketch();
const cmsPlain = new CountMinSketch({ conservative: false });
const hll = new HyperLogLog();
const ssPlain = new SpaceSaving();
const ssFiltered = new SpaceSaving();
const cmsForSs = new CountMinSketch();
const ours = new LatencyHistogram();
const theirs = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 2,
});
const counts = new Map<string, number>();
const triples = new Map<string, { reads: number; writes: number; bytes: number }>();

const ns = race({
  'record (full, unsampled)': facade(Infinity),
  'record (full, sampled)': facade(BUDGET),
  'record (keyless: counters only)': keyless(),
  'count (every request: shard, node, tenant)': countOnly(),
  'offer (unsampled)': offer(Infinity),
  'offer (sampled)': offer(BUDGET),
  'write the key (bench overhead in every row)': () => {
    for (let i = 0; i < PER_ROUND; i++) sink ^= writeKey(key, ranks[i]!)[10]!;
    return PER_ROUND;
  },
  'key hash': () => {
    for (let i = 0; i < PER_ROUND; i++) sink ^= keyHash(writeKey(key, ranks[i]!));
    return PER_ROUND;
  },
  'count-min add (conservative)': () => {
    cmsCu.reset();
    for (let i = 0; i < PER_ROUND; i++) cmsCu.add(hashes[i]!, remix(hashes[i]!), 1);
    return PER_ROUND;
  },
  'count-min add (plain)': () => {
    cmsPlain.reset();
    for (let i = 0; i < PER_ROUND; i++) cmsPlain.add(hashes[i]!, remix(hashes[i]!), 1);
    return PER_ROUND;
  },
  'space-saving add': () => {
    ssPlain.reset();
    for (let i = 0; i < PER_ROUND; i++) ssPlain.add(writeKey(key, ranks[i]!), hashes[i]!, 1);
    return PER_ROUND;
  },
  'space-saving add + count-min bound': () => {
    ssFiltered.reset();
    cmsForSs.reset();
    for (let i = 0; i < PER_ROUND; i++) {
      const h = hashes[i]!;
      ssFiltered.add(writeKey(key, ranks[i]!), h, 1, cmsForSs.add(h, remix(h), 1));
    }
    return PER_ROUND;
  },
  'hyperloglog add': () => {
    for (let i = 0; i < PER_ROUND; i++) hll.add(hashes[i]!, remix(hashes[i]!));
    return PER_ROUND;
  },
  'latency histogram record': () => {
    for (let i = 0; i < PER_ROUND; i++) ours.record(latencies[i]!);
    return PER_ROUND;
  },
  'peer: hdr-histogram-js recordValue': () => {
    for (let i = 0; i < PER_ROUND; i++) theirs.recordValue(Math.round(latencies[i]!));
    return PER_ROUND;
  },
  'peer: Map<string, number>': () => {
    counts.clear();
    for (let i = 0; i < PER_ROUND; i++) {
      const k = writeKey(key, ranks[i]!).toString('latin1');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return PER_ROUND;
  },
  'peer: Map<string, {reads,writes,bytes}>': () => {
    triples.clear();
    for (let i = 0; i < PER_ROUND; i++) {
      const r = ranks[i]!;
      const k = writeKey(key, r).toString('latin1');
      let e = triples.get(k);
      if (e === undefined) triples.set(k, (e = { reads: 0, writes: 0, bytes: 0 }));
      if (writes[i] === 1) e.writes++;
      else e.reads++;
      e.bytes += bytesOf(r);
    }
    return PER_ROUND;
  },
});
if (sink === 0.5) console.log('');

/** The 10 M-request accuracy check of the test suite, summarised. */
function accuracy(): Record<string, number> {
  const requests = 10_000_000;
  const seconds = 10;
  const r2 = random(20240611);
  const next = zipf(KEYS, 1.1, r2);
  const truth = new Float64Array(KEYS);
  const hh = new HeavyHitters();
  const per = requests / seconds;
  for (let s = 0; s < seconds; s++) {
    hh.advanceTo(s);
    for (let i = 0; i < per; i++) {
      const r = next();
      truth[r]! += 1;
      hh.offer(writeKey(key, r), false, 0);
    }
  }
  hh.advanceTo(seconds);
  const top = hh.topKeys(seconds, 512, 'reads');
  const byRank = new Map(top.map((k) => [Number(k.key.toString('latin1', 4)), k]));
  let heavy = 0;
  let found = 0;
  let worst = 0;
  let worstError = 0;
  for (let r = 0; r < KEYS; r++) {
    if (truth[r]! < 0.001 * requests) continue;
    heavy++;
    const k = byRank.get(r);
    if (k === undefined) continue;
    found++;
    worst = Math.max(worst, k.reads - truth[r]!);
    worstError = Math.max(worstError, k.readsError);
  }
  return {
    requests,
    heavyKeys: heavy,
    heavyKeysFound: found,
    worstOvercount: worst,
    worstReportedError: worstError,
    boundNOverM: requests / hh.shape.capacity,
    boundEpsN: Math.round((Math.E / hh.shape.width) * requests),
  };
}
const acc = args.accuracy ? accuracy() : undefined;

const round1 = (x: number): number => Math.round(x * 10) / 10;
const mapNs = ns['peer: Map<string, number>']!;
const result = {
  bench: 'sketch',
  node: process.version,
  requestsPerRound: PER_ROUND,
  budgetPerSecond: BUDGET,
  nsPerOp: Object.fromEntries(Object.entries(ns).map(([k, v]) => [k, round1(v)])),
  recordUnsampledVsMap: Math.round((ns['record (full, unsampled)']! / mapNs) * 100) / 100,
  recordSampledVsMap: Math.round((ns['record (full, sampled)']! / mapNs) * 100) / 100,
  ...(acc === undefined ? {} : { accuracy: acc }),
  seconds: round1((Date.now() - started) / 1000),
};
console.log(JSON.stringify(result));
console.log('');
console.log(`${'operation'.padEnd(42)}${'ns/op'.padStart(9)}${'vs Map'.padStart(9)}`);
for (const [name, v] of Object.entries(ns)) {
  console.log(`${name.padEnd(42)}${v.toFixed(1).padStart(9)}${`${(v / mapNs).toFixed(2)}x`.padStart(9)}`);
}
if (acc !== undefined) {
  console.log('');
  console.log(
    `accuracy (10 M Zipf 1.1 reads over 1 M keys): ${acc.heavyKeysFound}/${acc.heavyKeys} keys ≥ 0.1 % found; ` +
      `worst overcount ${acc.worstOvercount} (bounds: N/m = ${acc.boundNOverM}, εN = ${acc.boundEpsN})`,
  );
}
