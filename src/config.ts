/**
 * Configuration: defaults < config file (JSON) < environment (HOTSHARD_*) <
 * command-line flags. Validated once at start-up; a bad value stops the
 * process with a message naming the field, where it came from and what is
 * accepted.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fieldsAt, givenValue, unknownEnvWarnings } from './config-messages.js';
import { ConfigError } from './errors.js';
import { AUTOMATION_MODES } from './mitigate/executor.js';
import { patternProblem } from './mitigate/key-patterns.js';
import { DEFAULT_PLANNER_SETTINGS as PLANNER } from './mitigate/planner-io.js';
import { DEFAULT_DECODER_LIMITS } from './protocol/request-decoder.js';
import { rebalanceSchema } from './rebalance/rebalance-config.js';
import {
  HIGHEST_TENANT_PRIORITY,
  LOWEST_TENANT_PRIORITY,
  RESERVED_TENANT_NAMES,
  TENANT_NAME,
} from './router/tenants.js';
import { DEFAULT_SAMPLE_BUDGET } from './telemetry/router-telemetry.js';
import { DEFAULT_MAX_TRACKED_TENANTS, DEFAULT_TENANT_IDLE_SECONDS } from './telemetry/tenant-table.js';
import { checkPostgresUrl } from './store/url.js';

const port = z.coerce.number().int().min(0).max(65535);
const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7001');
const positiveInt = z.coerce.number().int().positive();
/** An HTTP bearer token: long enough not to be guessed, and nothing a header would mangle. */
const secretToken = z
  .string()
  .min(16, 'must be at least 16 characters (e.g. openssl rand -hex 16)')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const limitsSchema = z
  .object({
    /** Largest bulk string a client may send (bytes). */
    maxBulkBytes: positiveInt.default(DEFAULT_DECODER_LIMITS.maxBulkBytes),
    /** Most arguments in one command. */
    maxArgs: positiveInt.default(DEFAULT_DECODER_LIMITS.maxArgs),
    /** Longest inline command line (bytes). */
    maxInlineBytes: positiveInt.default(DEFAULT_DECODER_LIMITS.maxInlineBytes),
    /** Commands in flight per client before its socket stops being read. */
    maxPipeline: positiveInt.default(1024),
    maxClients: positiveInt.default(10_000),
    /**
     * Dedicated connections per node for WATCH and blocking commands (BLPOP ...);
     * past it such a command is refused at once (BUSY HS_ERR_NODE_OVERLOADED).
     */
    dedicatedPerNode: positiveInt.default(64),
    /** Close idle clients after this many ms; 0 = never (Redis's default). */
    idleTimeoutMs: z.coerce.number().int().min(0).default(0),
    /** Stop reading a client whose unread replies exceed this (bytes). */
    outputHighWater: positiveInt.default(8 * 1024 * 1024),
    /** Cut off a client whose unfinished command holds more than this (bytes); Redis's client-query-buffer-limit. */
    maxQueryBytes: positiveInt.default(256 * 1024 * 1024),
    /**
     * How long a connection the server closes (protocol error, QUIT, maxClients,
     * shutdown) is still read, and its input dropped, before it is destroyed (ms).
     */
    closeLingerMs: positiveInt.max(2 ** 31 - 1).default(1000), // setTimeout's range
  })
  .strict();

const tenantQuota = z
  .object({
    /** Sustained requests per second (fractions allowed: 0.5 is one every 2 s). */
    opsPerSec: z.number().positive('expected a positive number of requests per second'),
    /** Requests it may send at once after a quiet spell; default one second's worth (at least 1). */
    burst: z.number().min(1, 'expected at least 1 request').optional(),
  })
  .strict();

