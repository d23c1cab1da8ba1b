/**
 * An incident, as operators, customers and webhooks read it: what is hurt
 * (SLOs, tenants and their share of traffic), why (the hotspots of one
 * cause), what is being done (actions, expected recovery), and once resolved
 * a summary. The manager that opens, updates and resolves them is
 * incidents.ts; the texts are here, so what a customer may read is decided
 * in one place.
 *
 * The customer text (seed 000's "SLA downgrade + customer impact") is built
 * from fixed phrases only, never from a subject: no key, node, shard or
 * tenant name can reach it, whatever the hotspot was called.
 */
import type { HotspotKind, ImpactSignal, Severity } from '../detect/hotspot.js';
import type { ActionOutcome, ActionState, Prediction } from '../mitigate/action.js';

/** Where an incident is in its life; `resolved` is final. */
export const INCIDENT_STATES = ['investigating', 'mitigating', 'monitoring', 'resolved'] as const;
/** One of {@link INCIDENT_STATES}. */
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** The events an incident publishes on the bus (and webhooks may subscribe to). */
export const INCIDENT_EVENTS = ['incident.opened', 'incident.updated', 'incident.resolved'] as const;
/** One of {@link INCIDENT_EVENTS}. */
export type IncidentEvent = (typeof INCIDENT_EVENTS)[number];

/** One hotspot of the incident, as last seen. */
export interface IncidentHotspot {
  readonly id: string;
  readonly kind: HotspotKind;
  readonly subject: string;
  readonly shard: string | null;
  readonly node: string | null;
  readonly heat: string;
  readonly severity: Severity;
  readonly impact: readonly ImpactSignal[];
  readonly summary: string;
  readonly onset: number;
  readonly detectedAt: number;
  readonly clearedAt: number | null;
}

/** One action taken for the incident, as last seen. */
export interface IncidentAction {
  readonly id: string;
  /** An ActionKind, or a kind added later (split, move, ...). */
  readonly kind: string;
  readonly subject: string;
  readonly state: ActionState;
  readonly outcome: ActionOutcome;
  readonly by: 'planner' | 'operator';
  readonly reason: string;
  readonly prediction: Prediction | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** When its effect should show: when it started plus the verification delay, or a running move's ETA. */
  readonly expectedBy: number;
  /** A long action's progress as last read (a move's phase, keys copied, etaSeconds), else null. */
  readonly progress: Readonly<Record<string, unknown>> | null;
}

/** An objective and how it fares. */
export interface SloStatus {
  /** `latency` (p99 under sloP99Ms) or `availability` (no request refused or failed). */
  readonly slo: 'latency' | 'availability';
  readonly objective: string;
  /** `breached` now or earlier in this incident and not yet met again; `at-risk`: queueing or near capacity. */
  readonly status: 'breached' | 'at-risk' | 'met';
  /** The latest reading: p99 (ms) or failed requests so far. */
  readonly observed: number | null;
}

/** A tenant whose requests hit the incident's subjects. */
export interface TenantImpact {
  readonly tenant: string;
  /** Of its requests, the share that went to the incident's shards or nodes (peak reading). */
  readonly share: number;
  /** Its requests per second to them at that reading. */
  readonly requestsPerSec: number;
  /**
   * Of its requests, the share that went to the incident's hot shards (the
   * hot key's shard, the hot range), its own peak reading: high for the
   * tenant that causes the load, low for one that only shares the node; null
   * when the incident has no shard (a hot node).
   */
  readonly hotShare: number | null;
}

/** One entry of the timeline. */
export interface TimelineEntry {
  readonly at: number;
  readonly text: string;
}

/** Written when the incident resolves. */
export interface IncidentSummary {
  /** First detection minus the earliest onset (ms). */
  readonly detectionLatencyMs: number;
  /** First action minus first detection (ms), null when nothing was done. */
  readonly timeToMitigateMs: number | null;
  /** From onset until the metrics were back and stayed (ms). */
  readonly timeToRestoreMs: number;
  /** From opened to resolved (ms). */
  readonly durationMs: number;
  readonly actions: readonly { id: string; kind: string; state: ActionState; outcome: ActionOutcome }[];
  /** Requests of the incident's nodes (or tenants) that failed or were shed, onset to resolution. */
  readonly failedRequests: number;
  /** Highest p99 (ms) read during the incident. */
  readonly peakP99Ms: number | null;
}

/** Where the incident is: keys, shards, nodes and tenants it concerns (internal detail). */
export interface IncidentScope {
  readonly keys: string[];
  readonly shards: string[];
  readonly nodes: string[];
  /** Noisy tenants among the hotspots (a tenant-only incident has no nodes). */
  readonly tenants: string[];
}

/** One incident. */
export interface Incident {
  /** `inc-<n>`. */
  readonly id: string;
  state: IncidentState;
  severity: Severity;
  /** One line for operators (names subjects). */
  title: string;
  /** For customers: the SLA downgrade notice, with no internal detail. */
  customerText: string;
  readonly openedAt: number;
  updatedAt: number;
  resolvedAt: number | null;
  /** The earliest hotspot onset. */
  onset: number;
  /** The earliest detection. */
  detectedAt: number;
  /** Start of the clean run that resolved it (or is running now), else null. */
  restoredAt: number | null;
  /** When the actions' predictions say it should be over; null without actions. */
  expectedRecoveryAt: number | null;
  readonly scope: IncidentScope;
  hotspots: IncidentHotspot[];
  actions: IncidentAction[];
  slos: SloStatus[];
  tenants: TenantImpact[];
  failedRequests: number;
  peakP99Ms: number | null;
  timeline: TimelineEntry[];
  summary: IncidentSummary | null;
}

