/**
 * GET /dashboard/summary: "where it hurts" in one answer, which the dashboard
 * polls once a second: the busiest shards, nodes, tenants and keys (with the
 * key policy in force), the skew gauges against the thresholds that act on
 * them, and the moves under way with their progress and throttle.
 *
 * Everything comes from the detector's newest snapshot (monitor.ts; refreshed
 * every tick while anything is sent, so never older than a quiet tick) and
 * its skew report, so the page shows what the detector judged, and the
 * summary costs no telemetry reads of its own.
 */
import type { FastifyInstance } from 'fastify';
import type { DetectorRules } from '../detect/rules.js';
import type { EntityLoad } from '../detect/snapshot.js';
import type { ActionRecord } from '../mitigate/action.js';
import type { Executor } from '../mitigate/executor.js';
import { keyFromText } from '../mitigate/key-actions.js';
import type { PolicyManager } from '../mitigate/policies.js';
import { REMEDY_ORDER } from '../mitigate/policy.js';
import { shardRow } from '../router/http-server.js';
import type { Router } from '../router/router.js';
import type { Monitor } from './monitor.js';
import { open } from './schema.js';

/** How many rows each top list holds. */
export const SUMMARY_TOP = 10;

/** What the summary reads. */
export interface SummaryDeps {
  readonly router: Router;
  readonly monitor: Monitor;
  readonly executor: Executor;
  readonly policies: PolicyManager;
  readonly rules: DetectorRules;
}

/** One skew gauge. */
export interface SkewGauge {
  readonly name: 'max/median' | 'p95/p50' | 'gini' | 'cv';
  readonly value: number;
  readonly threshold: number;
  readonly over: boolean;
  /** Where the threshold comes from. */
  readonly why: string;
}

/** A move under way. */
export interface MoveRow {
  readonly action: string;
  readonly shard: string;
  readonly source: string | null;
  readonly target: string | null;
  readonly phase: string;
  readonly keysCopied: number;
  readonly keysTotal: number | null;
  /** Keys copied per second. */
  readonly rate: number;
  readonly etaMs: number | null;
  /** The move's copy throttle; null: unlimited. */
  readonly maxKeysPerSec: number | null;
}

/** GET /dashboard/summary. */
export interface DashboardSummary {
  readonly at: number;
  readonly automation: { readonly mode: string };
  readonly topShards: { id: string; node: string; qps: number; p99: number; utilization: number | null }[];
  readonly topNodes: {
    id: string;
    status: string;
    qps: number;
    utilization: number | null;
    latencyMs: number | null;
  }[];
  readonly topTenants: { tenant: string; qps: number; share: number; throttled: boolean }[];
  readonly topKeys: {
    key: string;
    reads: number;
    writes: number;
    bytes: number;
    share: number;
    policy: string | null;
  }[];
  readonly skew: SkewGauge[];
  readonly moves: MoveRow[];
}

const ops = (e: EntityLoad): number => e.reads + e.writes;
/** 3 decimals, or 4 significant digits below 1 (a utilization of 3e-5 is not 0). */
const r4 = (v: number): number =>
  Math.abs(v) >= 1 || v === 0 ? Math.round(v * 1000) / 1000 : Number(v.toPrecision(4));
