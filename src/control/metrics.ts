/**
 * Prometheus exposition. Everything is computed at scrape time from router
 * telemetry, so metrics cost nothing on the request path. Label cardinality
 * is bounded: shards and nodes are as many as the routing table has, tenants
 * are capped (the rest are summed as "other"), and hot keys are exported as a
 * fixed number of ranks.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControlErrors } from './control-errors.js';
import type { Router } from '../router/router.js';
import { keyText } from '../telemetry/snapshot.js';
import { OTHER_TENANT } from '../telemetry/tenant-table.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import { replaceEventLoopLag } from './event-loop-lag.js';
import type { Monitor } from './monitor.js';
import type { IncidentManager } from './incidents.js';
import { DELIVERY_OUTCOMES, type WebhookNotifier } from './webhooks.js';

/** Tenants exported by name; the rest are summed under "other". */
const MAX_TENANTS = 20;
/** Hot keys exported, by rank. */
const HOT_KEY_RANKS = 10;
/** Longest key text used as a label value. */
const MAX_KEY_LABEL = 64;

/** Builds the registry for one hotshard process. */
export function createMetrics(deps: {
  router: Router;
  telemetry: RouterTelemetry;
  monitor: Monitor;
  controlErrors?: ControlErrors;
  incidents?: IncidentManager;
  webhooks?: WebhookNotifier;
}): Registry {
  const { router, telemetry, monitor, controlErrors, incidents, webhooks } = deps;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'hotshard_process_' });
  replaceEventLoopLag(registry, 'hotshard_process_');

  const window = 1;
  const opsGauge = (name: string, help: string, labels: string[]): Gauge =>
    new Gauge({ name, help, labelNames: labels, registers: [registry] });

  // Registered first: its collect() fills every other gauge, once per scrape,
  // before prom-client serialises them in registration order.
  const tableVersion = new Gauge({
    name: 'hotshard_routing_table_version',
    help: 'Version of the routing table in force.',
    registers: [registry],
    collect: () => collectAll(),
  });
  const shardOps = opsGauge(
    'hotshard_shard_ops_per_second',
    'Requests per second sent to a shard over the last whole second, by kind.',
    ['shard', 'node', 'kind'],
  );
  const shardP99 = opsGauge(
    'hotshard_shard_p99_seconds',
    'p99 latency of a shard over the last 10 seconds.',
    ['shard', 'node'],
  );
  const nodeOps = opsGauge(
    'hotshard_node_ops_per_second',
    'Requests per second sent to a node over the last whole second, by kind.',
    ['node', 'kind'],
  );
  const nodeP99 = opsGauge('hotshard_node_p99_seconds', 'p99 latency of a node over the last 10 seconds.', [
    'node',
  ]);
  const nodeInflight = opsGauge('hotshard_node_inflight', 'Requests in flight to a node now.', ['node']);
  const nodeUp = opsGauge('hotshard_node_up', 'Whether a node takes requests now (1) or is down (0).', [
    'node',
  ]);
  const nodeErrors = opsGauge(
    'hotshard_node_errors_per_second',
    'Failed and shed requests per second at a node over the last 10 seconds.',
    ['node', 'outcome'],
  );
  const tenantOps = opsGauge(
    'hotshard_tenant_ops_per_second',
    `Requests per second by tenant over the last 10 seconds (top ${MAX_TENANTS}, the rest as "other").`,
    ['tenant'],
  );
  const hotKey = opsGauge(
    'hotshard_hot_key_ops_per_second',
    `The ${HOT_KEY_RANKS} heaviest keys over the last 5 seconds, by rank (key label truncated to ${MAX_KEY_LABEL} chars).`,
    ['rank', 'key', 'shard'],
  );
  const skewGauge = opsGauge(
    'hotshard_skew',
    'Skew of per-shard and per-node load (reads, writes, bytes) from the newest detector snapshot.',
    ['over', 'dimension', 'measure'],
  );
  const hotspots = opsGauge('hotshard_hotspots_active', 'Active hotspots by kind and severity.', [
    'kind',
    'severity',
  ]);
  const clients = opsGauge('hotshard_clients_connected', 'Connected RESP clients.', []);
  new Counter({
    name: 'hotshard_control_errors_total',
    help: 'Failures of the control loop (where: monitor, event-listener), logged and survived.',
    labelNames: ['where'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [where, n] of controlErrors?.counts ?? []) this.inc({ where }, n);
    },
  });
  new Counter({
    name: 'hotshard_commands_total',
    help: 'Commands received over RESP and HTTP.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(router.stats.commands);
    },
  });

  new Gauge({
    name: 'hotshard_incidents_open',
    help: 'Incidents open now (investigating, mitigating or monitoring), by severity.',
    labelNames: ['severity'],
    registers: [registry],
    collect() {
      this.reset();
      for (const severity of ['info', 'warning', 'critical']) this.set({ severity }, 0);
      for (const i of incidents?.open() ?? []) this.inc({ severity: i.severity });
    },
  });
  new Counter({
    name: 'hotshard_webhook_deliveries_total',
    help: 'Webhook deliveries by outcome: delivered, retried (an attempt failed and will be retried), failed (gave up), dropped (queue full or shutdown).',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const outcome of DELIVERY_OUTCOMES) this.inc({ outcome }, webhooks?.counts.get(outcome) ?? 0);
    },
  });

  // One reading of the telemetry's clock for the whole scrape, so per-shard and per-node figures agree.
  const collectAll = (): void => telemetry.consistent(collectAt);

  function collectAt(): void {
    tableVersion.set(router.table.version);
    clients.set(router.stats.connectedClients);

    shardOps.reset();
    shardP99.reset();
    const shard1 = telemetry.window('shard', window);
    const shard10 = telemetry.window('shard', 10);
    for (const s of router.table.shards) {
      const w = shard1.get(s.id);
      shardOps.set({ shard: s.id, node: s.node, kind: 'read' }, w?.reads ?? 0);
      shardOps.set({ shard: s.id, node: s.node, kind: 'write' }, w?.writes ?? 0);
      shardP99.set({ shard: s.id, node: s.node }, (shard10.get(s.id)?.p99Ms ?? 0) / 1000);
    }

    nodeOps.reset();
    nodeP99.reset();
    nodeInflight.reset();
    nodeUp.reset();
    nodeErrors.reset();
    const node1 = telemetry.window('node', window);
    const node10 = telemetry.window('node', 10);
    for (const [id, backend] of router.backends) {
      nodeUp.set({ node: id }, backend.status === 'up' ? 1 : 0);
      const w = node1.get(id);
      const w10 = node10.get(id);
      nodeOps.set({ node: id, kind: 'read' }, w?.reads ?? 0);
      nodeOps.set({ node: id, kind: 'write' }, w?.writes ?? 0);
      nodeP99.set({ node: id }, (w10?.p99Ms ?? 0) / 1000);
      nodeInflight.set({ node: id }, w10?.inflight ?? 0);
      nodeErrors.set({ node: id, outcome: 'error' }, w10?.errors ?? 0);
      nodeErrors.set({ node: id, outcome: 'shed' }, w10?.shed ?? 0);
    }

    tenantOps.reset();
    // Telemetry's own `other` (tenants it does not track by name) joins the ones cut here.
    const all = [...telemetry.window('tenant', 10).values()].map((w) => ({
      id: w.id,
      ops: w.reads + w.writes,
    }));
    const untracked = all.find((t) => t.id === OTHER_TENANT);
    let other = untracked?.ops ?? 0;
    const hasOther = untracked !== undefined;
    const tenants = all.filter((t) => t !== untracked).sort((a, b) => b.ops - a.ops);
    tenants.forEach((t, i) => {
      if (i < MAX_TENANTS) tenantOps.set({ tenant: t.id }, t.ops);
      else other += t.ops;
    });
    if (hasOther || tenants.length > MAX_TENANTS) tenantOps.set({ tenant: OTHER_TENANT }, other);

    hotKey.reset();
    telemetry.topKeys(5, HOT_KEY_RANKS).forEach((k, i) => {
      const text = keyText(k.key, k.truncated);
      hotKey.set(
        {
          rank: String(i + 1),
          key: text.length > MAX_KEY_LABEL ? `${text.slice(0, MAX_KEY_LABEL)}…` : text,
          shard: router.table.shardFor(k.key).id,
        },
        k.reads + k.writes,
      );
    });

    skewGauge.reset();
    const skew = monitor.skew;
    for (const over of ['shards', 'nodes'] as const) {
      for (const dimension of ['reads', 'writes', 'bytes'] as const) {
        const m = skew[over][dimension];
        const measures: Record<string, number> = {
          max_over_median: m.maxOverMedian,
          max_over_mean: m.maxOverMean,
          p95_over_p50: m.p95OverP50,
          gini: m.gini,
          cv: m.cv,
          entropy: m.entropy,
        };
        for (const [measure, value] of Object.entries(measures)) {
          // max/median is +Inf when the median shard is idle: the most skewed moment, so it is exported as +Inf rather than dropped.
          if (!Number.isNaN(value)) skewGauge.set({ over, dimension, measure }, value);
        }
      }
    }

    hotspots.reset();
    for (const h of monitor.active()) hotspots.inc({ kind: h.kind, severity: h.severity });
  }
  return registry;
}