const tenantDeclaration = z
  .object({
    /** The AUTH username, tenant header value and (with keyPrefix) key prefix. */
    name: z
      .string()
      .regex(TENANT_NAME, `expected a name matching ${TENANT_NAME.source}`)
      .refine((n) => !RESERVED_TENANT_NAMES.includes(n), {
        message: `reserved: ${RESERVED_TENANT_NAMES.join(', ')}`,
      }),
    /** Its AUTH password; unset: the top-level password (if that is unset too, none is needed). */
    password: z.string().min(1).optional(),
    /** Its rate limit, enforced before routing: past it, BUSY HS_ERR_THROTTLED scope=tenant (HTTP 429). */
    quota: tenantQuota.optional(),
    /** Who is shed first when a node is saturated: 0 (lowest) first; default 1. */
    priority: z
      .number()
      .int('expected an integer priority')
      .min(
        LOWEST_TENANT_PRIORITY,
        `expected ${LOWEST_TENANT_PRIORITY} (lowest) to ${HIGHEST_TENANT_PRIORITY}`,
      )
      .max(
        HIGHEST_TENANT_PRIORITY,
        `expected ${LOWEST_TENANT_PRIORITY} (lowest) to ${HIGHEST_TENANT_PRIORITY}`,
      )
      .optional(),
  })
  .strict();

/**
 * Tenants: who they are, how traffic names them, and how many telemetry
 * keeps by name. Per-tenant settings (quotas, priorities) belong on the
 * entries of `declared`.
 */
const tenantSchema = z
  .object({
    /** HTTP header naming the tenant. */
    header: z.string().min(1).default('x-tenant'),
    /** Store HTTP keys as `<tenant>:<key>` so tenants cannot collide; RESP keys' prefix names their tenant. */
    keyPrefix: z.coerce.boolean().default(false),
    /**
     * The only tenants that exist (besides `default`): AUTH, the tenant header
     * and key prefixes accept no other name. Unset: any name is a tenant.
     */
    declared: z
      .array(tenantDeclaration)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((d, i) => {
          if (seen.has(d.name))
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `tenant '${d.name}' is declared twice`,
            });
          seen.add(d.name);
          if (d.name === 'default' && d.password !== undefined)
            ctx.addIssue({
              code: 'custom',
              path: [i, 'password'],
              message: "the default tenant's password is the top-level password",
            });
        });
      })
      .optional(),
    /** Undeclared tenants telemetry keeps by name; the rest are summed as `other`. */
    maxTracked: positiveInt.default(DEFAULT_MAX_TRACKED_TENANTS),
    /** Seconds without a request before an undeclared tenant's counters are freed. */
    idleSeconds: positiveInt.default(DEFAULT_TENANT_IDLE_SECONDS),
  })
  .strict();

/** Key patterns (Redis glob, as KEYS takes): each must be one a key can match. */
const keyPatterns = z.array(
  z.string().superRefine((p, ctx) => {
    const problem = patternProblem(p);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  }),
);
const milliseconds = z.coerce
  .number()
  .int()
  .positive()
  .max(2 ** 31 - 1); // setTimeout's range
/** As `milliseconds`, 0 allowed (no wait). */
const millisecondsOrZero = z.coerce
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);

/**
 * The planner and what it may do (src/mitigate/planner.ts, PlannerSettings,
 * for what each field means). The executor reads cooldownMs and
 * maxActionsPerMinute too.
 */
const mitigationSchema = z
  .object({
    counters: keyPatterns.default([...PLANNER.counters]),
    strong: keyPatterns.default([...PLANNER.strong]),
    doNotTouch: keyPatterns.default([...PLANNER.doNotTouch]),
    hysteresisMs: milliseconds.default(PLANNER.hysteresisMs),
    verifyDelayMs: milliseconds.default(PLANNER.verifyDelayMs),
    impactHoldMs: millisecondsOrZero.default(PLANNER.impactHoldMs),
    cooldownMs: millisecondsOrZero.default(PLANNER.cooldownMs),
    maxActionsPerMinute: positiveInt.default(PLANNER.maxActionsPerMinute),
    targetUtilization: z.coerce.number().gt(0).max(1).default(PLANNER.targetUtilization),
  })
  .strict()
  .superRefine((m, ctx) => {
    // Reverting before the verdict would judge an action already gone.
    if (m.hysteresisMs <= m.verifyDelayMs)
      ctx.addIssue({
        code: 'custom',
        path: ['hysteresisMs'],
        message: `must be longer than verifyDelayMs (${m.verifyDelayMs})`,
      });
  });

/**
 * Webhook receivers of control-plane events (src/control/webhooks.ts,
 * docs/incidents.md): each gets the events it names, signed with its secret.
 */
