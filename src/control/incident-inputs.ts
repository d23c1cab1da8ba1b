/**
 * What the incident manager reads from a running hotshard: the detector's
 * hotspots, the health of an incident's nodes from the monitor's newest
 * snapshot, which tenants send there (telemetry's tenant mix), and how many
 * requests failed or were shed there, second by second.
 *
 * An incident's tenants are those whose requests reach its nodes, not only
 * its hot key or range: a hot node queues every request it serves, so every
 * tenant with traffic there feels it. A tenant-only incident (a noisy tenant
 * alone) has no nodes: its tenants are left unknown, so every tenant's
 * status page shows it.
 */
import type { Executor } from '../mitigate/executor.js';
import type { Monitor } from './monitor.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import type { IncidentScope, TenantImpact } from './incident.js';
import type { IncidentInputs, ScopeHealth } from './incidents.js';

/** Tenants listed per incident at most, heaviest first. */
const MAX_TENANTS = 20;
/** A tenant sending less than this share of its requests to the incident's nodes is not listed. */
const MIN_SHARE = 0.01;
/** Seconds of the tenant mix read: the one that ended and the current one. */
const MIX_SECONDS = 2;
/**
 * Fewer (estimated) requests of a tenant in the window than this and its
 * shares are not read: a ratio of a handful, as when a load has just stopped,
 * is noise, and an incident keeps the peaks.
 */
const MIN_REQUESTS = 20;

/** IncidentInputs over a hotshard's monitor and telemetry. */
export function incidentInputs(
  monitor: Monitor,
  telemetry: RouterTelemetry,
  executor?: Pick<Executor, 'progress'>,
): IncidentInputs {
  const nodesOf = (scope: IncidentScope): string[] =>
    scope.nodes.length > 0 ? scope.nodes : monitor.snapshot.nodes.map((n) => n.id);
  return {
    hotspots: () => monitor.active(),
    ...(executor === undefined ? {} : { progress: (id: string) => executor.progress(id) }),

    health(scope): ScopeHealth {
      const s = monitor.snapshot;
      const nodes = new Set(nodesOf(scope));
      const loads = [
        ...s.nodes.filter((n) => nodes.has(n.id)),
        ...s.shards.filter((x) => scope.shards.includes(x.id)),
      ].filter((e) => e.reads + e.writes > 0);
      return {
        p99Ms: loads.length === 0 ? null : Math.max(...loads.map((e) => e.p99Ms)),
        shedPerSec: s.nodes.filter((n) => nodes.has(n.id)).reduce((sum, n) => sum + n.shed, 0),
      };
    },

    tenants(scope): TenantImpact[] {
      if (scope.nodes.length === 0) return [];
      const sums = new Map<string, { to: number; hot: number; total: number }>();
      const add = (kind: 'node' | 'shard', ids: readonly string[]): void => {
        for (const id of ids)
          for (const [tenant, c] of telemetry.tenantsOf(kind, id, MIX_SECONDS)) {
            const s = sums.get(tenant) ?? { to: 0, hot: 0, total: c.total };
            if (kind === 'node') s.to += c.toEntity;
            else s.hot += c.toEntity;
            sums.set(tenant, s);
          }
      };
      add('node', scope.nodes);
      add('shard', scope.shards);
      // The window is one whole second plus the part of the current one gone by.
      const span = 1 + (telemetry.now() % 1000) / 1000;
      return [...sums]
        .filter(([, c]) => c.total >= MIN_REQUESTS)
        .map(([tenant, c]) => ({
          tenant,
          share: c.total > 0 ? Math.min(1, c.to / c.total) : 0,
          requestsPerSec: Math.round(c.to / span),
          hotShare: scope.shards.length === 0 ? null : c.total > 0 ? Math.min(1, c.hot / c.total) : 0,
        }))
        .filter((t) => t.share >= MIN_SHARE)
        .sort((a, b) => b.requestsPerSec - a.requestsPerSec)
        .slice(0, MAX_TENANTS);
    },

    failures(scope, fromSecond, toSecond): number {
      const current = telemetry.second;
      const seconds = Math.min(600, current - fromSecond);
      if (seconds <= 0) return 0;
      let n = 0;
      for (const node of nodesOf(scope)) {
        for (const sec of telemetry.series('node', node, seconds)) {
          const at = sec.t / 1000;
          if (at >= fromSecond && at <= toSecond) n += sec.errors + sec.shed;
        }
      }
      return Math.round(n);
    },
  };
}
