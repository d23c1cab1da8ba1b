/**
 * One rung of the planner's ladder made into a request: the remedy's
 * settings (the rate a throttle or quota admits, the priority tier a node
 * sheds), the reason an operator reads on /actions, and the prediction the
 * planner will judge it by (verify.ts).
 */
import type { Hotspot } from '../detect/hotspot.js';
import type { TickSnapshot } from '../detect/snapshot.js';
import { DEFAULT_TENANT_PRIORITY } from '../router/tenants.js';
import { OTHER_TENANT } from '../telemetry/tenant-table.js';
import type { ActionKind, ActionRecord, ActionSubject } from './action.js';
import { keyThrottleRate, tenantQuota } from './fair-share.js';
import type { KeyPatterns } from './key-patterns.js';
import {
  flushMsFor,
  PLANNED_REMEDIES,
  WARM_KEYS,
  type PlannedAction,
  type PlannerSettings,
} from './planner-io.js';
import { measureDefault, predict } from './verify.js';

/** Everything one rung's request is made from. */
export interface RungContext {
  /** The hotspot whose ladder this is. */
  readonly h: Hotspot;
  readonly kind: ActionKind;
  /** What the action acts on: the hotspot's key or tenant, or a node for shedding. */
  readonly subject: ActionSubject;
  readonly rung: number;
  /** The rung before, as judged, or null for the first. */
  readonly follows: { readonly record: ActionRecord; readonly outcome: 'effective' | 'ineffective' } | null;
  /** Shedding one tier up from this level (a shed already in place), else null. */
  readonly shedFrom: number | null;
  readonly snapshot: TickSnapshot | undefined;
  readonly settings: PlannerSettings;
  readonly counters: KeyPatterns;
  readonly strong: KeyPatterns;
  readonly tenantPriority: ((tenant: string) => number) | undefined;
}

/** The request for one rung. */
export function planRequest(c: RungContext): PlannedAction {
  const { h, kind, subject, rung, follows, snapshot } = c;
  const ev = h.evidence;
  const rate = ev.rate ?? 0;
  const latency = h.impact.includes('p99-over-slo');
  const target = c.settings.targetUtilization;
  const what = describe(h);
  const after =
    follows === null
      ? ''
      : `; ${follows.record.kind} (${follows.record.id}) was ${follows.outcome === 'effective' ? 'effective but the impact stayed' : 'ineffective'}`;
  let settings: Record<string, unknown>;
  let why: string;
  let nodeP99: number | null = null;
  let flushMs: number = PLANNED_REMEDIES.aggregate.flushMs;
  switch (kind) {
    case 'cache':
      settings = { ...PLANNED_REMEDIES.cache };
      why = 'cache + coalescing: cheap and reversible, taken on the hot-key signal alone';
      break;
    case 'replicate':
      settings = { ...PLANNED_REMEDIES.replicate };
      why = `replicas, not the cache: its reads must never be stale (${c.strong.match(subject.name) === null ? 'its policy is strong' : `matches strong pattern ${JSON.stringify(c.strong.match(subject.name))}`})`;
      break;
    case 'aggregate':
      flushMs = flushMsFor(ev.writes ?? rate);
      settings = { flushMs, mode: PLANNED_REMEDIES.aggregate.mode };
      why = `flushing every ${flushMs} ms at ${Math.round(ev.writes ?? rate)} writes/s; `;
      why += c.counters.matches(subject.name)
        ? `aggregation: a counter (matches counters pattern ${JSON.stringify(c.counters.match(subject.name))}), batched exactly`
        : 'aggregation as a probe: telemetry does not tell INCR from other writes, and aggregation is exact and passes other commands through; its status shows whether increments arrive';
      break;
    case 'salt': {
      const nodes = snapshot?.nodes.length ?? 0;
      settings = { buckets: Math.max(2, nodes) };
      why = `salting over ${Math.max(2, nodes)} sub-keys (one per node): still too hot for one node after aggregation, and allowed by counters pattern ${JSON.stringify(c.counters.match(subject.name))}`;
      break;
    }
    case 'throttle-key': {
      const node = snapshot?.nodes.find((n) => n.id === h.node);
      nodeP99 = node?.p99Ms ?? null;
      const r = keyThrottleRate(rate, h.node, snapshot, ev.shardRate ?? rate, target);
      settings = { opsPerSec: r.opsPerSec, burst: burstOf(r.opsPerSec) };
      why = `throttle to ${r.opsPerSec} ops/s, ${r.why}; impact: ${h.impact.join(', ')}`;
      break;
    }
    case 'quota-tenant': {
      const q = tenantQuota(
        subject.name,
        { rate, totalRate: ev.totalRate ?? rate, tenants: ev.tenants ?? 1 },
        snapshot,
        target,
      );
      settings = { opsPerSec: q.opsPerSec, burst: burstOf(q.opsPerSec) };
      why = `quota of ${q.opsPerSec} ops/s, ${q.why}; impact: ${h.impact.join(', ')}`;
      break;
    }
    case 'shed': {
      const node = snapshot?.nodes.find((n) => n.id === subject.name);
      nodeP99 = node?.p99Ms ?? null;
      const tier = shedTier(snapshot, c.shedFrom, c.tenantPriority);
      if (tier === null) throw new Error('shed: no priority tier below the top one to refuse');
      settings = { belowPriority: tier.level };
      why = `shed on node ${subject.name}: refuse tenants below priority ${tier.level} (${tier.tenants.join(', ')}), lowest first, with retry-after; p99 over the SLO with nothing cheaper left`;
      break;
    }
    default:
      // Kinds only operators take (a whole key policy) are on no ladder.
      throw new Error(`the planner has no rung of kind '${kind as string}'`);
  }
  const otherP99 =
    kind === 'quota-tenant'
      ? measureDefault('otherTenantsP99Ms', {
          action: { subject } as ActionRecord,
          hotspot: h,
          shard: null,
          node: null,
          snapshot: snapshot,
          status: null,
        })
      : null;
  return {
    type: 'apply',
    kind,
    subject,
    settings: Object.freeze(settings),
    reason: `${what}: ${why}${after}`,
    hotspot: { id: h.id, evidence: h.evidence },
    prediction:
      predict(kind, h, {
        latency,
        copies: PLANNED_REMEDIES.replicate.count,
        flushMs,
        otherTenantsP99Ms: otherP99,
        nodeP99Ms: nodeP99,
      }) ?? undefined,
    rung,
    follows: follows?.record.id ?? null,
  };
}