const webhookSchema = z
  .object({
    /** Where to POST: http or https. */
    url: z
      .string()
      .url('expected a URL, e.g. https://hooks.slack.com/services/...')
      .refine((u) => /^https?:\/\//i.test(u), { message: 'expected an http:// or https:// URL' }),
    /** Key of the HMAC-SHA256 signature (X-Hotshard-Signature). */
    secret: z.string().min(16, 'must be at least 16 characters (e.g. openssl rand -hex 16)'),
    /** Event types to send: exact (incident.opened) or a prefix and * (incident.*, *); default the incident events. */
    events: z
      .array(
        z
          .string()
          .regex(
            /^(\*|[a-z]+\.(\*|[a-z-]+))$/,
            'expected an event type like incident.opened, incident.* or *',
          ),
      )
      .min(1)
      .optional(),
  })
  .strict();

/** Incidents (src/control/incidents.ts) and how their notices are sent. */
const incidentsSchema = z
  .object({
    /** How long the metrics must stay clean before an incident resolves (ms). */
    resolveAfterMs: milliseconds.default(10_000),
    /** Resolved incidents kept in memory for GET /incidents. */
    keep: positiveInt.default(200),
    /** Per webhook attempt (ms). */
    webhookTimeoutMs: milliseconds.default(5_000),
    /** Attempts per webhook delivery, the first included. */
    webhookMaxAttempts: positiveInt.max(20).default(5),
    /** Deliveries waiting per webhook before the oldest is dropped. */
    webhookMaxQueue: positiveInt.default(1_000),
  })
  .strict();

/** The validated configuration of one hotshard process. */
export const configSchema = z
  .object({
    /** Where shard data lives: embedded stores, or redis-server nodes. */
    backend: z.enum(['memory', 'redis']).default('memory'),
    /** Redis nodes (backend redis), as host:port. */
    redis: z
      .preprocess(
        (v) => (typeof v === 'string' ? v.split(',').filter((s) => s.length > 0) : v),
        z.array(hostPort),
      )
      .default([]),
    /** Password the Redis nodes require (AUTH), if any. */
    redisPassword: z.string().min(1).optional(),
    /** Embedded nodes (backend memory). */
    nodes: z.coerce.number().int().min(1).max(1024).default(4),
    /** Shards (key ranges); default 4 per node, so hot ranges can move without a split first. */
    shards: z.coerce.number().int().min(1).max(65_536).optional(),
    partitioner: z.enum(['hash', 'range']).default('hash'),
    /** Initial split points (positions as text, increasing) instead of even ones; shards = splits + 1. */
    splits: z.array(z.string().min(1)).optional(),
    /** Address both listeners bind. */
    host: z.string().min(1).default('127.0.0.1'),
    respPort: port.default(6380),
    httpPort: port.default(8080),
    /** Clients must AUTH with this password (a username names the tenant; see tenant.declared). */
    password: z.string().min(1).optional(),
    /** `AUTH admin <adminPassword>` unlocks FLUSHALL; unset keeps FLUSHALL disabled. */
    adminPassword: z.string().min(1).optional(),
    /** Bearer token the state-changing HTTP endpoints require (policies, actions, automation); unset: they answer 403. */
    adminToken: secretToken.optional(),
    /** Bearer token that reads the HTTP API (GET) but changes nothing. */
    readToken: secretToken.optional(),
    /** What the planner may do: auto (default), dry-run (recommend only), manual (operators only), frozen (nothing changes). */
    automation: z.enum(AUTOMATION_MODES).default('auto'),
    /** Where the embedded config store keeps its files (`<dataDir>/hotshard.db`); unset with no `store`: in memory. */
    dataDir: z.string().min(1).optional(),
    /**
     * The config store shared by several routers: a postgres:// URL. Unset:
     * the embedded store (docs/store.md).
     */
    store: z
      .string()
      .min(1)
      .superRefine((url, ctx) => {
        try {
          checkPostgresUrl(url);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^store: /, '') });
        }
      })
      .optional(),
    /** Embedded nodes: ops/s each node serves before requests queue (null = unlimited). */
    capacity: z
      .preprocess((v) => (v === 'null' || v === '' ? null : v), z.coerce.number().positive().nullable())
      .default(null),
    /** Embedded nodes: requests that may wait for capacity before the node answers BUSY. */
    maxQueue: positiveInt.default(10_000),
    /** A Redis node that has not answered for this long is treated as failed (ms). */
    backendTimeoutMs: positiveInt.default(2000),
    /**
     * A node silent past backendTimeoutMs is probed with PING on a connection
     * of its own: one that answers within backendTimeoutMs is busy (Redis is
     * silent while one iteration copies big replies) and is waited for, up to
     * this much longer (ms); one that does not is cut. 0: no probe.
     */
    backendMaxBusyMs: z.coerce.number().int().min(0).default(10_000),
    /** On SIGINT/SIGTERM, how long in-flight requests may take to finish (ms). */
    shutdownDrainMs: z.coerce.number().int().min(0).default(5000),
    /**
     * Routers sharing a PostgreSQL store renew a lease this long in its
     * registry; a move's cutover waits for the routers whose lease runs, so a
     * dead router holds a cutover up for at most this long (docs/rebalance.md).
     */
    routerLeaseMs: z.coerce.number().int().min(300).max(600_000).default(10_000),
    limits: limitsSchema.default(limitsSchema.parse({})),
    tenant: tenantSchema.default(tenantSchema.parse({})),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Measure every request (counters, sketches). Off only to measure what telemetry costs. */
    telemetry: z
      .preprocess((v) => (v === 'false' ? false : v === 'true' ? true : v), z.boolean())
      .default(true),
    /**
     * Requests per second measured in full (bytes, latency, outcome, per-key
     * sketches) before telemetry measures a weighted sample instead; request
     * counts are always exact. See DEFAULT_SAMPLE_BUDGET for what it costs.
     */
    telemetrySampleBudget: positiveInt.default(DEFAULT_SAMPLE_BUDGET),
    /** The p99 latency objective (ms) impact rules compare against. */
    sloP99Ms: z.coerce.number().positive().default(20),
    detector: z
      .object({
        /** How often detection runs (ms) while a condition is pending or a hotspot active. */
        tickMs: positiveInt.default(250),
        /**
         * How often it runs (ms) while nothing is in sight: half as often as
         * tickMs by default, which halves what detection costs a proxy under
         * steady load. A key rising past half the key-rate floor still gets a
         * tick at the next tickMs (the monitor checks the current second's
         * sketches in between), so hot-key detection keeps its pace; other
         * hotspots are first seen up to quietTickMs − tickMs later
         * (Monitor.quietTickMs, docs/observability.md). Set it to tickMs to
         * tick at one pace always.
         */
        quietTickMs: positiveInt.default(500),
        /** Seconds of telemetry each detection round looks at. */
        windowSeconds: positiveInt.default(1),
        /** Overrides of the detector's rules (see src/detect/rules.ts). */
        rules: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .default({ tickMs: 250, quietTickMs: 500, windowSeconds: 1, rules: {} }),
    /** The planner: counter and strong key patterns, do-not-touch, hysteresis, verification, budgets. */
    mitigation: mitigationSchema.default(mitigationSchema.parse({})),
    /** The range/node planner's budgets: concurrent moves, moves per hour, copy bandwidth, headroom, hysteresis (src/rebalance/rebalance-config.ts). */
    rebalance: rebalanceSchema.default(rebalanceSchema.parse({})),
    /** Incident hysteresis and webhook delivery settings. */
    incidents: incidentsSchema.default(incidentsSchema.parse({})),
    /** Webhook receivers: [{url, secret, events?}] (docs/incidents.md). */
    webhooks: z.array(webhookSchema).default([]),
    /** Sampled access log (JSON lines) for `hotshard replay`. */
    accessLog: z
      .object({
        file: z.string().min(1).optional(),
        /** Fraction of requests logged. */
        sampleRate: z.coerce.number().gt(0).max(1).default(0.01),
      })
      .strict()
      .default({ sampleRate: 0.01 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.backend === 'redis' && c.redis.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['redis'],
        message: 'backend "redis" needs at least one node, e.g. --redis 127.0.0.1:7001,127.0.0.1:7002',
      });
    }
    if (c.adminToken !== undefined && c.adminToken === c.readToken) {
      ctx.addIssue({
        code: 'custom',
        path: ['readToken'],
        message: 'the read-only token must differ from the admin token',
      });
    }
    if (c.backend === 'memory' && c.redis.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['backend'],
        message: 'Redis nodes were given but backend is "memory"; add --backend redis',
      });
    }
  });

