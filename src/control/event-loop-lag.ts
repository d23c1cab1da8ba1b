/**
 * Event-loop delay gauges in place of prom-client's. Its default set reads a
 * delay histogram and resets it at every scrape, so a scrape that comes
 * before the histogram's next sample (10 ms) reads an empty one: mean and
 * stddev NaN (written `Nan`, which no Prometheus parser accepts) and min
 * 9.2e9 s. Here an empty histogram is not read: the gauges keep the last
 * reading, and the next one covers the time since then.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

const READINGS = {
  min: ['The minimum recorded event loop delay.', (h) => h.min],
  max: ['The maximum recorded event loop delay.', (h) => h.max],
  mean: ['The mean of the recorded event loop delays.', (h) => h.mean],
  stddev: ['The standard deviation of the recorded event loop delays.', (h) => h.stddev],
  p50: ['The 50th percentile of the recorded event loop delays.', (h) => h.percentile(50)],
  p90: ['The 90th percentile of the recorded event loop delays.', (h) => h.percentile(90)],
  p99: ['The 99th percentile of the recorded event loop delays.', (h) => h.percentile(99)],
} satisfies Record<string, [string, (h: ReturnType<typeof monitorEventLoopDelay>) => number]>;

/**
 * Replaces the `<prefix>nodejs_eventloop_lag_{min,max,mean,...}_seconds`
 * families that collectDefaultMetrics registered with ones that never export
 * NaN. `nodejs_eventloop_lag_seconds` (a setImmediate probe) stays.
 */
export function replaceEventLoopLag(registry: Registry, prefix: string): void {
  const histogram = monitorEventLoopDelay();
  histogram.enable();
  const gauges: { read: (h: typeof histogram) => number; gauge: Gauge }[] = [];
  // The first family's collect fills them all, before any of them is serialised.
  const fill = (): void => {
    if (histogram.count === 0) return;
    for (const { read, gauge } of gauges) gauge.set(read(histogram) / 1e9);
    histogram.reset();
  };
  for (const [name, [help, read]] of Object.entries(READINGS)) {
    const full = `${prefix}nodejs_eventloop_lag_${name}_seconds`;
    registry.removeSingleMetric(full);
    const collect = gauges.length === 0 ? fill : undefined;
    gauges.push({
      read,
      gauge: new Gauge({ name: full, help, registers: [registry], ...(collect && { collect }) }),
    });
  }
}
