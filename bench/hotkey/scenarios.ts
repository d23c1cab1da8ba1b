/**
 * bench:hotkey (a) and (b): a read-hot key and a write-hot counter on the
 * embedded cluster, each run twice in one go — mitigation on (automation
 * `auto`) and off (`manual`: detected, not acted on) — so every figure
 * stands beside its peer from the same run.
 *
 * Backend load is read at the nodes (`MemoryBackend.commandsProcessed`), not
 * from the router's telemetry, which counts what clients asked for: a cache
 * hit is demand that never reached a node.
 */
import { pino } from 'pino';
import { MemoryBackend } from '../../src/backend/memory.js';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { runLoad } from '../../src/load/generator.js';
import { runScenario } from '../../src/load/scenario-runner.js';
import type { ScenarioReport } from '../../src/load/scenario-report.js';
import { celebrityRead } from '../../src/load/scenarios/celebrity-read.js';

/** Commands each node executed, sampled once a second while a run lasts. */
class NodeSampler {
  readonly samples: { at: number; counts: number[] }[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  start(hs: Hotshard): void {
    const nodes = [...hs.router.backends.values()].filter(
      (b): b is MemoryBackend => b instanceof MemoryBackend,
    );
    const take = (): void =>
      void this.samples.push({ at: Date.now(), counts: nodes.map((n) => n.commandsProcessed) });
    take();
    this.#timer = setInterval(take, 1000);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Each node's share of the commands executed between two times (ms since the epoch). */
  shares(from: number, to: number): number[] {
    const a = this.samples.find((s) => s.at >= from) ?? this.samples[0];
    const b = [...this.samples].reverse().find((s) => s.at <= to) ?? this.samples.at(-1);
    if (a === undefined || b === undefined) return [];
    const delta = b.counts.map((c, i) => c - a.counts[i]!);
    const total = delta.reduce((x, y) => x + y, 0);
    return delta.map((d) => (total === 0 ? 0 : d / total));
  }
}

/** One leg of (a). */
export interface ReadHotLeg {
  readonly automation: 'auto' | 'manual';
  readonly p99BeforeMs: number;
  readonly p99DuringMs: number;
  readonly p99AfterMs: number;
  /** The busiest node's share of backend commands before the onset and over the last 10 s. */
  readonly hotNodeShareBefore: number;
  readonly hotNodeShareAfter: number;
  /** Onset to p99 back under the SLO for good; null when it never was. */
  readonly p99RestoreSeconds: number | null;
  readonly actions: number;
  readonly failed: number;
}

const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;

/** (a): celebrity-read, the hot key at `share` of all traffic over capacity-bounded embedded nodes. */
export async function readHot(
  hotShare: number,
  log: (line: string) => void,
  durationSeconds = 30,
): Promise<{ legs: ReadHotLeg[]; sloP99Ms: number }> {
  const legs: ReadHotLeg[] = [];
  let slo = 0;
  for (const automation of ['manual', 'auto'] as const) {
    const sampler = new NodeSampler();
    let started = 0;
    const def = {
      ...celebrityRead,
      workload: (t: Parameters<typeof celebrityRead.workload>[0]) => {
        const w = celebrityRead.workload(t);
        return {
          ...w,
          distribution: { ...(w.distribution as object), share: hotShare } as NonNullable<
            typeof w.distribution
          >,
        };
      },
    };
    const onset = 10;
    const r: ScenarioReport = await runScenario(def, {
      timing: { durationSeconds, onsetSecond: onset },
      config: { automation },
      onStart: (hs) => {
        started = Date.now();
        sampler.start(hs);
      },
    });
    sampler.stop();
    slo = r.sloP99Ms;
    const p99 = (from: number, to: number): number =>
      mean(r.series.filter((s) => s.t >= from && s.t < to).map((s) => s.p99));
    const startMs = Date.parse(r.startedAt) || started;
    const share = (from: number, to: number): number =>
      Math.max(0, ...sampler.shares(startMs + from * 1000, startMs + to * 1000));
    const leg: ReadHotLeg = {
      automation,
      p99BeforeMs: p99(onset - 5, onset),
      p99DuringMs: p99(onset, onset + 5),
      p99AfterMs: p99(durationSeconds - 10, durationSeconds),
      hotNodeShareBefore: share(onset - 5, onset),
      hotNodeShareAfter: share(durationSeconds - 10, durationSeconds),
      p99RestoreSeconds: r.p99RestoreSeconds,
      actions: r.actions?.length ?? 0,
      failed: r.totals.errors,
    };
    log(
      `  (a) ${automation.padEnd(6)} p99 before/during/after ${leg.p99BeforeMs.toFixed(1)}/${leg.p99DuringMs.toFixed(1)}/${leg.p99AfterMs.toFixed(1)} ms, hot node share ${(100 * leg.hotNodeShareBefore).toFixed(0)}% → ${(100 * leg.hotNodeShareAfter).toFixed(0)}%, restore ${leg.p99RestoreSeconds ?? 'never'} s, ${leg.actions} action events`,
    );
    legs.push(leg);
  }
  return { legs, sloP99Ms: slo };
}

/** One leg of (b). */
export interface CounterLeg {
  readonly automation: 'auto' | 'manual';
  readonly acknowledged: number;
  readonly finalCount: number;
  readonly failed: number;
  /** The counter's backend writes per acknowledged increment, after the first `settleSeconds` (detection and planning). */
  readonly backendWritesPerIncrement: number;
  readonly incrPerSec: number;
}

/** (b): one counter INCRed at `rate`/s from many connections; exact count and backend writes per increment. */
export async function viralCounter(
  rate: number,
  seconds: number,
  log: (line: string) => void,
  settleSeconds = 3,
): Promise<CounterLeg[]> {
  const legs: CounterLeg[] = [];
  for (const automation of ['manual', 'auto'] as const) {
    const hs = await startHotshard(
      loadConfig({
        flags: { nodes: 4, shards: 16, respPort: 0, httpPort: 0, logLevel: 'silent', automation },
      }),
      pino({ level: 'silent' }),
    );
    try {
      const key = 'likes:counter:000000000000';
      // The counter's backend writes: what its aggregation sent (INCRBY batches), plus every
      // increment that went to the node unaggregated. The node also serves the app's traffic,
      // so its own command count would not tell the counter's writes apart.
      const aggregated = (): { writes: number; increments: number } => {
        const a = hs.policies.get(Buffer.from(key))?.status['aggregate'] as
          { backendWrites: number; increments: number } | undefined;
        return { writes: a?.backendWrites ?? 0, increments: a?.increments ?? 0 };
      };
      let acknowledged = 0;
      let failed = 0;
      let atSettle: { writes: number; increments: number; acked: number } | undefined;
      const settle = setTimeout(
        () => (atSettle = { ...aggregated(), acked: acknowledged }),
        settleSeconds * 1000,
      );
      // Sampled while the run lasts: a revert (or close) clears the remedy's status.
      let last = aggregated();
      const sampler = setInterval(() => {
        const now = aggregated();
        if (now.increments >= last.increments) last = now;
      }, 100);
      const started = Date.now();
      await runLoad({
        target: { kind: 'resp', host: '127.0.0.1', port: hs.respPort, connections: 64 },
        // The viral-counter scenario's traffic: an app's reads and writes over 100k keys
        // beside the one counter (the detector tells a hot key by its share of a busy shard).
        workload: {
          keys: 100_000,
          tenants: [
            { name: 'app', rate: 8000, ops: { get: 90, set: 10 } },
            { name: 'likes', rate, keys: 1, ops: { incr: 1 } },
          ],
        },
        durationMs: seconds * 1000,
        timeoutMs: 5000,
        onRequest: (_key, op, ok) => {
          if (op !== 'incr') return;
          if (ok) acknowledged++;
          else failed++;
        },
      });
      clearTimeout(settle);
      clearInterval(sampler);
      const end = aggregated();
      if (end.increments >= last.increments) last = end;
      const elapsed = (Date.now() - started) / 1000;
      const finalCount = Number(await getValue(hs, key));
      const from = atSettle ?? { writes: 0, increments: 0, acked: 0 };
      const acked = acknowledged - from.acked;
      const viaBatches = last.increments - from.increments;
      const writes = last.writes - from.writes + Math.max(0, acked - viaBatches);
      const leg: CounterLeg = {
        automation,
        acknowledged,
        finalCount,
        failed,
        backendWritesPerIncrement: acked === 0 ? 0 : writes / acked,
        incrPerSec: acknowledged / elapsed,
      };
      log(
        `  (b) ${automation.padEnd(6)} ${Math.round(leg.incrPerSec)} INCR/s acknowledged ${acknowledged}, final GET ${finalCount} (${finalCount === acknowledged ? 'exact' : 'MISMATCH'}), backend writes per increment ${leg.backendWritesPerIncrement.toFixed(4)}`,
      );
      legs.push(leg);
    } finally {
      await hs.close();
    }
  }
  return legs;
}

async function getValue(hs: Hotshard, key: string): Promise<string | null> {
  const { Redis } = await import('ioredis');
  const c = new Redis({ host: '127.0.0.1', port: hs.respPort, lazyConnect: true });
  await c.connect();
  try {
    return await c.get(key);
  } finally {
    c.disconnect();
  }
}