/** The validated configuration. */
export type Config = z.infer<typeof configSchema>;
/** Configuration as a user writes it (every field optional). */
export type ConfigInput = z.input<typeof configSchema>;

/** Where a value came from, for error messages. */
type Source = 'default' | 'file' | 'env' | 'flag';

/** Environment variables read: HOTSHARD_RESP_PORT -> respPort, and so on for top-level fields. */
const ENV_FIELDS = [
  'backend',
  'redis',
  'redisPassword',
  'nodes',
  'shards',
  'partitioner',
  'host',
  'respPort',
  'httpPort',
  'password',
  'adminPassword',
  'adminToken',
  'readToken',
  'automation',
  'dataDir',
  'store',
  'capacity',
  'maxQueue',
  'backendTimeoutMs',
  'backendMaxBusyMs',
  'shutdownDrainMs',
  'routerLeaseMs',
  'logLevel',
  'telemetry',
  'telemetrySampleBudget',
  'sloP99Ms',
] as const;

const envName = (field: string): string =>
  'HOTSHARD_' + field.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();

/** HOTSHARD_* variables hotshard sets or reads elsewhere, so no typo: the launcher's mark (src/cli/node-flags.ts). */
const OTHER_ENV: ReadonlySet<string> = new Set(['HOTSHARD_LAUNCHED']);

