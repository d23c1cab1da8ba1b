/**
 * One hotshard process: backends, routing table, router, and the RESP and
 * HTTP front ends, started and stopped together.
 */
import { mkdirSync } from 'node:fs';
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
import { EventBus } from './control/events.js';
import { Monitor } from './control/monitor.js';
import { registerControlApi } from './control/control-api.js';
import { createMetrics } from './control/metrics.js';

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
  /** Control-plane events (hotspots raised and cleared). */
  readonly events: EventBus;
  /** Stops accepting, drains in-flight requests, closes backends. Idempotent. */
  close(): Promise<void>;
}

/** Creates one backend per node. Redis nodes are connected before returning. */
async function createBackends(config: Config, log: Logger): Promise<Map<NodeId, ShardBackend>> {
  const backends = new Map<NodeId, ShardBackend>();
  if (config.backend === 'memory') {
    for (let i = 0; i < config.nodes; i++) {
      const node = nodeId(`n${i}`);
      backends.set(
        node,
        new MemoryBackend({
          node,
          capacity: config.capacity,
          maxQueue: config.maxQueue,
          maxValueBytes: config.limits.maxBulkBytes,
        }),
      );
    }
    return backends;
  }
  const created: RedisBackend[] = [];
  try {
    for (const address of config.redis) {
      const sep = address.lastIndexOf(':');
      const backend = new RedisBackend({
        node: nodeId(address),
        host: address.slice(0, sep),
        port: Number(address.slice(sep + 1)),
        password: config.redisPassword,
        timeoutMs: config.backendTimeoutMs,
      });
      created.push(backend);
      backends.set(backend.node, backend);
    }
    await Promise.all(created.map((b) => b.connect()));
  } catch (err) {
    await Promise.all(created.map((b) => b.close()));
    throw err;
  }
  log.info({ nodes: config.redis }, 'connected to redis nodes');
  return backends;
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
): Promise<Hotshard> {
  if (config.dataDir !== undefined) mkdirSync(config.dataDir, { recursive: true });
  // Before anything is connected, so a limit too low for any client stops start-up cleanly.
  const listeners = 2;
  const maxClients = fitMaxClients(
    config.limits.maxClients,
    log,
    listeners + (config.backend === 'redis' ? config.redis.length : 0),
  );
  const backends = await createBackends(config, log);
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
  } catch (err) {
    await Promise.all([...backends.values()].map((b) => b.close()));
    throw err;
  }
  const tenants = new Tenants({ password: config.password, declared: config.tenant.declared });
  const router = new Router(table, backends, {
    password: config.password,
    adminPassword: config.adminPassword,
    tenants,
  });

  const events = new EventBus();
  let telemetry: RouterTelemetry | undefined;
  let monitor: Monitor | undefined;
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
    monitor = new Monitor({
      router,
      telemetry,
      detector: new Detector(config.detector.rules),
      bus: events,
      sloP99Ms: config.sloP99Ms,
      tickMs: config.detector.tickMs,
      quietTickMs: config.detector.quietTickMs,
      windowSeconds: config.detector.windowSeconds,
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
    },
    log,
  );
  if (telemetry !== undefined && monitor !== undefined) {
    registerControlApi(http, { router, telemetry, monitor, bus: events });
    const metrics = createMetrics({ router, telemetry, monitor });
    http.get('/metrics', async (_req, res) => res.type(metrics.contentType).send(await metrics.metrics()));
  }
  let respPort: number;
  let httpPort: number;
  try {
    respPort = await resp.listen();
    await http.listen({ host: config.host, port: config.httpPort });
    httpPort = (http.server.address() as { port: number }).port;
  } catch (err) {
    await resp.close(0).catch(() => {});
    await http.close().catch(() => {});
    await Promise.all([...backends.values()].map((b) => b.close()));
    throw err;
  }
  router.infoExtras = () => ({
    tcp_port: respPort,
    http_port: httpPort,
    backend: config.backend,
    partitioner: partitioner.kind,
  });
  monitor?.start();
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
    close(): Promise<void> {
      closing ??= (async () => {
        monitor?.stop();
        const httpClosed = http.close();
        await resp.close(config.shutdownDrainMs);
        // In-flight HTTP requests had the same drain period; a connection that is
        // still open now (an event stream, a client that connected and never
        // asked) must not hold the process.
        http.server.closeAllConnections();
        await httpClosed;
        await accessLog?.close();
        await Promise.all([...backends.values()].map((b) => b.close()));
        log.info('hotshard stopped');
      })();
      return closing;
    },
  };
}