/** The customer-facing form (`GET /status`). */
export interface IncidentNotice {
  readonly id: string;
  readonly state: IncidentState;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly text: string;
}

const CUSTOMER_IMPACT = new Set<string>(['p99-over-slo', 'queue-rising', 'shedding']);

/** Whether a hotspot's impact is felt by clients (near-capacity alone is not). */
export function hurtsClients(impact: readonly string[]): boolean {
  return impact.some((s) => CUSTOMER_IMPACT.has(s));
}

/** A wait as a customer reads it: rounded up to 10 s, 30 s, 1, 2, 5, 10, 15, 30 or 60 min. */
export function roughWait(ms: number): string {
  const steps = [10, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const s = Math.max(0, ms) / 1000;
  const step = steps.find((x) => s <= x);
  if (step === undefined) return 'more than an hour';
  return step < 60 ? `${step} s` : `${step / 60} min`;
}

/** The customer notice: what clients feel, whether it is being fixed, and when it should be over. */
export function customerText(incident: Incident, now: number): string {
  if (incident.state === 'resolved') return 'Resolved: service is operating normally.';
  const latency = incident.slos.find((s) => s.slo === 'latency')?.status ?? 'met';
  const availability = incident.slos.find((s) => s.slo === 'availability')?.status ?? 'met';
  const tenantOnly = incident.scope.nodes.length === 0 && incident.scope.shards.length === 0;
  const whom = tenantOnly ? 'a subset of requests' : 'requests to a subset of keys';
  let impact: string;
  if (availability === 'breached')
    impact = `Some ${whom} are being refused with a retry-after or are failing${latency === 'breached' ? ', and latency is elevated' : ''}`;
  else if (latency === 'breached') impact = `Elevated latency for ${whom}`;
  else if (latency === 'at-risk') impact = `Increased load on ${whom}; latency may rise`;
  else impact = `Increased load on ${whom}; no customer impact measured`;
  let progress: string;
  if (incident.state === 'investigating') progress = 'we are investigating';
  else if (incident.state === 'monitoring') progress = 'a fix is in place and we are monitoring';
  else progress = 'mitigation in progress';
  const eta =
    incident.expectedRecoveryAt !== null && incident.state !== 'monitoring'
      ? `; expected recovery within ${roughWait(incident.expectedRecoveryAt - now)}`
      : '';
  return `${impact}; ${progress}${eta}.`;
}

const pct = (x: number): string => `${x < 0.01 ? '<1' : Math.round(x * 100)}%`;

/** The operator's one-liner: the hotspots' subjects and the SLOs hurt. */
export function titleOf(incident: Incident): string {
  const what = incident.hotspots
    .map(
      (h) =>
        `${h.kind} ${h.kind === 'hot-key' || h.kind === 'noisy-tenant' ? JSON.stringify(h.subject) : h.subject}`,
    )
    .join(', ');
  const where = incident.scope.nodes.length > 0 ? ` on ${incident.scope.nodes.join(', ')}` : '';
  const hurt = incident.slos.filter((s) => s.status !== 'met').map((s) => `${s.slo} ${s.status}`);
  return `${what}${where}${hurt.length > 0 ? ` (${hurt.join(', ')})` : ''}`;
}

const EMOJI: Readonly<Record<IncidentEvent, string>> = {
  'incident.opened': ':rotating_light:',
  'incident.updated': ':arrows_counterclockwise:',
  'incident.resolved': ':white_check_mark:',
};

/** A Slack-compatible message for operators (webhooks): internal detail is fine here. */
export function slackText(event: IncidentEvent, incident: Incident): string {
  const lines = [
    `${EMOJI[event]} *${incident.id}* ${event.slice('incident.'.length)} (${incident.severity}, ${incident.state}): ${incident.title}`,
  ];
  const latest = incident.timeline[incident.timeline.length - 1];
  if (event === 'incident.updated' && latest !== undefined) lines.push(`> ${latest.text}`);
  if (incident.tenants.length > 0)
    lines.push(
      `Tenants: ${incident.tenants
        .slice(0, 5)
        .map((t) => `${t.tenant} ${pct(t.share)}${t.hotShare === null ? '' : ` (hot ${pct(t.hotShare)})`}`)
        .join(', ')}`,
    );
  if (incident.actions.length > 0)
    lines.push(
      `Actions: ${incident.actions.map((a) => `${a.kind} ${a.subject} (${a.state}, ${a.outcome})`).join('; ')}`,
    );
  if (incident.summary !== null) {
    const s = incident.summary;
    lines.push(
      `Detected in ${s.detectionLatencyMs} ms; restored ${(s.timeToRestoreMs / 1000).toFixed(1)} s after onset; ${s.failedRequests} failed requests; ${s.actions.length} actions`,
    );
  }
  lines.push(`Customers see: ${incident.customerText}`);
  return lines.join('\n');
}

/** One line for a terminal (demo, scenarios): what customers are told when it opens, how it went when it resolves. */
export function incidentLine(event: 'incident.opened' | 'incident.resolved', i: Incident): string {
  if (event === 'incident.opened') return `${i.id} opened (${i.severity}): customers see "${i.customerText}"`;
  const s = i.summary;
  if (s === null) return `${i.id} resolved`;
  return `${i.id} resolved: restored ${(s.timeToRestoreMs / 1000).toFixed(1)} s after onset, ${s.actions.length} action(s), ${s.failedRequests} failed requests`;
}
