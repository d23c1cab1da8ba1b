/**
 * Where telemetry's time goes inside a live proxy: hotshard runs in this
 * process in front of 4 redis-server nodes under redis-benchmark, with the
 * telemetry's own entry points wrapped in timers (measure, begin, the
 * measure log's drain, the sketches' offer, ring rotation, the detector
 * tick). Prints each one's calls and ms of wall time per second of load,
 * next to the process's CPU per request and its GC count.
 *
 * The timers add ≈ 0.2 µs a call, so the figures run a little high; they
 * time the telemetry's own work, not what it does to the rest of the proxy
 * (bench:proxy's on/off pair measures that).
 *
 * Run with `node --expose-gc` to also print the heap used after a full GC
 * at the end of the load; `--off` runs the same load with telemetry off
 * (no timers then), for the heap and CPU per request to compare.
 *
 *   node [--expose-gc] --import tsx bench/telemetry/timing.ts [--test get] [--pipeline 16] [--requests 3000000] [--budget N] [--off]
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { Monitor } from '../../src/control/monitor.js';
import { EntityCounters } from '../../src/telemetry/counters.js';
import { MeasureLog } from '../../src/telemetry/measure-log.js';
import { RouterTelemetry } from '../../src/telemetry/router-telemetry.js';
import { HeavyHitters } from '../../src/telemetry/sketches/heavy-hitters.js';
import { startTestHotshard } from '../../src/testkit/hotshard.js';
import { runRedisBenchmark } from '../lib/redis-benchmark.js';

const { values } = parseArgs({
  options: {
    test: { type: 'string', default: 'get' },
    pipeline: { type: 'string', default: '16' },
    requests: { type: 'string', default: '3000000' },
    budget: { type: 'string' },
    off: { type: 'boolean', default: false },
  },
});

const spent = new Map<string, { ms: number; calls: number }>();
function timed(proto: object, method: string, label: string): void {
  const target = proto as Record<string, (...args: unknown[]) => unknown>;
  const original = target[method]!;
  target[method] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      const e = spent.get(label) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t0;
      e.calls++;
      spent.set(label, e);
    }
  };
}
timed(RouterTelemetry.prototype, 'measure', 'RouterTelemetry.measure (append, or fold when full)');
timed(RouterTelemetry.prototype, 'begin', 'RouterTelemetry.begin');
timed(MeasureLog.prototype, 'drain', 'MeasureLog.drain');
timed(HeavyHitters.prototype, 'offer', 'HeavyHitters.offer (inside drains)');
timed(EntityCounters.prototype, 'advanceTo', 'EntityCounters.advanceTo');
timed(HeavyHitters.prototype, 'advanceTo', 'HeavyHitters.advanceTo');
timed(Monitor.prototype, 'tick', 'Monitor.tick');

let gcs = 0;
const gcWatch = new PerformanceObserver((list) => void (gcs += list.getEntries().length));
gcWatch.observe({ entryTypes: ['gc'] });

const t = await startTestHotshard({
  backend: 'redis',
  telemetry: !values.off,
  ...(values.budget === undefined ? {} : { telemetrySampleBudget: Number(values.budget) }),
});
try {
  const pipeline = Number(values.pipeline);
  const run = (test: string, requests: number): Promise<unknown> =>
    runRedisBenchmark({ port: t.port, tests: [test], requests, pipeline, clients: 50, timeoutMs: 300_000 });
  await run('set', 300_000); // fill
  await run(values.test, 1_000_000); // warm up
  spent.clear();
  gcs = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const requests0 = t.hs.router.stats.commands;
  await run(values.test, Number(values.requests));
  const cpu = process.cpuUsage(cpu0);
  const seconds = (performance.now() - wall0) / 1000;
  const requests = t.hs.router.stats.commands - requests0;
  const perSecond = (ms: number): string => (ms / seconds).toFixed(2);
  process.stdout.write(
    `${values.test.toUpperCase()} P${pipeline}: ${requests} requests in ${seconds.toFixed(1)} s, ` +
      `${(((cpu.user + cpu.system) / requests) * 1).toFixed(2)} µs CPU a request, ${gcs} GCs\n`,
  );
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
    const mb = v8.getHeapStatistics().used_heap_size / 1e6;
    process.stdout.write(
      `  heap used after a full GC: ${mb.toFixed(2)} MB (telemetry ${values.off ? 'off' : 'on'})\n`,
    );
  }
  for (const [label, e] of spent)
    process.stdout.write(
      `  ${label.padEnd(52)} ${String(e.calls).padStart(8)} calls  ${perSecond(e.ms)} ms/s\n`,
    );
} finally {
  gcWatch.disconnect();
  await t.stop();
}
