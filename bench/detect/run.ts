/**
 * Detection benchmark.
 *
 * 1. The traffic lab's celebrity-read, viral-counter, hot-range and
 *    noisy-tenant run for real on the embedded cluster (RESP load through the
 *    router); per case: detection latency from the onset, whether the
 *    classification is right, and the target (≤ 1 s hot key, ≤ 5 s others).
 * 2. False alarms: 5 simulated minutes of uniform load, and of slowly drifting
 *    load, at 8 × the telemetry's sample budget (so measured through the same
 *    weighted sample as a loaded router), fed through the same telemetry,
 *    snapshot and detector code on a manual clock, ticking as the monitor's
 *    timer decides with the default config (tickDue: detector.tickMs,
 *    quietTickMs, a proving hot key at the next half tick). Target: 0
 *    hotspots.
 *    A Zipf(0.99) run is shown for information: its heavy keys are real, so
 *    only warning-or-worse counts there.
 *
 *   npm run bench:detect [-- --seconds 20 --onset 8]
 */
import { parseArgs } from 'node:util';
import { ManualClock } from '../../src/clock.js';
import { loadConfig } from '../../src/config.js';
import { keyTripwire, tickDue } from '../../src/control/monitor.js';
import { Detector } from '../../src/detect/detector.js';
import type { Hotspot } from '../../src/detect/hotspot.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { runScenario } from '../../src/load/scenario-runner.js';
import { scenarioByName } from '../../src/load/scenarios/index.js';
import { createRng } from '../../src/load/random.js';
import { zipf } from '../../src/load/distributions.js';
import { DEFAULT_SAMPLE_BUDGET, Outcome, RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { buildSnapshot, type ShardPlacement } from '../../src/telemetry/snapshot.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    onset: { type: 'string', default: '8' },
    minutes: { type: 'string', default: '5' },
  },
});
const seconds = Number(values.seconds);
const onset = Number(values.onset);
const minutes = Number(values.minutes);

interface CaseResult {
  case: string;
  expected: string;
  detected: string | null;
  latencyMs: number | null;
  targetMs: number;
  correct: boolean;
  met: boolean;
}

const cases: CaseResult[] = [];
for (const [name, targetMs] of [
  ['celebrity-read', 1000],
  ['viral-counter', 1000],
  ['hot-range', 5000],
  ['noisy-tenant', 5000],
] as const) {
  process.stderr.write(`running ${name} (${seconds} s, onset at ${onset} s) ...\n`);
  const r = await runScenario(scenarioByName(name)!, {
    timing: { durationSeconds: seconds, onsetSecond: onset },
  });
  const latency = r.detection?.latencyFromOnsetMs ?? null;
  cases.push({
    case: name,
    expected: `${r.expected.kind} ${r.expected.subject}`,
    detected: r.classification,
    latencyMs: latency,
    targetMs,
    correct: r.detection?.correct ?? false,
    met: (r.detection?.correct ?? false) && latency !== null && latency <= targetMs,
  });
}

