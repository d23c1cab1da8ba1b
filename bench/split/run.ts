/**
 * What split sampling costs the proxy, measured inside one process, the way
 * bench/telemetry measures telemetry (see there why one process and not two).
 *
 * hotshard runs in this process in front of 4 redis-server nodes while
 * redis-benchmark drives it. Every shard is watched (the worst case: in
 * production only the shards of hot ranges are), and every second the
 * sampler's hook in the instrumentation is switched on or off, so watches keep
 * their strides across phases. Per phase, this process's CPU time and the
 * requests the router dispatched; the cost is CPU per request hooked over
 * unhooked. (With the hook on and nothing watched a request pays one array
 * read: too little to measure this way.)
 *
 * The detector is stopped (its range planner would unwatch the shards: none
 * is hot under redis-benchmark's uniform keys). `--stride adaptive` (default)
 * re-chooses the stride each phase as the planner's tick does, so a shard over
 * DEFAULT_SPLIT_SAMPLE_BUDGET recorded requests/s records every stride-th;
 * `--stride 1` records every request (the cost of the finder itself).
 *
 *   npm run bench:split [-- --seconds 20 --tests get,set --pipelines 16,1 --stride adaptive --partitioner hash]
 */
import { parseArgs } from 'node:util';
import { startTestHotshard } from '../../src/testkit/hotshard.js';
import { runRedisBenchmark } from '../lib/redis-benchmark.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    tests: { type: 'string', default: 'get,set' },
    pipelines: { type: 'string', default: '16,1' },
    stride: { type: 'string', default: 'adaptive' },
    partitioner: { type: 'string', default: 'hash' },
  },
});
const seconds = Number(values.seconds);
if (!(seconds >= 4)) throw new Error(`--seconds must be at least 4, got ${values.seconds}`);
if (!['adaptive', '1'].includes(values.stride))
  throw new Error(`--stride takes adaptive or 1, got ${values.stride}`);
if (!['hash', 'range'].includes(values.partitioner))
  throw new Error(`--partitioner takes hash or range, got ${values.partitioner}`);
const tests = values.tests.split(',');
const pipelines = values.pipelines.split(',').map(Number);
const PHASE_MS = 1000;

const t = await startTestHotshard({
  backend: 'redis',
  partitioner: values.partitioner as 'hash' | 'range',
  // redis-benchmark's keys are key:<12 digits>: range shards cut inside them.
  ...(values.partitioner === 'range'
    ? {
        splits: Array.from(
          { length: 15 },
          (_, i) => `key:${String(Math.round(((i + 1) * 100_000) / 16)).padStart(12, '0')}`,
        ),
      }
    : {}),
});
const { router, monitor, rangePlanning } = t.hs;
if (monitor === undefined || rangePlanning === undefined) throw new Error('telemetry is off in this build');
monitor.stop();
const sampler = rangePlanning.sampler;
const all = router.table.shards.map((s) => s.id);

const instrumentation = router.instrumentation!;
// Every shard watched throughout, so each keeps its finder and stride; what is switched is the
// hook itself: on, every request passes the sampler; off, none does (the build before it).
sampler.watchOnly(all);
let hooked = false;
function watch(on: boolean): void {
  hooked = on;
  instrumentation.splitSampler = on ? sampler : undefined;
}
// As the range planner's tick would (every detector tick): strides follow the rate. Only while
// hooked: a second unhooked would read as no traffic and reset them.
const strides =
  values.stride === 'adaptive'
    ? setInterval(() => {
        if (hooked) sampler.tick();
      }, 100)
    : undefined;

interface Phase {
  on: boolean;
  cpuMicros: number;
  requests: number;
}