/**
 * Builds the configuration from its sources. Throws ConfigError naming the
 * field, its source, the value given and the accepted values. A HOTSHARD_*
 * variable that is not a setting goes to `warn` (default: a process warning).
 *
 * @example loadConfig({ flags: { respPort: 0, backend: 'memory' } })
 */
export function loadConfig(
  sources: {
    file?: string | undefined;
    env?: NodeJS.ProcessEnv;
    flags?: Record<string, unknown>;
    warn?: (message: string) => void;
  } = {},
): Config {
  const origin = new Map<string, Source>();
  let merged: Record<string, unknown> = {};
  if (sources.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${sources.file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      merged = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file ${sources.file} is not valid JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (typeof merged !== 'object' || merged === null || Array.isArray(merged)) {
      throw new ConfigError(`config file ${sources.file} must hold a JSON object`);
    }
    for (const k of Object.keys(merged)) origin.set(k, 'file');
  }
  const env = sources.env ?? {};
  for (const field of ENV_FIELDS) {
    const value = env[envName(field)];
    if (value !== undefined && value !== '') {
      merged[field] = value;
      origin.set(field, 'env');
    }
  }
  const warn = sources.warn ?? ((m: string): void => process.emitWarning(m, 'HotshardConfigWarning'));
  for (const message of unknownEnvWarnings(env, ENV_FIELDS.map(envName), OTHER_ENV)) warn(message);
  for (const [k, v] of Object.entries(sources.flags ?? {})) {
    if (v !== undefined) {
      merged[k] = v;
      origin.set(k, 'flag');
    }
  }
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const field = issue.path.join('.') || '(root)';
    // An unknown top-level field comes from where that field was given.
    const top = String(issue.path[0] ?? (issue.code === 'unrecognized_keys' ? issue.keys[0] : ''));
    const from = origin.get(top);
    const where =
      from === 'env'
        ? ` (from ${envName(top)})`
        : from === 'flag'
          ? ' (from the command line)'
          : from === 'file'
            ? ` (from ${sources.file})`
            : '';
    const got = issue.code === 'unrecognized_keys' ? '' : givenValue(merged, issue.path);
    return `  ${field}${where}: ${describeIssue(issue)}${got}`;
  });
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value')
    return `${issue.message}; accepted: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'unrecognized_keys')
    return `unknown field(s) ${issue.keys.join(', ')}; known fields: ${fieldsAt(configSchema, issue.path).join(', ')}`;
  // zod reports what it received after coercion ("received NaN"); the value given is echoed instead
  if (issue.code === 'invalid_type')
    return `expected ${issue.expected === 'number' ? 'a number' : issue.expected}`;
  return issue.message;
}

/** Shards to create: the configured number, or 4 per node. */
export function shardCount(config: Config): number {
  if (config.splits !== undefined) return config.splits.length + 1;
  const nodes = config.backend === 'redis' ? config.redis.length : config.nodes;
  return config.shards ?? nodes * 4;
}
