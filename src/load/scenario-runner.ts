/**
 * Runs a scenario: starts hotshard (embedded nodes, or in front of given Redis
 * nodes), drives its workload open-loop from a thread of its own
 * (load-thread.ts: a heap apart, so the generator's garbage does not pause
 * the router it measures), injects the skew at the onset, follows
 * the detector's events, then reads every acknowledged write back and builds
 * the ScenarioReport from the router's own per-second telemetry.
 *
 * Nothing is estimated on the client side: per-shard and per-node load come
 * from what the router counted, latency from the load generator (from the
 * intended send time), detection from the detector's events.
 */
import { loadConfig, type ConfigInput } from '../config.js';
import type { Hotspot } from '../detect/hotspot.js';
import { incidentLine, type Incident } from '../control/incident.js';
import { startHotshard, type Hotshard } from '../hotshard.js';
import { servedCommandsOf } from '../rebalance/range-planning.js';
import { pino } from 'pino';
import type { SecondStats } from './generator.js';
import { LoadThread } from './load-thread.js';
import type {
  Imbalance,
  ReportAction,
  ReportDetection,
  ReportTarget,
  ScenarioReport,
  ScenarioSecond,
} from './scenario-report.js';
import {
  onsetMs as onsetOf,
  type ScenarioDefinition,
  type ScenarioTiming,
  type TargetDecl,
} from './scenarios/scenario.js';