/** Simulated load straight into telemetry on a manual clock; returns what the detector raised. */
function simulate(
  label: string,
  rateOf: (t: number, shardOfKey: number) => number,
  pickKey: (rng: () => number, t: number) => number,
): { label: string; raised: Hotspot[]; paging: number } {
  const clock = new ManualClock(1_800_000_000_000);
  const telemetry = new RouterTelemetry({ clock });
  const nodes = ['n0', 'n1', 'n2', 'n3'].map(nodeId);
  const table = RoutingTable.create({ partitioner: hashPartitioner(), nodes, shards: 16 });
  const keys = Array.from({ length: 100_000 }, (_, i) => Buffer.from(`key:${String(i).padStart(12, '0')}`));
  const route = keys.map((k) => {
    const s = table.shardFor(k);
    return {
      shard: telemetry.shardIndex(s.id),
      node: telemetry.nodeIndex(s.node),
      shardNo: table.shards.indexOf(s),
    };
  });
  const tenant = telemetry.tenantIndex('default');
  const shards = new Map<string, ShardPlacement>(
    table.shards.map((s) => [
      s.id,
      { node: s.node, range: [String(s.start), s.end === null ? null : String(s.end)], capacity: 2500 },
    ]),
  );
  const detector = new Detector();
  const rng = createRng(7, label);
  const random = (): number => rng.nextFloat();
  const raised: Hotspot[] = [];
  // As the monitor's timer decides with the default config (tickDue): it
  // fires every half tick.
  const { tickMs, quietTickMs } = loadConfig().detector;
  const halfMs = tickMs / 2;
  const quietHalves = 2 * Math.max(1, Math.ceil(quietTickMs / tickMs));
  let halves = 0;
  const stepMs = 5; // requests are spread over 5 ms slices
  for (let t = 0; t < minutes * 60_000; t += stepMs) {
    const rate = rateOf(t, 0);
    const n = Math.round((rate * stepMs) / 1000);
    for (let i = 0; i < n; i++) {
      const k = pickKey(random, t);
      const r = route[k]!;
      // Drift: a shard's traffic is thinned by its weight (rateOf with the shard number).
      if (random() > rateOf(t, r.shardNo + 1)) continue;
      // As the router does: count every request, measure a sample (above the budget).
      const write = random() < 0.1;
      telemetry.count(r.shard, r.node, tenant, write);
      const w = telemetry.sample();
      if (w === 0) continue;
      const latency = 200 + random() * 600; // µs: healthy nodes
      telemetry.measure(r.shard, r.node, tenant, keys[k]!, write, 40, 80, latency, Outcome.Ok, w);
    }
    clock.advance(stepMs);
    const at = t + stepMs;
    if (at % halfMs !== 0) continue;
    halves++;
    const due = tickDue({
      halves,
      quietHalves,
      watching: detector.watching,
      provingHotKey: detector.provingHotKey,
      tripped: () => keyTripwire(telemetry, detector.rules),
    });
    if (due) {
      halves = 0;
      const snap = buildSnapshot(telemetry, {
        windowSeconds: 1,
        withCurrent: true,
        sloP99Ms: 20,
        shards,
        locate: (key) => {
          const s = table.shardFor(key);
          return { shard: s.id, node: s.node };
        },
      });
      for (const e of detector.tick(snap)) if (e.type === 'raised') raised.push(e.hotspot);
    }
  }
  return { label, raised, paging: raised.filter((h) => h.severity !== 'info').length };
}

process.stderr.write(`simulating ${minutes} minutes of uniform, drifting and zipf load ...\n`);
// Above the sample budget (DEFAULT_SAMPLE_BUDGET), so the false-alarm runs see
// the weighted sample the router's telemetry keeps at load, not every request.
const RATE = 8 * DEFAULT_SAMPLE_BUDGET;
const uniformRun = simulate(
  'uniform',
  (_t, shard) => (shard === 0 ? RATE : 1),
  (rnd) => Math.floor(rnd() * 100_000),
);
// Each shard's share drifts by ±30 % over the run, slowly (a period of the whole run).
const drift = (t: number, shard: number): number =>
  shard === 0 ? RATE * 1.3 : (1 + 0.3 * Math.sin((2 * Math.PI * t) / (minutes * 60_000) + shard)) / 1.3;
const driftRun = simulate('slow drift', drift, (rnd) => Math.floor(rnd() * 100_000));
const z = zipf(100_000, 0.99);
const zrng = createRng(9, 'zipf');
const zipfRun = simulate(
  'zipf 0.99 (info)',
  (_t, shard) => (shard === 0 ? RATE : 1),
  () => z.next(zrng, 0),
);

const falseAlarms = [uniformRun, driftRun].map((r) => ({
  load: r.label,
  hotspots: r.raised.length,
  paging: r.paging,
  kinds: [...new Set(r.raised.map((h) => `${h.kind}/${h.severity}`))],
}));
const info = {
  load: zipfRun.label,
  hotspots: zipfRun.raised.length,
  paging: zipfRun.paging,
  kinds: [...new Set(zipfRun.raised.map((h) => `${h.kind}/${h.severity}`))],
};

console.log(JSON.stringify({ bench: 'detect', cases, falseAlarms, info, minutes }));
console.log(
  '\ncase              expected                                 detected                                 latency   target   result',
);
for (const c of cases) {
  console.log(
    `${c.case.padEnd(17)} ${c.expected.padEnd(40)} ${(c.detected ?? 'nothing').padEnd(40)} ${(c.latencyMs === null ? '—' : `${c.latencyMs} ms`).padStart(8)} ${`≤ ${c.targetMs} ms`.padStart(9)}   ${c.met ? 'ok' : c.correct ? 'late' : 'WRONG'}`,
  );
}
console.log(`\nfalse alarms over ${minutes} simulated minutes (target 0)`);
for (const f of [...falseAlarms, info])
  console.log(
    `  ${f.load.padEnd(18)} hotspots ${String(f.hotspots).padStart(3)}  paging ${String(f.paging).padStart(3)}  ${f.kinds.join(', ')}`,
  );
