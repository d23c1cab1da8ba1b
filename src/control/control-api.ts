/**
 * The control plane's read API over HTTP: hotspots, heavy keys, per-shard
 * stats, skew, and a server-sent event stream of hotspots raised and cleared.
 *
 *   GET /hotspots             {"active":[...], "recent":[...]}
 *   GET /hotkeys?limit=N      heaviest keys over the last few seconds, with shard and node
 *   GET /shards/stats?window=S  per-shard rates and latency over the last S seconds
 *   GET /skew                 skew measures over shards and nodes (reads, writes, bytes)
 *   GET /events               text/event-stream; Last-Event-ID resumes from the backlog
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCode } from '../errors.js';
import type { Router } from '../router/router.js';
import { keyText } from '../telemetry/snapshot.js';
import type { RouterTelemetry } from '../telemetry/router-telemetry.js';
import type { ControlEvent, EventBus } from './events.js';
import type { Monitor } from './monitor.js';

/** What the control API reads. */
export interface ControlApiDeps {
  readonly router: Router;
  readonly telemetry: RouterTelemetry;
  readonly monitor: Monitor;
  readonly bus: EventBus;
}

const HEARTBEAT_MS = 15_000;

function intParam(value: string | undefined, fallback: number, min: number, max: number): number | string {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    return `must be an integer from ${min} to ${max}, got '${value}'`;
  return n;
}

/** One entity's counters over a telemetry window as the API shows them (zeros when it saw nothing). */
export function windowLoad(w: Partial<Record<WindowField, number>> | undefined): Record<WindowField, number> {
  return {
    reads: w?.reads ?? 0,
    writes: w?.writes ?? 0,
    bytesIn: w?.bytesIn ?? 0,
    bytesOut: w?.bytesOut ?? 0,
    errors: w?.errors ?? 0,
    shed: w?.shed ?? 0,
    p50Ms: w?.p50Ms ?? 0,
    p99Ms: w?.p99Ms ?? 0,
    inflight: w?.inflight ?? 0,
  };
}

type WindowField =
  'reads' | 'writes' | 'bytesIn' | 'bytesOut' | 'errors' | 'shed' | 'p50Ms' | 'p99Ms' | 'inflight';

function sseFrame(e: ControlEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ at: e.at, ...(e.data as object) })}\n\n`;
}

/** Registers the control read API on an app. */
export function registerControlApi(app: FastifyInstance, deps: ControlApiDeps): void {
  const { router, telemetry, monitor, bus } = deps;
  const bad = (message: string): { error: { code: string; message: string } } => ({
    error: { code: ErrorCode.BadRequest, message },
  });

  app.get('/hotspots', () => ({ active: monitor.active(), recent: monitor.history().slice(-50).reverse() }));

  app.get<{ Querystring: { limit?: string; window?: string } }>('/hotkeys', (req, res) => {
    const limit = intParam(req.query.limit, 20, 1, telemetry.topK);
    const window = intParam(req.query.window, 5, 1, telemetry.keys.seconds);
    if (typeof limit === 'string') return res.code(400).send(bad(`limit ${limit}`));
    if (typeof window === 'string') return res.code(400).send(bad(`window ${window}`));
    const table = router.table;
    return {
      windowSeconds: window,
      keys: telemetry.topKeys(window, limit).map((k) => {
        const shard = table.shardFor(k.key);
        return {
          key: keyText(k.key, k.truncated),
          shard: shard.id,
          node: shard.node,
          reads: k.reads,
          writes: k.writes,
          bytes: k.bytes,
          error: k.error,
        };
      }),
    };
  });

  app.get<{ Querystring: { window?: string } }>('/shards/stats', (req, res) => {
    const window = intParam(req.query.window, 10, 1, 600);
    if (typeof window === 'string') return res.code(400).send(bad(`window ${window}`));
    const stats = telemetry.window('shard', window);
    return {
      windowSeconds: window,
      version: router.table.version,
      shards: router.table.shards.map((s) => {
        const w = stats.get(s.id);
        return { shard_id: s.id, node: s.node, status: s.status, ...windowLoad(w) };
      }),
    };
  });

  app.get('/skew', () => monitor.skew);

  // Open event streams never end on their own, and the HTTP server's close waits for every
  // connection: without ending them first, stopping hotshard would hang while a client listens.
  const streams = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of streams) end();
    done();
  });

  app.get('/events', (req, res) => {
    const raw = res.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const lastId = Number(req.headers['last-event-id'] ?? '0');
    raw.write(': hotshard events\n\n');
    if (req.headers['last-event-id'] !== undefined && Number.isInteger(lastId) && lastId >= 0) {
      for (const e of bus.since(lastId)) raw.write(sseFrame(e));
    }
    const unsubscribe = bus.subscribe((e) => raw.write(sseFrame(e)), { broadcasts: true });
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const end = (): void => {
      if (!streams.delete(end)) return;
      clearInterval(heartbeat);
      unsubscribe();
      raw.end();
    };
    streams.add(end);
    req.raw.on('close', end);
    return res.hijack();
  });
}
