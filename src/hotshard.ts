/**
 * One hotshard process: backends, routing table, router, and the RESP and
 * HTTP front ends, started and stopped together.
 */
import { pino, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { ShardBackend } from './backend/backend.js';
import { MemoryBackend } from './backend/memory.js';
import { RedisBackend } from './backend/redis.js';
import { shardCount, type Config } from './config.js';
import { nodeId, type NodeId } from './keyspace/ids.js';
import { hashPartitioner, rangePartitioner } from './keyspace/partitioner.js';
import { RoutingTable } from './keyspace/routing-table.js';
import { buildHttpServer } from './router/http-server.js';
import { RespServer } from './router/resp-server.js';
import { fitMaxClients } from './router/open-files.js';
import { Router } from './router/router.js';
import { Tenants } from './router/tenants.js';
import { AccessLog } from './router/access-log.js';
import { Instrumentation } from './router/instrumentation.js';
import { RouterTelemetry } from './telemetry/router-telemetry.js';
import { Detector } from './detect/detector.js';
import type { DetectorRules } from './detect/rules.js';
import { ErrorCode, HotshardError } from './errors.js';
import { keyText } from './telemetry/snapshot.js';
import { ControlErrors } from './control/control-errors.js';
import { EventBus } from './control/events.js';
import {
  registerNodesApi,
  registerNodesView,
  reportNodeStatus,
  type NodeStatusReport,
} from './control/nodes.js';
import { Monitor } from './control/monitor.js';
import { registerControlApi } from './control/control-api.js';
import { createMetrics } from './control/metrics.js';
import { registerMitigationApi } from './control/mitigation-api.js';
import { AuditLog, auditPlannerActions } from './control/audit.js';
import { registerAuditApi } from './control/audit-api.js';
import { registerRoutersApi } from './control/routers-api.js';
import { auditedOperations } from './control/audited-operations.js';
import { LocalShardOperations, type ShardOperations } from './control/operations.js';
import { registerOpenApi } from './control/openapi.js';
import { registerShardsApi } from './control/shards-api.js';
import { IncidentManager } from './control/incidents.js';
import { incidentInputs } from './control/incident-inputs.js';
import { registerIncidentsApi } from './control/incidents-api.js';
import { WebhookNotifier } from './control/webhooks.js';
import { systemClock } from './clock.js';
import { Executor } from './mitigate/executor.js';
import { keyFromText, keyPolicyActions } from './mitigate/key-actions.js';
import { Planner } from './mitigate/planner.js';
import { commandMixFrom, heavyKeysFrom } from './mitigate/planner-heavy.js';
import { submitPlan } from './mitigate/plan-runner.js';
import { PolicyManager } from './mitigate/policies.js';
import type { Remedy } from './mitigate/policy.js';
import { PER_ROUTER_REMEDIES, availableRemedies } from './mitigate/remedies.js';
import { admissionActions } from './mitigate/admission-actions.js';
import { configuredNodes, StoreLink, type NodeAccess } from './store/attach.js';
import { storeJournal, type Journal } from './store/journal.js';
import { MoveOutcome, type MoveState } from './rebalance/move.js';
import { ShardActions } from './rebalance/shard-actions.js';
import { RangePlanRunner } from './rebalance/range-plan-runner.js';
import { RangePlanning, servedCommandsOf } from './rebalance/range-planning.js';
import { rangeProposals, registerProposalsApi } from './control/proposals-api.js';
import { HeatHistory } from './control/heat-history.js';
import { KeyspaceHeat, keyedRequests } from './control/heat-keyspace.js';
import { registerHeatApi } from './control/heat-api.js';
import { registerDashboardSummary } from './control/dashboard-summary.js';

/** A running hotshard process. */
export interface Hotshard {
  readonly config: Config;
  readonly router: Router;
  readonly log: Logger;
  /** Bound RESP port (differs from the config when it asked for 0). */
  readonly respPort: number;
  /** Bound HTTP port. */
  readonly httpPort: number;
  readonly http: FastifyInstance;
  /** The RESP front end (client counts, buffered bytes). */
  readonly resp: RespServer;
  /** Router measurements (undefined when telemetry is off). */
  readonly telemetry: RouterTelemetry | undefined;
  /** The detection loop (undefined when telemetry is off). */
  readonly monitor: Monitor | undefined;
  /** Control-plane events (hotspots raised and cleared, nodes down and up, actions). */
  readonly events: EventBus;
  /** The key policies in force (cache, replicas, aggregation, salting, throttling per key). */
  readonly policies: PolicyManager;
  /** Every mitigation change, by the planner or an operator, under the automation mode; the actions log. */
  readonly executor: Executor;
  /** The config store and this process's link to it (`store.commit(table, reason)` changes the routing table). */
  readonly store: StoreLink;
  /** Every change to the control plane's state: who, when, what, why (GET /audit). */
  readonly audit: AuditLog;
  /** Split, move, merge, throttle, nodes: what the shard and node routes call (audited). */
  readonly operations: ShardOperations;
  /** Split sampling and the range/node planner (undefined when telemetry is off); its plans run through the executor. */
  readonly rangePlanning: RangePlanning | undefined;
  /** Incidents opened from hotspots and actions (undefined when telemetry is off). */
  readonly incidents: IncidentManager | undefined;
  /** Deliveries of events to the configured webhooks. */
  readonly webhooks: WebhookNotifier;
  /** Per-shard heat, 1 s for 10 minutes and 10 s for a day (undefined when telemetry is off). */
  readonly heat: HeatHistory | undefined;
  /** Stops accepting, drains in-flight requests, closes backends. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates one backend per node. Redis nodes are connected before returning;
 * one that cannot be reached does not stop start-up (a restart during a
 * one-node outage must not become a full outage): it is reported and its
 * backend keeps trying. A node that rejects the password does stop it: that
 * is a configuration error, which no retry fixes.
 */
async function createBackends(
  config: Config,
  log: Logger,
  report: NodeStatusReport,
): Promise<Map<NodeId, ShardBackend>> {
  const backends = new Map<NodeId, ShardBackend>();
  if (config.backend === 'memory') {
    for (let i = 0; i < config.nodes; i++) {
      const node = nodeId(`n${i}`);
      backends.set(node, memoryBackend(config, node));
    }
    return backends;
  }
  let starting = true;
  for (const address of config.redis) {
    // The first attempt's failure is reported below, once every node has had its try.
    const backend = redisBackend(config, address, (b, status, reason) => {
      if (!starting) report(b, status, reason);
    });
    backends.set(backend.node, backend);
  }
  const created = [...backends.values()] as RedisBackend[];
  const outcomes = await Promise.allSettled(created.map((b) => b.connect()));
  starting = false;
  const badAuth = outcomes.find(
    (o): o is PromiseRejectedResult => o.status === 'rejected' && codeOf(o.reason) === ErrorCode.BadAuth,
  );
  if (badAuth !== undefined) {
    await Promise.all(created.map((b) => b.close()));
    throw badAuth.reason;
  }
  // What each node is now: one may have come up, or gone down, while the others were tried.
  for (const b of created) if (b.status === 'down') report(b, 'down', b.health().reason ?? '', true);
  const up = created.filter((b) => b.status === 'up').map((b) => b.address);
  if (up.length === 0) {
    log.error(
      { nodes: config.redis },
      'no redis node answers: every request fails with HS_ERR_SHARD_UNAVAILABLE until one does',
    );
  } else {
    log.info({ nodes: up }, `connected to ${up.length} of ${created.length} redis nodes`);
  }
  return backends;
}

/** An embedded node as the config sets them up (capacity model, queue, value limit). */
function memoryBackend(config: Config, node: NodeId): MemoryBackend {
  return new MemoryBackend({
    node,
    capacity: config.capacity,
    maxQueue: config.maxQueue,
    maxValueBytes: config.limits.maxBulkBytes,
  });
}

/** A Redis node at `host:port`, not yet connected; its id is its address. */
function redisBackend(config: Config, address: string, report: NodeStatusReport): RedisBackend {
  const sep = address.lastIndexOf(':');
  const port = Number(address.slice(sep + 1));
  if (sep <= 0 || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new HotshardError(
      ErrorCode.BadRequest,
      `node address must be host:port, got ${JSON.stringify(address)}`,
    );
  const backend: RedisBackend = new RedisBackend({
    node: nodeId(address),
    host: address.slice(0, sep),
    port,
    password: config.redisPassword,
    timeoutMs: config.backendTimeoutMs,
    maxBusyMs: config.backendMaxBusyMs,
    onStatusChange: (status, reason) => report(backend, status, reason),
  });
  return backend;
}

/**
 * Opens a node an operator adds at run time (POST /nodes): a Redis node must
 * answer before it joins; an embedded node is named by its address.
 */
function nodeConnector(config: Config, report: NodeStatusReport): (address: string) => Promise<ShardBackend> {
  return async (address) => {
    if (config.backend === 'memory') {
      if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(address))
        throw new HotshardError(
          ErrorCode.BadRequest,
          `an embedded node is named by letters, digits and _ . : - (at most 64), got ${JSON.stringify(address)}`,
        );
      return memoryBackend(config, nodeId(address));
    }
    const backend = redisBackend(config, address, report);
    try {
      await backend.connect();
    } catch (err) {
      await backend.close();
      throw err;
    }
    return backend;
  };
}

/**
 * A key-level action in force on a key of `shard` (cache, replicas, counter
 * batching, a throttle), named, or null: the range planner leaves a
 * saturated shard to it before it moves the shard.
 */
function keyActionOn(executor: Executor, router: Router, shard: string): string | null {
  for (const r of executor.list({ state: 'done' })) {
    if (r.subject.type !== 'key' || r.revertedAt !== null) continue;
    if (!executor.activeOn(r.subject).some((a) => a.id === r.id)) continue;
    if (router.table.shardFor(keyFromText(r.subject.name)).id === shard) return `${r.kind} ${r.subject.name}`;
  }
  return null;
}

/**
 * Backends for Redis nodes the config store lists as added at run time (by
 * this process before a restart, or by another router) that this process
 * lacks: connected, and one that is down is reported and retried, as at
 * start; a wrong password stops it.
 */
function storedNodes(
  config: Config,
  report: NodeStatusReport,
  known: ReadonlyMap<NodeId, ShardBackend>,
  put: (backend: ShardBackend) => void,
): NodeAccess {
  return {
    has: (node) => known.has(node),
    async add(node) {
      const id = nodeId(node.id);
      if (known.has(id)) return;
      const backend = redisBackend(config, node.address ?? id, report);
      await backend.connect().catch((err: unknown) => {
        if (codeOf(err) === ErrorCode.BadAuth) throw err;
      });
      if (known.has(backend.node)) return backend.close();
      put(backend);
    },
  };
}

/** Node adds (POST /nodes) recorded in the config store, so a restart, or another router, gets their backends. */
function recordedNodes(
  connect: (address: string) => Promise<ShardBackend>,
  config: Config,
  store: StoreLink,
): (address: string) => Promise<ShardBackend> {
  return async (address) => {
    const backend = await connect(address);
    await store.store.nodes.put({
      id: backend.node,
      kind: config.backend === 'redis' ? 'redis' : 'memory',
      address: config.backend === 'redis' ? address : null,
      addedAt: Date.now(),
      status: 'added',
    });
    return backend;
  };
}

/** Stamps each journaled move with the router running it (shared store), so another can take it over if it dies. */
function ownedJournal(journal: Journal<MoveState>, store: StoreLink): Journal<MoveState> {
  return { ...journal, save: (state) => journal.save({ ...state, owner: store.cutover?.routerId }) };
}

function codeOf(err: unknown): ErrorCode | undefined {
  return err instanceof HotshardError ? err.code : undefined;
}

/**
 * Starts hotshard with a validated configuration.
 *
 * @example
 * const hs = await startHotshard(loadConfig({ flags: { respPort: 0, httpPort: 0 } }));
 * // redis-cli -p hs.respPort
 * await hs.close();
 */
export async function startHotshard(
  config: Config,
  log: Logger = pino({ level: config.logLevel }),
  /** The remedies keys may be given (default: availableRemedies()); tests pass their own. */
  remedies: readonly Remedy[] = availableRemedies(),
): Promise<Hotshard> {
  // Before anything is connected, so a limit too low for any client stops start-up cleanly.
  const listeners = 2;
  const maxClients = fitMaxClients(
    config.limits.maxClients,
    log,
    listeners + (config.backend === 'redis' ? config.redis.length : 0),
  );
  const events = new EventBus();
  const controlErrors = new ControlErrors(log.child({ component: 'control' }));
  events.onListenerError = (err, event) => controlErrors.record('event-listener', err, { event: event.type });
  const store = await StoreLink.open(config, log, (err) => controlErrors.record('store', err));
  const reportNode = reportNodeStatus(log, events);
  const backends = await createBackends(config, log, reportNode).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  // Nodes the config store knows that the configuration does not (added at run time): before the router exists.
  const startNodes = storedNodes(config, reportNode, backends, (b) => backends.set(b.node, b));
  const partitioner = config.partitioner === 'hash' ? hashPartitioner() : rangePartitioner();
  let table: RoutingTable;
  try {
    table = RoutingTable.create({
      partitioner,
      nodes: [...backends.keys()],
      shards: shardCount(config),
      ...(config.splits === undefined
        ? {}
        : { splits: config.splits.map((text) => partitioner.parse(text)) }),
    });
    table = await store.tableAtStart(
      table,
      configuredNodes(config, [...backends.keys()], Date.now()),
      startNodes,
    );
  } catch (err) {
    await Promise.all([...backends.values()].map((b) => b.close()));
    await store.close();
    throw err;
  }
  const tenants = new Tenants({ password: config.password, declared: config.tenant.declared });
  const router = new Router(table, backends, {
    password: config.password,
    adminPassword: config.adminPassword,
    tenants,
    tenantFromKey: config.tenant.keyPrefix,
    dedicatedPerNode: config.limits.dedicatedPerNode,
  });
  for (const [name, quota] of tenants.quotas()) router.admission.setTenantQuota(name, quota);

  router.onPolicyError = (err, key) => controlErrors.record('policy', err, { key: keyText(key) });
  const policies = new PolicyManager(
    { router, clock: systemClock },
    remedies,
    store.store.shared ? PER_ROUTER_REMEDIES : undefined,
  );
  const shardActions = new ShardActions({
    router,
    bus: events,
    connectNode: recordedNodes(nodeConnector(config, reportNodeStatus(log, events)), config, store),
    // Split, merge and node add save their table before installing it.
    install: (table, reason) => store.commit(table, reason),
    // Each move's state at every phase change: a restart resumes the open ones (StoreLink.attach).
    journal: ownedJournal(
      storeJournal<MoveState>(store.store, (state) => state.state === MoveOutcome.Running),
      store,
    ),
    forgetNode: async (node) => void (await store.store.nodes.delete(node)),
    // On a shared store every live router holds a move's range at its cutover (set once attached).
    cutover: () => store.cutover,
  });
  const executor = new Executor({
    handlers: [
      ...keyPolicyActions(policies),
      ...admissionActions(router.admission),
      ...shardActions.handlers,
    ],
    bus: events,
    mode: config.automation,
    doNotTouch: config.mitigation.doNotTouch,
    cooldownMs: config.mitigation.cooldownMs,
    maxPlannerActionsPerMinute: config.mitigation.maxActionsPerMinute,
    onError: (err, action) => controlErrors.record('action', err, { action: action.id, kind: action.kind }),
    idPrefix: store.actionIdPrefix,
  });

  const audit = new AuditLog({
    persist: (entry) => store.persistAudit(entry),
    onPersistError: (err, entry) => controlErrors.record('audit', err, { audit: entry.id }),
  });
  const stopAuditingPlanner = auditPlannerActions(events, audit);
  const operations = auditedOperations(
    new LocalShardOperations({ router, executor, bus: events, shardActions }),
    audit,
  );

  let telemetry: RouterTelemetry | undefined;
  let monitor: Monitor | undefined;
  let rangePlanning: RangePlanning | undefined;
  let incidents: IncidentManager | undefined;
  let heat: HeatHistory | undefined;
  let keyspaceHeat: KeyspaceHeat | undefined;
  let detectorRules: DetectorRules | undefined;
  const webhooks = new WebhookNotifier({
    hooks: config.webhooks,
    bus: events,
    timeoutMs: config.incidents.webhookTimeoutMs,
    maxAttempts: config.incidents.webhookMaxAttempts,
    maxQueue: config.incidents.webhookMaxQueue,
    onFailure: (origin, error, willRetry) =>
      log.warn({ webhook: origin, error, willRetry }, 'webhook delivery attempt failed'),
  });
  const accessLog =
    config.accessLog.file === undefined
      ? undefined
      : new AccessLog(config.accessLog.file, config.accessLog.sampleRate);
  if (config.telemetry) {
    telemetry = new RouterTelemetry({
      sampleBudget: config.telemetrySampleBudget,
      tenants: {
        maxTracked: config.tenant.maxTracked,
        idleSeconds: config.tenant.idleSeconds,
        pinned: tenants.declaredNames,
        closed: tenants.closed,
      },
    });
    router.instrument(
      new Instrumentation(telemetry, table, { accessLog, tenantFromKey: config.tenant.keyPrefix }),
    );
    const detector = new Detector(config.detector.rules);
    detectorRules = detector.rules;
    const planner = new Planner(
      {
        clock: systemClock,
        hotspots: () => detector.active(),
        actions: () => executor.list(),
        kinds: () => executor.kinds,
        inForce: (a) => executor.activeOn(a.subject).some((r) => r.id === a.id),
        status: (a) => executor.status(a.id),
        snapshot: () => monitor?.snapshot,
        tenantPriority: (t) => tenants.priorityOf(t),
        consistencyOf: (k) => policies.get(keyFromText(k))?.policy.consistency,
        heavyKeys: heavyKeysFrom(telemetry, router, config.detector.windowSeconds),
        commandMix: commandMixFrom(telemetry),
      },
      config.mitigation,
    );
    const ranges = new RangePlanning({
      clock: systemClock,
      router,
      hotspots: () => detector.active(),
      snapshot: () => monitor?.snapshot,
      capacity: config.capacity,
      settings: config.rebalance,
      extra: {
        movesInFlight: () => shardActions.moving,
        nodeUp: (n) => router.backends.get(nodeId(n))?.status === 'up',
        cheaperAction: (shard) => keyActionOn(executor, router, shard),
        servedCommands: () => servedCommandsOf(router.backends),
      },
    });
    rangePlanning = ranges;
    const rangeRunner = new RangePlanRunner({
      executor,
      clock: systemClock,
      snapshot: () => monitor?.snapshot,
      verifyDelayMs: config.mitigation.verifyDelayMs,
      onError: (err) => controlErrors.record('planner', err),
    });
    monitor = new Monitor({
      router,
      telemetry,
      detector,
      // After each firing: the planner turns what the detector holds into actions, verdicts and reverts.
      afterFiring: () => {
        try {
          void submitPlan(planner.tick(), executor, (err) => controlErrors.record('action', err));
        } catch (err) {
          controlErrors.record('planner', err);
        }
        // Plans splits, moves and merges (run through the executor, under the automation mode) and points the split sampler at hot ranges.
        try {
          rangeRunner.tick();
          rangeRunner.submit(ranges.tick());
        } catch (err) {
          controlErrors.record('planner', err);
        }
        incidents?.tick();
      },
      bus: events,
      sloP99Ms: config.sloP99Ms,
      tickMs: config.detector.tickMs,
      quietTickMs: config.detector.quietTickMs,
      windowSeconds: config.detector.windowSeconds,
      onError: (err) => controlErrors.record('monitor', err),
    });
    heat = new HeatHistory({
      router,
      telemetry,
      sloP99Ms: config.sloP99Ms,
      nodeCapacity: config.backend === 'memory' ? (config.capacity ?? null) : null,
      store: store.store.heat,
      source: store.actionIdPrefix.replace(/^a-|-$/g, '') || 'local',
      bus: events,
      onError: (err) => controlErrors.record('store', err),
    });
    keyspaceHeat = new KeyspaceHeat(
      () => router.table,
      telemetry.counters('shard').seconds,
      keyedRequests(telemetry),
    );
    telemetry.keySink = keyspaceHeat;
    incidents = new IncidentManager({
      bus: events,
      inputs: incidentInputs(monitor, telemetry, executor),
      sloP99Ms: config.sloP99Ms,
      resolveAfterMs: config.incidents.resolveAfterMs,
      expectedRecoveryMs: config.mitigation.verifyDelayMs,
      keep: config.incidents.keep,
      onError: (err) => controlErrors.record('incidents', err),
    });
  }

  const resp = new RespServer(
    router,
    { ...config.limits, maxClients, host: config.host, port: config.respPort, limits: config.limits },
    log.child({ component: 'resp' }),
  );
  const http = buildHttpServer(
    router,
    {
      tenantHeader: config.tenant.header.toLowerCase(),
      tenantKeyPrefix: config.tenant.keyPrefix,
      maxValueBytes: config.limits.maxBulkBytes,
      adminToken: config.adminToken,
      readToken: config.readToken,
    },
    log,
  );
  registerNodesView(http, router);
  registerNodesApi(http, operations);
  registerShardsApi(http, { router, operations, telemetry });
  registerMitigationApi(http, { executor, policies, audit, operations });
  registerAuditApi(http, audit);
  registerRoutersApi(http, store);
  registerOpenApi(http);
  if (telemetry !== undefined && monitor !== undefined) {
    registerControlApi(http, { router, telemetry, monitor, bus: events });
    if (rangePlanning !== undefined) registerProposalsApi(http, rangeProposals(rangePlanning));
    if (incidents !== undefined)
      registerIncidentsApi(http, { incidents, tenantHeader: config.tenant.header.toLowerCase() });
    if (heat !== undefined && keyspaceHeat !== undefined && detectorRules !== undefined) {
      registerHeatApi(http, { history: heat, keyspace: keyspaceHeat, telemetry });
      registerDashboardSummary(http, {
        router,
        monitor,
        executor,
        policies,
        rules: detectorRules,
      });
    }
    const metrics = createMetrics({ router, telemetry, monitor, controlErrors, incidents, webhooks });
    http.get('/metrics', async (_req, res) => res.type(metrics.contentType).send(await metrics.metrics()));
  }
  let respPort: number;
  let httpPort: number;
  try {
    await store.attach({
      router,
      policies,
      executor,
      events,
      audit,
      incidents,
      nodes: storedNodes(config, reportNode, router.backends, (b) => router.addBackend(b.node, b)),
      resumeMove: (state) => shardActions.resume(state as MoveState),
    });
    respPort = await resp.listen();
    await http.listen({ host: config.host, port: config.httpPort });
    httpPort = (http.server.address() as { port: number }).port;
    store.cutover?.setAddress(`resp ${config.host}:${respPort} http ${config.host}:${httpPort}`);
  } catch (err) {
    await resp.close(0).catch(() => {});
    await http.close().catch(() => {});
    await store.close().catch(() => {});
    await policies.clear().catch(() => {});
    await Promise.all([...backends.values()].map((b) => b.close()));
    throw err;
  }
  router.infoExtras = () => ({
    server: {
      tcp_port: respPort,
      http_port: httpPort,
      backend: config.backend,
      partitioner: partitioner.kind,
    },
    // What the RESP server enforces: fitMaxClients may have lowered the configured value.
    clients: { maxclients: resp.options.maxClients },
  });
  monitor?.start();
  heat?.start();
  log.info(
    { respPort, httpPort, backend: config.backend, nodes: backends.size, shards: table.shards.length },
    'hotshard ready',
  );

  let closing: Promise<void> | undefined;
  return {
    config,
    router,
    log,
    respPort,
    httpPort,
    http,
    resp,
    telemetry,
    monitor,
    events,
    policies,
    executor,
    store,
    audit,
    operations,
    rangePlanning,
    incidents,
    webhooks,
    heat,
    close(): Promise<void> {
      closing ??= (async () => {
        monitor?.stop();
        await heat?.stop();
        incidents?.close();
        stopAuditingPlanner();
        // Last notices (an incident that just resolved) get a moment, never the whole drain.
        const notified = webhooks.close(Math.min(config.shutdownDrainMs, 2000));
        const httpClosed = http.close();
        await resp.close(config.shutdownDrainMs);
        // In-flight HTTP requests had the same drain period; a connection that is
        // still open now (an event stream, a client that connected and never
        // asked) must not hold the process.
        http.server.closeAllConnections();
        await httpClosed;
        await accessLog?.close();
        await notified;
        // Before the policies go: their removal at shutdown is not a change to keep.
        await store.close().catch((err: unknown) => controlErrors.record('store', err));
        // Before the backends go: a pending batch is flushed, salted sub-keys folded back, copies removed.
        await policies.clear().catch((err: unknown) => controlErrors.record('policy', err));
        // The router's too: nodes added at run time are only there.
        await Promise.all(
          [...new Set([...backends.values(), ...router.backends.values()])].map((b) => b.close()),
        );
        log.info('hotshard stopped');
      })();
      return closing;
    },
  };
}
