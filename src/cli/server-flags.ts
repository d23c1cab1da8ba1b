/** Flags shared by the commands that start a hotshard server. */
import type { Command } from 'commander';
import { HotshardError } from '../errors.js';
import type { Hotshard } from '../hotshard.js';

/** Declares the server flags; none has a commander default so file and env settings are not overridden. */
export function addServerFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON config file (flags and HOTSHARD_* env override it)')
    .option('--backend <kind>', 'memory (embedded shards) or redis')
    .option('--redis <nodes>', 'Redis nodes for --backend redis: host:port,host:port,...')
    .option('--redis-password <password>', 'password the Redis nodes require')
    .option('--nodes <n>', 'embedded nodes (--backend memory)')
    .option('--shards <n>', 'shards (key ranges), spread over the nodes; default 4 per node')
    .option('--partitioner <kind>', 'hash (default) or range')
    .option('--host <address>', 'address to bind (default 127.0.0.1)')
    .option('--resp-port <port>', 'RESP port (default 6380)')
    .option('--http-port <port>', 'HTTP port (default 8080)')
    .option('--password <password>', 'require AUTH with this password')
    .option('--admin-password <password>', 'AUTH admin <password> unlocks FLUSHALL')
    .option(
      '--admin-token <token>',
      'Bearer token the state-changing HTTP endpoints require (policies, actions, automation)',
    )
    .option('--read-token <token>', 'Bearer token that reads the HTTP API but changes nothing')
    .option(
      '--automation <mode>',
      'auto (default), dry-run (recommend only), manual (operators only) or frozen',
    )
    .option('--capacity <ops>', 'embedded nodes: ops/s each serves before requests queue')
    .option('--data-dir <dir>', 'where the embedded config store keeps its files')
    .option('--store <url>', 'a postgres:// config store shared by several routers (default: embedded)')
    .option('--log-level <level>', 'fatal, error, warn, info (default), debug, trace, silent')
    .option('--slo-p99-ms <ms>', 'p99 latency objective the detector judges impact against (default 20)')
    .option('--no-telemetry', 'do not measure requests (only to measure what telemetry costs)')
    .option(
      '--telemetry-sample-budget <n>',
      'requests/s measured in full before a weighted sample is (default 5000; counts stay exact)',
    )
    .option('--access-log <file>', 'append a sampled access log (JSON lines) for `hotshard replay`')
    .option('--access-log-sample <fraction>', 'fraction of requests the access log keeps (default 0.01)');
}

/** The flags the user actually gave, as config fields. */
export function flagsToConfig(opts: Record<string, unknown>): Record<string, unknown> {
  const { accessLog, accessLogSample, telemetry, ...rest } = opts;
  const flags = Object.fromEntries(
    Object.entries(rest).filter(([k, v]) => k !== 'config' && v !== undefined),
  );
  // commander sets telemetry=true unless --no-telemetry: only an explicit "off" is a flag.
  if (telemetry === false) flags.telemetry = false;
  if (accessLog !== undefined || accessLogSample !== undefined) {
    flags.accessLog = {
      file: accessLog,
      ...(accessLogSample === undefined ? {} : { sampleRate: accessLogSample }),
    };
  }
  return flags;
}

/** What a started server tells its operator about the HTTP API: where it is and whether it can be changed. */
export function apiBanner(hs: Hotshard): string {
  const url = dashboardUrl(hs).slice(0, -1);
  const tokens =
    hs.config.adminToken === undefined
      ? 'no admin token: policies, actions and automation are read-only (set --admin-token or HOTSHARD_ADMIN_TOKEN)'
      : `admin token set${hs.config.readToken === undefined ? '' : ', read-only token set'}`;
  return `hotshard: dashboard and API at ${url}/ (policies, actions, automation, hotspots); ${tokens}; automation ${hs.config.automation}`;
}

/** Where a browser on this machine finds the dashboard: `http://HOST:PORT/` (a wildcard listen address as 127.0.0.1). */
export function dashboardUrl(hs: Hotshard): string {
  const host = hs.config.host === '0.0.0.0' || hs.config.host === '::' ? '127.0.0.1' : hs.config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${hs.httpPort}/`;
}

/** Where the server commands send configuration warnings (an unknown HOTSHARD_* variable): stderr, before any logger exists. */
export function warnConfig(message: string): void {
  console.error(`hotshard: warning: ${message}`);
}

/** Prints a start-up failure the way an operator wants it: one clear message, exit code 1. */
export function fail(err: unknown): never {
  if (err instanceof HotshardError) console.error(`hotshard: ${err.message}`);
  else if (err instanceof Error && 'code' in err && err.code === 'EADDRINUSE')
    console.error(`hotshard: ${err.message} (is another hotshard or Redis already listening there?)`);
  else console.error('hotshard: failed to start:', err);
  process.exit(1);
}