async function measure(test: string, pipeline: number): Promise<Phase[]> {
  const phases: Phase[] = [];
  let on = true;
  watch(on);
  let cpu = process.cpuUsage();
  let commands = router.stats.commands;
  const timer = setInterval(() => {
    const nowCpu = process.cpuUsage();
    const nowCommands = router.stats.commands;
    phases.push({
      on,
      cpuMicros: nowCpu.user - cpu.user + nowCpu.system - cpu.system,
      requests: nowCommands - commands,
    });
    cpu = nowCpu;
    commands = nowCommands;
    on = !on;
    watch(on);
  }, PHASE_MS);
  const stop = new AbortController();
  const end = setTimeout(() => stop.abort(), (seconds + 2) * 1000);
  try {
    await runRedisBenchmark({
      port: t.port,
      tests: [test],
      requests: 100_000_000,
      pipeline,
      clients: 50,
      signal: stop.signal,
      timeoutMs: (seconds + 60) * 1000,
    }).catch((err: unknown) => {
      if (!stop.signal.aborted) throw err;
    });
  } finally {
    clearTimeout(end);
    clearInterval(timer);
    watch(false);
  }
  const kept = phases.slice(2);
  return kept.slice(0, kept.length - (kept.length % 2));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

const summary: Array<Record<string, number | string>> = [];
let recorded = 0;
try {
  for (const pipeline of pipelines) {
    for (const test of tests) {
      process.stderr.write(
        `${test.toUpperCase()} P${pipeline}: ${seconds} s, every shard watched / none, switched every ${PHASE_MS} ms\n`,
      );
      const phases = await measure(test, pipeline);
      const total = (on: boolean): { cpu: number; req: number } =>
        phases
          .filter((p) => p.on === on)
          .reduce((a, p) => ({ cpu: a.cpu + p.cpuMicros, req: a.req + p.requests }), { cpu: 0, req: 0 });
      const a = total(true);
      const b = total(false);
      const pairs: number[] = [];
      for (let i = 0; i + 1 < phases.length; i += 2) {
        const [x, y] = [phases[i]!, phases[i + 1]!];
        const [pOn, pOff] = x.on ? [x, y] : [y, x];
        pairs.push(pOn.cpuMicros / pOn.requests / (pOff.cpuMicros / pOff.requests));
      }
      pairs.sort((p, q) => p - q);
      summary.push({
        test: `${test.toUpperCase()} P${pipeline}`,
        phases: phases.length,
        cpuMicrosWatched: Number((a.cpu / a.req).toFixed(3)),
        cpuMicrosUnwatched: Number((b.cpu / b.req).toFixed(3)),
        costPercent: Number((100 * (a.cpu / a.req / (b.cpu / b.req) - 1)).toFixed(1)),
        pairMedianPercent: Number((100 * (median(pairs) - 1)).toFixed(1)),
        pairLowPercent: Number((100 * (pairs[Math.floor(pairs.length / 4)]! - 1)).toFixed(1)),
        pairHighPercent: Number((100 * (pairs[Math.floor((3 * pairs.length) / 4)]! - 1)).toFixed(1)),
        rpsWatched: Math.round(a.req / ((phases.length / 2) * (PHASE_MS / 1000))),
        rpsUnwatched: Math.round(b.req / ((phases.length / 2) * (PHASE_MS / 1000))),
      });
    }
  }
  recorded = router.table.shards.length;
} finally {
  clearInterval(strides);
  await t.stop();
}

console.log(
  JSON.stringify({
    bench: 'split-sampling',
    stride: values.stride,
    partitioner: values.partitioner,
    shards: recorded,
    phaseMs: PHASE_MS,
    seconds,
    summary,
  }),
);
console.log(
  '\ntest      CPU µs/req watched  none   cost   per pair: median (quartiles)   req/s watched    none',
);
for (const s of summary) {
  const pair = `${s.pairMedianPercent} % (${s.pairLowPercent} … ${s.pairHighPercent})`;
  console.log(
    `${String(s.test).padEnd(9)} ${String(s.cpuMicrosWatched).padStart(18)} ${String(s.cpuMicrosUnwatched).padStart(6)} ${`${s.costPercent} %`.padStart(7)}   ${pair.padEnd(28)} ${String(s.rpsWatched).padStart(13)} ${String(s.rpsUnwatched).padStart(7)}`,
  );
}
