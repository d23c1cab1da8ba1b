/**
 * The rules of an incident's life, as pure functions of the record and what
 * was read now: which incident a hotspot joins, how a new one starts, and
 * how one is assessed each evaluation (SLOs, clean run, state, summary).
 * The manager (incidents.ts) reads the inputs, calls these, and publishes.
 */
import { SEVERITY_RANK, type Hotspot } from '../detect/hotspot.js';
import {
  customerText,
  hurtsClients,
  titleOf,
  type Incident,
  type IncidentAction,
  type IncidentHotspot,
  type SloStatus,
  type TenantImpact,
} from './incident.js';

/** Action states that are a mitigation under way. */
export const UNDERWAY: ReadonlySet<string> = new Set(['pending', 'running']);

/** An action that changed something (not a dry-run recommendation, not one that never ran). */
export const taken = (a: IncidentAction): boolean =>
  a.outcome !== 'recommended' && a.state !== 'failed' && a.state !== 'cancelled';

/** The part of a hotspot an incident keeps (its evidence moves every tick and stays on /hotspots). */
export function hotspotOf(h: Hotspot): IncidentHotspot {
  const { id, kind, subject, shard, node, heat, severity, impact, summary, onset, detectedAt, clearedAt } = h;
  return {
    id,
    kind,
    subject,
    shard,
    node,
    heat,
    severity,
    impact: [...impact],
    summary,
    onset,
    detectedAt,
    clearedAt,
  };
}

const addTo = (list: string[], v: string | null): void => {
  if (v !== null && !list.includes(v)) list.push(v);
};

/**
 * Whether a new hotspot has the cause of an open incident: the same key,
 * shard or node (a hot key and its hot node), or, for a noisy tenant, the
 * incident's heaviest tenant.
 */
export function relatedTo(inc: Incident, h: Hotspot): boolean {
  if (h.kind === 'noisy-tenant')
    return inc.tenants[0]?.tenant === h.subject || inc.scope.tenants.includes(h.subject);
  if (h.kind === 'hot-key' && inc.scope.keys.includes(h.subject)) return true;
  return (
    (h.shard !== null && inc.scope.shards.includes(h.shard)) ||
    (h.node !== null && inc.scope.nodes.includes(h.node))
  );
}

/** Takes a hotspot's subjects, onset, detection and severity into the incident. */
export function widen(inc: Incident, h: Hotspot): void {
  if (h.kind === 'hot-key') addTo(inc.scope.keys, h.subject);
  if (h.kind === 'noisy-tenant') addTo(inc.scope.tenants, h.subject);
  addTo(inc.scope.shards, h.shard);
  addTo(inc.scope.nodes, h.node);
  if (h.onset < inc.onset) inc.onset = h.onset;
  if (h.detectedAt < inc.detectedAt) inc.detectedAt = h.detectedAt;
  if (SEVERITY_RANK[h.severity] > SEVERITY_RANK[inc.severity]) inc.severity = h.severity;
}

/** A new incident for one hotspot. */
export function newIncident(id: string, h: Hotspot, now: number): Incident {
  const inc: Incident = {
    id,
    state: 'investigating',
    severity: h.severity,
    title: '',
    customerText: '',
    openedAt: now,
    updatedAt: now,
    resolvedAt: null,
    onset: h.onset,
    detectedAt: h.detectedAt,
    restoredAt: null,
    expectedRecoveryAt: null,
    scope: { keys: [], shards: [], nodes: [], tenants: [] },
    hotspots: [hotspotOf(h)],
    actions: [],
    slos: [],
    tenants: [],
    failedRequests: 0,
    peakP99Ms: null,
    timeline: [],
    summary: null,
  };
  widen(inc, h);
  return inc;
}

/**
 * Each share's peak over the readings, taken on its own: the reading with the
 * highest share on the nodes need not be the one with the highest share on
 * the hot shards, and keeping the second from the first understated the
 * tenant that caused the load (a third kept against its two thirds).
 */
function peakOf(was: TenantImpact, now: TenantImpact): TenantImpact {
  const hot = now.hotShare === null ? was.hotShare : Math.max(was.hotShare ?? 0, now.hotShare);
  return {
    tenant: was.tenant,
    share: Math.max(was.share, now.share),
    requestsPerSec: now.share > was.share ? now.requestsPerSec : was.requestsPerSec,
    hotShare: hot,
  };
}