const r4n = (v: number | null): number | null => (v === null ? null : r4(v));
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The summary now. */
export function dashboardSummary(deps: SummaryDeps): DashboardSummary {
  const { router, monitor, executor, policies, rules } = deps;
  const snap = monitor.snapshot;
  const table = router.table;

  const topShards = [...snap.shards]
    .sort((a, b) => ops(b) - ops(a))
    .slice(0, SUMMARY_TOP)
    .map((s) => {
      const info = table.shard(s.id as never);
      const capacity = info === undefined ? null : shardRow(router, info).capacity;
      return {
        id: s.id,
        node: s.node,
        qps: r4(ops(s)),
        p99: r4(s.p99Ms),
        utilization: capacity === null || capacity <= 0 ? r4n(s.utilization) : r4(ops(s) / capacity),
      };
    });

  const topNodes = [...snap.nodes]
    .sort((a, b) => ops(b) - ops(a))
    .slice(0, SUMMARY_TOP)
    .map((n) => {
      const health = router.backends.get(n.id as never)?.health();
      return {
        id: n.id,
        status: health?.status ?? 'removed',
        qps: r4(ops(n)),
        utilization: r4n(n.utilization),
        latencyMs: health === undefined ? null : r4n(health.latencyMs),
      };
    });

  const tenantTotal = snap.tenants.reduce((t, e) => t + ops(e), 0);
  const topTenants = [...snap.tenants]
    .filter((t) => ops(t) > 0 || t.shed > 0)
    .sort((a, b) => ops(b) - ops(a))
    .slice(0, SUMMARY_TOP)
    .map((t) => ({
      tenant: t.id,
      qps: r4(ops(t)),
      share: tenantTotal > 0 ? r4(ops(t) / tenantTotal) : 0,
      // Requests refused in the window (its quota, or its node shedding its priority).
      throttled: t.shed > 0,
    }));

  const keyTotal = snap.totalKeyOps;
  const topKeys = snap.topKeys.slice(0, SUMMARY_TOP).map((k) => {
    const policy = policies.get(keyFromText(k.key))?.policy;
    const remedies = policy === undefined ? [] : REMEDY_ORDER.filter((r) => policy[r] !== undefined);
    return {
      key: k.key,
      reads: r4(k.reads),
      writes: r4(k.writes),
      bytes: r4(k.bytes),
      share: keyTotal > 0 ? r4(Math.min(1, (k.reads + k.writes) / keyTotal)) : 0,
      policy: remedies.length === 0 ? null : remedies.join('+'),
    };
  });

  const s = monitor.skew.shards.ops;
  const gauge = (name: SkewGauge['name'], value: number, threshold: number, why: string): SkewGauge => ({
    name,
    // An idle median makes a ratio infinite; JSON has no Infinity, and a gauge pinned at its top says as much.
    value: Number.isFinite(value) ? r4(value) : Number.MAX_SAFE_INTEGER,
    threshold,
    over: value >= threshold,
    why,
  });
  const skew = [
    gauge(
      'max/median',
      s.maxOverMedian,
      rules.shardLoadOverMedian.raise,
      'hot shard: max / median shard ops (seed 003)',
    ),
    gauge('p95/p50', s.p95OverP50, 2, "seed 002's 2× rule, across shards"),
    gauge('gini', s.gini, rules.giniWarning.raise, 'structural skew warning (seed 001)'),
    gauge('cv', s.cv, 0.5, 'standard deviation over 50 % of the mean (seed 002)'),
  ];

  const moves = executor
    .running()
    .filter((a) => a.kind === 'move')
    .map((a) => moveRow(a, executor.progress(a.id), router));

  return {
    at: snap.now,
    automation: { mode: executor.mode },
    topShards,
    topNodes,
    topTenants,
    topKeys,
    skew,
    moves,
  };
}

function moveRow(
  a: ActionRecord,
  progress: Readonly<Record<string, unknown>> | null,
  router: Router,
): MoveRow {
  const p = progress ?? {};
  const limits = (p['limits'] ?? {}) as Record<string, unknown>;
  const eta = num(p['etaSeconds']);
  const target = a.settings['node'];
  return {
    action: a.id,
    shard: a.subject.name,
    source: router.table.shard(a.subject.name as never)?.node ?? null,
    target: typeof target === 'string' ? target : null,
    phase: typeof p['phase'] === 'string' ? p['phase'] : 'starting',
    keysCopied: num(p['keysCopied']) ?? 0,
    keysTotal: num(p['keysTotal']),
    rate: r4(num(p['keysPerSec']) ?? 0),
    etaMs: eta === null ? null : Math.round(eta * 1000),
    maxKeysPerSec: num(limits['maxKeysPerSec']),
  };
}

const num0 = { type: 'number' };
const numOrNull = { type: ['number', 'null'] };
const str = { type: 'string' };
const list = (items: Record<string, object>): object => ({ type: 'array', items: open(items) });

/** The response schema (so /openapi.json lists the summary's fields). */
export const summarySchema = open({
  at: num0,
  automation: open({ mode: str }),
  topShards: list({ id: str, node: str, qps: num0, p99: num0, utilization: numOrNull }),
  topNodes: list({ id: str, status: str, qps: num0, utilization: numOrNull, latencyMs: numOrNull }),
  topTenants: list({ tenant: str, qps: num0, share: num0, throttled: { type: 'boolean' } }),
  topKeys: list({
    key: str,
    reads: num0,
    writes: num0,
    bytes: num0,
    share: num0,
    policy: { type: ['string', 'null'] },
  }),
  skew: list({
    name: { enum: ['max/median', 'p95/p50', 'gini', 'cv'] },
    value: num0,
    threshold: num0,
    over: { type: 'boolean' },
    why: str,
  }),
  moves: list({
    action: str,
    shard: str,
    source: { type: ['string', 'null'] },
    target: { type: ['string', 'null'] },
    phase: str,
    keysCopied: num0,
    keysTotal: numOrNull,
    rate: num0,
    etaMs: numOrNull,
    maxKeysPerSec: numOrNull,
  }),
});

/** Registers GET /dashboard/summary. */
export function registerDashboardSummary(app: FastifyInstance, deps: SummaryDeps): void {
  app.get(
    '/dashboard/summary',
    {
      config: { access: 'read' },
      schema: {
        summary: 'where it hurts now: top shards, nodes, tenants and keys, skew gauges, moves under way',
        tags: ['dashboard'],
        response: { 200: summarySchema },
      },
    },
    () => dashboardSummary(deps),
  );
}
