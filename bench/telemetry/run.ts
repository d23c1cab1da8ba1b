/**
 * What telemetry costs the proxy, measured inside one process.
 *
 * hotshard runs in this process in front of 4 redis-server nodes while
 * redis-benchmark (another process) drives it. Every second, telemetry is
 * switched on or off: the router's instrumentation (`router.instrument`) and
 * the detector tick (`monitor.start/stop`). Per phase, this process's CPU time
 * (`process.cpuUsage`) and the requests the router dispatched. The cost is
 * CPU per request with telemetry on over CPU per request off, from the phase
 * totals; the spread is that ratio over each on/off pair of phases.
 *
 * Why not two processes (one with `--no-telemetry`): on a shared 2-core
 * machine two processes running the same build differ by ±20 % in CPU per
 * request from run to run (JIT decisions, memory layout, neighbours), more
 * than the few percent measured. Here both sides share one process, one JIT
 * state and the same seconds of machine load. What stays on in both phases:
 * prom-client's default collectors (an event-loop delay timer) and the
 * telemetry's memory; the two-process comparison with throughput is
 * `npm run bench:proxy` (telemetry on/off column).
 *
 * `--toggle instrumentation` switches only the per-request half (the detector
 * ticks throughout), `--toggle detector` only the detector tick (requests
 * are measured throughout), to see which half costs what. `--toggle heat`
 * switches only what the dashboard's heat adds with everything else on: the
 * keyspace heat fed by each measured request (RouterTelemetry.keySink) and
 * the heat history's once-a-second tick (SSE column, stored blocks).
 *
 *   npm run bench:telemetry [-- --seconds 20 --tests get,set --pipelines 16,1 --toggle all|instrumentation|detector|heat]
 */
import { parseArgs } from 'node:util';
import { KeyspaceHeat } from '../../src/control/heat-keyspace.js';
import { startTestHotshard } from '../../src/testkit/hotshard.js';
import { runRedisBenchmark } from '../lib/redis-benchmark.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    tests: { type: 'string', default: 'get,set' },
    pipelines: { type: 'string', default: '16,1' },
    toggle: { type: 'string', default: 'all' },
  },
});
const toggle = values.toggle;
if (!['all', 'instrumentation', 'detector', 'heat'].includes(toggle))
  throw new Error(`--toggle takes all, instrumentation, detector or heat, got ${toggle}`);
const seconds = Number(values.seconds);
if (!(seconds >= 4)) throw new Error(`--seconds must be at least 4, got ${values.seconds}`);
const tests = values.tests.split(',');
const pipelines = values.pipelines.split(',').map(Number);
const PHASE_MS = 1000;

const t = await startTestHotshard({ backend: 'redis' });
const { router, monitor } = t.hs;
const instrumentation = router.instrumentation;
if (instrumentation === undefined || monitor === undefined) throw new Error('telemetry is off in this build');

const { heat } = t.hs;
const keyspace = new KeyspaceHeat(() => router.table);

/** What is switched: all telemetry, one half of it while the other stays on, or the dashboard's heat. */
function telemetry(on: boolean): void {
  if (toggle === 'heat') {
    t.hs.telemetry!.keySink = on ? keyspace : undefined;
    if (on) heat!.start();
    else void heat!.stop();
    return;
  }
  if (toggle !== 'detector') router.instrument(on ? instrumentation : undefined);
  if (toggle === 'instrumentation') return;
  if (on) monitor!.start();
  else monitor!.stop();
}

interface Phase {
  on: boolean;
  cpuMicros: number;
  requests: number;
}

/** Runs one redis-benchmark test for `seconds` while switching telemetry every PHASE_MS; returns the phases after the first two. */
async function measure(test: string, pipeline: number): Promise<Phase[]> {
  const phases: Phase[] = [];
  let on = true;
  telemetry(on);
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
    telemetry(on);
  }, PHASE_MS);
  // redis-benchmark gets more requests than it can send in time and is stopped.
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
    telemetry(true);
  }
  // The first pair warms up; whole pairs only (the phase cut short by the end
  // of the run is never recorded).
  const kept = phases.slice(2);
  return kept.slice(0, kept.length - (kept.length % 2));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

const summary: Array<Record<string, number | string>> = [];
try {
  for (const pipeline of pipelines) {
    for (const test of tests) {
      process.stderr.write(
        `${test.toUpperCase()} P${pipeline}: ${seconds} s, telemetry switched every ${PHASE_MS} ms\n`,
      );
      const phases = await measure(test, pipeline);
      const total = (on: boolean): { cpu: number; req: number } =>
        phases
          .filter((p) => p.on === on)
          .reduce((a, p) => ({ cpu: a.cpu + p.cpuMicros, req: a.req + p.requests }), { cpu: 0, req: 0 });
      const a = total(true);
      const b = total(false);
      const perOn = a.cpu / a.req;
      const perOff = b.cpu / b.req;
      const pairs: number[] = [];
      for (let i = 0; i + 1 < phases.length; i += 2) {
        const x = phases[i]!;
        const y = phases[i + 1]!;
        const [pOn, pOff] = x.on ? [x, y] : [y, x];
        pairs.push(pOn.cpuMicros / pOn.requests / (pOff.cpuMicros / pOff.requests));
      }
      pairs.sort((p, q) => p - q);
      summary.push({
        test: `${test.toUpperCase()} P${pipeline}`,
        phases: phases.length,
        cpuMicrosOn: Number(perOn.toFixed(3)),
        cpuMicrosOff: Number(perOff.toFixed(3)),
        costPercent: Number((100 * (perOn / perOff - 1)).toFixed(1)),
        pairMedianPercent: Number((100 * (median(pairs) - 1)).toFixed(1)),
        pairLowPercent: Number((100 * (pairs[Math.floor(pairs.length / 4)]! - 1)).toFixed(1)),
        pairHighPercent: Number((100 * (pairs[Math.floor((3 * pairs.length) / 4)]! - 1)).toFixed(1)),
        rpsOn: Math.round(a.req / ((phases.length / 2) * (PHASE_MS / 1000))),
        rpsOff: Math.round(b.req / ((phases.length / 2) * (PHASE_MS / 1000))),
      });
    }
  }
} finally {
  await t.stop();
}

console.log(JSON.stringify({ bench: 'telemetry', toggle, phaseMs: PHASE_MS, seconds, summary }));
console.log(
  '\ntest      CPU µs/req on    off   telemetry cost   per pair: median (quartiles)   req/s on     off',
);
for (const s of summary) {
  const pair = `${s.pairMedianPercent} % (${s.pairLowPercent} … ${s.pairHighPercent})`;
  console.log(
    `${String(s.test).padEnd(9)} ${String(s.cpuMicrosOn).padStart(13)} ${String(s.cpuMicrosOff).padStart(6)} ${`${s.costPercent} %`.padStart(16)}   ${pair.padEnd(28)} ${String(s.rpsOn).padStart(9)} ${String(s.rpsOff).padStart(7)}`,
  );
}