/** Takes a tenants reading in: new tenants are changes; a known one keeps each share's peak. */
export function mergeTenants(inc: Incident, reading: readonly TenantImpact[]): string[] {
  const changes: string[] = [];
  for (const t of reading) {
    const i = inc.tenants.findIndex((x) => x.tenant === t.tenant);
    if (i < 0) {
      inc.tenants.push(t);
      changes.push(`tenant ${t.tenant} affected (${Math.round(t.share * 100)}% of its requests)`);
    } else inc.tenants[i] = peakOf(inc.tenants[i]!, t);
  }
  inc.tenants.sort((a, b) => b.requestsPerSec - a.requestsPerSec);
  return changes;
}

/** What one evaluation read for an incident. */
export interface Reading {
  readonly now: number;
  /** The scope's highest p99 (ms), null without traffic. */
  readonly p99Ms: number | null;
  readonly shedPerSec: number;
  readonly sloP99Ms: number;
  readonly resolveAfterMs: number;
}

/**
 * Assesses an open incident whose hotspots, actions, tenants and failures
 * are up to date: its SLOs, whether the metrics are clean (and since when),
 * the expected recovery, the state, and once resolved its summary. Returns
 * the changes worth a timeline entry.
 */
export function assess(inc: Incident, r: Reading): string[] {
  const changes: string[] = [];
  const live = inc.hotspots.filter((h) => h.clearedAt === null);
  if (r.p99Ms !== null && (inc.peakP99Ms === null || r.p99Ms > inc.peakP99Ms)) inc.peakP99Ms = r.p99Ms;
  const signal = (s: string): boolean => live.some((h) => (h.impact as readonly string[]).includes(s));
  const slowNow = (r.p99Ms ?? 0) > r.sloP99Ms || signal('p99-over-slo');
  const shedNow = r.shedPerSec > 0 || signal('shedding');
  const slos: SloStatus[] = [
    {
      slo: 'latency',
      objective: `p99 ≤ ${r.sloP99Ms} ms`,
      status: slowNow ? 'breached' : signal('queue-rising') || signal('near-capacity') ? 'at-risk' : 'met',
      observed: r.p99Ms,
    },
    {
      slo: 'availability',
      objective: 'no request refused or failed',
      status: shedNow ? 'breached' : 'met',
      observed: inc.failedRequests,
    },
  ];
  for (const s of slos) {
    const was = inc.slos.find((x) => x.slo === s.slo)?.status ?? 'met';
    if (was !== s.status) changes.push(`${s.slo} SLO (${s.objective}): ${s.status}`);
  }
  inc.slos = slos;

  const underway = inc.actions.some((a) => UNDERWAY.has(a.state));
  const clean = !slowNow && !shedNow && !underway && !live.some((h) => hurtsClients(h.impact));
  if (!clean) inc.restoredAt = null;
  else inc.restoredAt ??= r.now;
  const waiting = inc.actions.filter(
    (a) => a.outcome === 'pending' && !['failed', 'cancelled', 'rolled-back'].includes(a.state),
  );
  inc.expectedRecoveryAt = waiting.length === 0 ? null : Math.max(...waiting.map((a) => a.expectedBy));

  let state: Incident['state'];
  if (inc.restoredAt !== null && r.now - inc.restoredAt >= r.resolveAfterMs) state = 'resolved';
  else if (inc.restoredAt !== null) state = 'monitoring';
  else state = inc.actions.some(taken) ? 'mitigating' : 'investigating';
  if (state !== inc.state) changes.push(`state: ${state}`);
  inc.state = state;
  if (state === 'resolved') resolve(inc, r.now);
  inc.title = titleOf(inc);
  inc.customerText = customerText(inc, r.now);
  return changes;
}

/** Final: when, and the summary. */
function resolve(inc: Incident, now: number): void {
  inc.resolvedAt = now;
  inc.expectedRecoveryAt = null;
  const restored = inc.restoredAt ?? now;
  const first = inc.actions.length === 0 ? null : Math.min(...inc.actions.map((a) => a.createdAt));
  inc.summary = {
    detectionLatencyMs: Math.max(0, inc.detectedAt - inc.onset),
    timeToMitigateMs: first === null ? null : Math.max(0, first - inc.detectedAt),
    timeToRestoreMs: Math.max(0, restored - inc.onset),
    durationMs: now - inc.openedAt,
    actions: inc.actions.map((a) => ({ id: a.id, kind: a.kind, state: a.state, outcome: a.outcome })),
    failedRequests: inc.failedRequests,
    peakP99Ms: inc.peakP99Ms,
  };
}