/**
 * The cache on a warm key: one of the heaviest read keys of a read-hot hot
 * range or hot node (WARM_KEYS). The same cache as a hot key's, taken on the
 * range's or node's signal alone; judged by its own hit rate, since one key
 * of several cannot be held to the shard's or node's latency.
 */
export function warmKeyRequest(h: Hotspot, key: string, reads: number, minReads: number): PlannedAction {
  const where = h.kind === 'hot-range' ? `hot range ${h.subject}` : `hot node ${h.subject}`;
  return {
    type: 'apply',
    kind: 'cache',
    subject: { type: 'key', name: key },
    settings: Object.freeze({ ...PLANNED_REMEDIES.cache }),
    reason:
      `key ${JSON.stringify(key)} reads ${Math.round(reads)}/s in ${where} (${h.heat}, ${h.severity}): ` +
      `cache + coalescing: one of its heaviest read keys (≥ ${Math.round(WARM_KEYS.shareOfMeanShard * 100)} % of the mean shard, ${Math.round(minReads)} reads/s), cheap and reversible, taken on the ${h.kind} signal alone`,
    hotspot: { id: h.id, evidence: { ...h.evidence, keyReads: reads, minKeyReads: minReads } },
    prediction: predict('cache', h, { latency: false }) ?? undefined,
    rung: 0,
    follows: null,
  };
}

/**
 * The priority tier a shedding node refuses: the lowest tier of the
 * tenants with traffic at or above `from` (the level shed so far; null:
 * none), as `level` (refuse priorities below it: the shed action's `belowPriority`, Admission.setShedding)
 * and the tenants in it and below. Never the top tier: the most important
 * tenants are what shedding protects. Null when no tier is left.
 */
export function shedTier(
  snapshot: TickSnapshot | undefined,
  from: number | null,
  tenantPriority: ((tenant: string) => number) | undefined,
): { readonly level: number; readonly tenants: string[] } | null {
  const priority = tenantPriority ?? ((): number => DEFAULT_TENANT_PRIORITY);
  const tenants = (snapshot?.tenants ?? [])
    .filter((t) => t.id !== OTHER_TENANT && t.reads + t.writes > 0)
    .map((t) => ({ id: t.id, priority: priority(t.id) }))
    .sort((a, b) => a.priority - b.priority);
  const tiers = [...new Set(tenants.map((t) => t.priority))];
  const tier = tiers.slice(0, -1).find((p) => from === null || p >= from);
  if (tier === undefined) return null;
  return { level: tier + 1, tenants: tenants.filter((t) => t.priority <= tier).map((t) => t.id) };
}

function describe(h: Hotspot): string {
  const ev = h.evidence;
  const rate = typeof ev.rate === 'number' ? ` at ${Math.round(ev.rate)} ops/s` : '';
  const share =
    typeof ev.shareOfShard === 'number'
      ? `, ${Math.round(ev.shareOfShard * 100)}% of shard ${h.shard ?? '?'}`
      : '';
  const who = h.kind === 'noisy-tenant' ? 'tenant' : 'key';
  return `${who} ${JSON.stringify(h.subject)} is ${h.heat}${rate}${share} (${h.severity}${h.impact.length > 0 ? `: ${h.impact.join(', ')}` : ''})`;
}

/** A bucket of a tenth of a second's worth: bursts pass, a flood does not. */
const burstOf = (opsPerSec: number): number => Math.max(1, Math.round(opsPerSec / 10));