/** How to run a scenario. */
export interface ScenarioOptions {
  /** Redis nodes (host:port) instead of embedded nodes. */
  readonly redis?: readonly string[];
  readonly seed?: number;
  /** Shorter or longer runs (tests use short ones); the skew keeps its place relative to the baseline. */
  readonly timing?: Partial<ScenarioTiming>;
  /** Called with a line per second (the live timeline) and per event. */
  readonly onLine?: (line: string) => void;
  /** Extra hotshard configuration. */
  readonly config?: ConfigInput;
  /** Called once the cluster is up, before the load starts (benchmarks sample the nodes). */
  readonly onStart?: (hs: Hotshard) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function imbalance(series: readonly ScenarioSecond[], from: number, to: number): Imbalance {
  const window = series.filter((s) => s.t >= from && s.t < to);
  // What the nodes executed, when known: cache hits are routed but never reach a node.
  const served = window.length > 0 && window.every((s) => s.nodeServedOps !== undefined);
  const sum = (pick: (s: ScenarioSecond) => Readonly<Record<string, number>>): Map<string, number> => {
    const out = new Map<string, number>();
    for (const s of window) for (const [k, v] of Object.entries(pick(s))) out.set(k, (out.get(k) ?? 0) + v);
    return out;
  };
  const ratio = (m: Map<string, number>): number => {
    const values = [...m.values()];
    const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    return mean === 0 ? 1 : Math.max(...values) / mean;
  };
  const shards = sum((s) => s.shardOps);
  const total = [...shards.values()].reduce((a, b) => a + b, 0);
  const hottest = [...shards].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
  return {
    nodeMaxOverMean: ratio(sum((s) => (served ? s.nodeServedOps! : s.nodeOps))),
    shardMaxOverMean: ratio(shards),
    hottestShardShare: total === 0 ? 0 : hottest[1] / total,
    hottestShard: hottest[0],
  };
}

function judge(decl: TargetDecl, actual: number | null): ReportTarget {
  const met = actual === null ? false : decl.better === 'lower' ? actual <= decl.limit : actual >= decl.limit;
  return { name: decl.name, limit: decl.limit, actual, met };
}

/**
 * Seconds from the onset until p99 was back under the SLO for good: the end
 * of the last second after the onset whose p99 was over it (0 when none was).
 * Whole seconds, as the load generator measures them; the onset's offset
 * inside its second is taken off.
 */
export function p99RestoreSeconds(
  series: readonly { readonly t: number; readonly p99: number; readonly ops: number }[],
  timing: ScenarioTiming,
  sloP99Ms: number,
): number | null {
  const end = timing.endSecond ?? series.length;
  let lastOver = -1;
  for (const s of series)
    if (s.t >= timing.onsetSecond && s.t < end && s.ops > 0 && s.p99 > sloP99Ms) lastOver = s.t;
  if (lastOver < 0) return 0;
  if (lastOver >= end - 1) return null; // never back under within the run
  return Math.max(0, lastOver + 1 - onsetOf(timing) / 1000);
}

function matches(h: Hotspot, expected: { kind: string; subject: string }): boolean {
  return h.kind === expected.kind && h.subject === expected.subject;
}

/**
 * Runs one scenario and returns its report.
 *
 * @example const report = await runScenario(celebrityRead, { timing: { durationSeconds: 12, onsetSecond: 5 } });
 */
export async function runScenario(
  def: ScenarioDefinition,
  options: ScenarioOptions = {},
): Promise<ScenarioReport> {
  const timing: ScenarioTiming = { ...def.timing, ...options.timing };
  if (timing.onsetSecond >= timing.durationSeconds)
    throw new RangeError(
      `onset (${timing.onsetSecond} s) must come before the end (${timing.durationSeconds} s)`,
    );
  const seed = options.seed ?? 1;
  const say = options.onLine ?? ((): void => {});
  const backend = options.redis === undefined ? 'memory' : 'redis';
  const config = loadConfig({
    flags: {
      ...def.cluster,
      ...(options.redis === undefined
        ? {}
        : { backend: 'redis', redis: options.redis.join(','), nodes: undefined, capacity: null }),
      respPort: 0,
      httpPort: 0,
      logLevel: 'silent',
      ...options.config,
    },
  });
  const hs: Hotshard = await startHotshard(config, pino({ level: 'silent' }));
  let thread: LoadThread | undefined;
  try {
    const telemetry = hs.telemetry;
    if (telemetry === undefined) throw new Error('scenarios need telemetry; do not disable it');
    const expected = def.expected(hs);
    const raised: Array<{ hotspot: Hotspot; at: number }> = [];
    const taken: ReportAction[] = [];
    let startedAt = Date.now();
    const unsubscribe = hs.events.subscribe((e) => {
      if (e.type === 'hotspot.raised') raised.push({ hotspot: e.data as Hotspot, at: e.at });
      if (e.type === 'incident.opened' || e.type === 'incident.resolved')
        say(`   ⚑ ${incidentLine(e.type, e.data as Incident)}`);
      if (e.type.startsWith('action.')) {
        const a = e.data as {
          kind: string;
          subject: { name: string };
          state: string;
          outcome: string;
          reason: string;
        };
        const what = `${a.state}${a.outcome === 'pending' ? '' : ` (${a.outcome})`}: ${a.reason}`;
        taken.push({ at: (e.at - startedAt) / 1000, kind: a.kind, subject: a.subject.name, detail: what });
        say(`   ◆ ${a.kind} ${a.subject.name} ${what}`);
      }
    });

    options.onStart?.(hs);
    // The load runs on a thread of its own (see load-thread.ts), loaded before the start.
    thread = await LoadThread.open();
    // Start on a whole second so the load's seconds and the router's line up.
    await sleep(1000 - (Date.now() % 1000) + 5);
    const startMs = Date.now();
    startedAt = startMs;
    const startSecond = Math.floor(startMs / 1000);
    const onsetMs = startMs + onsetOf(timing);
    const actions: string[] = [];
    const onsetTimer =
      def.atOnset === undefined
        ? undefined
        : setTimeout(() => {
            void Promise.resolve(def.atOnset!(hs)).then((what) => {
              actions.push(what);
              say(`   ! ${what}`);
            });
          }, onsetOf(timing));

    let seen = 0;
    // For a noisy tenant: the others' latencies, by the second they were due, so the
    // restore is judged by those the incident hurt (the flooding tenant is throttled).
    const othersOf = def.targets.some((d) => d.measure === 'others-p99-restore-s')
      ? expected.subject
      : undefined;
    // Commands each node executed, per load second (read at each second's end).
    const servedAt: Array<Record<string, number>> = [];
    let servedBefore = servedCommandsOf(hs.router.backends);
    const servedKnown = servedBefore.size === hs.router.backends.size;
    const target = { kind: 'resp' as const, host: '127.0.0.1', port: hs.respPort, connections: 8 };
    const {
      report: load,
      check,
      others,
    } = await thread.run(
      {
        target,
        workload: def.workload(timing),
        ...(def.rate === undefined ? {} : { rate: def.rate }),
        durationMs: timing.durationSeconds * 1000,
        seed,
        timeoutMs: 5000,
        verifyWrites: true,
        ...(othersOf === undefined ? {} : { othersOf }),
      },
      (s: SecondStats) => {
        if (servedKnown) {
          const now = servedCommandsOf(hs.router.backends);
          servedAt[s.t] = Object.fromEntries([...now].map(([n, c]) => [n, c - (servedBefore.get(n) ?? 0)]));
          servedBefore = now;
        }
        const shards = telemetry.window('shard', 1);
        let hottest = ['-', 0] as [string, number];
        let total = 0;
        for (const w of shards.values()) {
          const ops = w.reads + w.writes;
          total += ops;
          if (ops > hottest[1]) hottest = [w.id, ops];
        }
        const mark =
          s.t === timing.onsetSecond ? '  ◀ onset' : s.t === timing.endSecond ? '  ◀ skew ends' : '';
        say(
          `t=${String(s.t).padStart(3)}s ops=${String(s.ops).padStart(6)} p99=${s.p99.toFixed(1).padStart(8)}ms err=${String(s.errors).padStart(5)}  hottest ${hottest[0]} ${total === 0 ? 0 : Math.round((100 * hottest[1]) / total)}%${mark}`,
        );
        for (; seen < raised.length; seen++) {
          const r = raised[seen]!;
          const after = ((r.hotspot.detectedAt - onsetMs) / 1000).toFixed(2);
          say(
            `   ▲ ${r.hotspot.kind} ${r.hotspot.subject} (${r.hotspot.heat}, ${r.hotspot.severity}) ${Number(after) >= 0 ? `${after} s after onset` : `${after} s (before onset)`}`,
          );
        }
      },
    );
    clearTimeout(onsetTimer);
    unsubscribe();
    await thread.close();
    if (check === null) throw new Error('the load thread returned no write check');

    // Per-second load from the router's telemetry, aligned on the run's seconds.
    const seconds = timing.durationSeconds;
    await sleep(1000 - (Date.now() % 1000) + 5); // the last second must be complete
    const back = Math.floor(Date.now() / 1000) - startSecond;
    const shardSeries = new Map(
      hs.router.table.shards.map((s) => [s.id, telemetry.series('shard', s.id, back)]),
    );
    const nodeSeries = new Map(
      [...hs.router.backends.keys()].map((n) => [String(n), telemetry.series('node', n, back)]),
    );
    const series: ScenarioSecond[] = [];
    for (let t = 0; t < seconds; t++) {
      const l = load.series[t];
      const pick = (m: Map<string, ReturnType<typeof telemetry.series>>): Record<string, number> =>
        Object.fromEntries([...m].map(([id, ser]) => [id, (ser[t]?.reads ?? 0) + (ser[t]?.writes ?? 0)]));
      series.push({
        t,
        ops: l?.ops ?? 0,
        errors: l?.errors ?? 0,
        shed: l?.shed ?? 0,
        p50: l?.p50 ?? 0,
        p99: l?.p99 ?? 0,
        shardOps: pick(shardSeries),
        nodeOps: pick(nodeSeries),
        ...(servedKnown
          ? {
              nodeServedOps:
                servedAt[t] ?? Object.fromEntries([...hs.router.backends.keys()].map((n) => [String(n), 0])),
            }
          : {}),
      });
    }

    const firstMatch = raised.find((r) => r.hotspot.detectedAt >= onsetMs && matches(r.hotspot, expected));
    const firstAfterOnset =
      raised.find((r) => r.hotspot.detectedAt >= onsetMs && r.hotspot.severity !== 'info') ??
      raised.find((r) => r.hotspot.detectedAt >= onsetMs);
    const found = firstMatch ?? firstAfterOnset;
    const detection: ReportDetection | null =
      found === undefined
        ? null
        : {
            kind: found.hotspot.kind,
            subject: found.hotspot.subject,
            at: (found.hotspot.detectedAt - startMs) / 1000,
            latencyFromOnsetMs: found.hotspot.detectedAt - onsetMs,
            correct: matches(found.hotspot, expected),
          };
    const failedPercent = load.ops === 0 ? 0 : (100 * load.errors) / load.ops;
    const end = timing.endSecond ?? seconds;
    const after = imbalance(series, Math.max(timing.onsetSecond, end - 10), end);
    const measured = (decl: TargetDecl): number | null => {
      switch (decl.measure) {
        case 'detection-ms':
          return detection?.correct === true ? detection.latencyFromOnsetMs : null;
        case 'p99-restore-s':
          return p99RestoreSeconds(series, timing, config.sloP99Ms);
        case 'others-p99-restore-s':
          return p99RestoreSeconds(
            series.map((s) => ({ t: s.t, ...(others[s.t] ?? { ops: 0, p99: 0 }) })),
            timing,
            config.sloP99Ms,
          );
        case 'failed-percent':
          return failedPercent;
        case 'failed-unshed-percent':
          return load.ops === 0 ? 0 : (100 * (load.errors - load.shed)) / load.ops;
        case 'writes-lost':
          return check.lostWrites;
        case 'node-imbalance-after':
          return after.nodeMaxOverMean;
      }
    };
    return {
      scenario: def.name,
      description: def.description,
      startedAt: new Date(startMs).toISOString(),
      backend,
      seed,
      durationSeconds: seconds,
      onsetSecond: timing.onsetSecond,
      endSecond: timing.endSecond,
      expected,
      series,
      before: imbalance(series, Math.max(0, timing.onsetSecond - 10), timing.onsetSecond),
      after,
      totals: {
        ops: load.ops,
        errors: load.errors,
        errorRate: load.ops === 0 ? 0 : load.errors / load.ops,
        shed: load.shed,
        p50: load.latency.p50,
        p99: load.latency.p99,
        errorsByKind: load.errorsByKind,
      },
      writes: { acknowledged: check.acknowledgedWrites, checked: check.checkedKeys, lost: check.lostWrites },
      detection,
      detectionLatencyMs: detection?.correct === true ? detection.latencyFromOnsetMs : null,
      classification: detection === null ? null : `${detection.kind} ${detection.subject}`,
      actions: taken,
      p99RestoreSeconds: p99RestoreSeconds(series, timing, config.sloP99Ms),
      targets: def.targets.map((d) => judge(d, measured(d))),
      sloP99Ms: config.sloP99Ms,
      hotspots: raised.map((r) => ({
        kind: r.hotspot.kind,
        subject: r.hotspot.subject,
        heat: r.hotspot.heat,
        severity: r.hotspot.severity,
        at: (r.hotspot.detectedAt - startMs) / 1000,
      })),
      events: actions,
      incidents: (hs.incidents?.list() ?? []).reverse().map((i) => ({
        id: i.id,
        state: i.state,
        severity: i.severity,
        openedAt: (i.openedAt - startMs) / 1000,
        resolvedAt: i.resolvedAt === null ? null : (i.resolvedAt - startMs) / 1000,
        title: i.title,
        customerText: i.customerText,
        summary: i.summary,
      })),
    };
  } finally {
    await thread?.close();
    await hs.close();
  }
}
