/**
 * Proxy throughput: redis-benchmark GET, SET, LPUSH, LRANGE_100 and ZADD through hotshard and through
 * twemproxy (nutcracker), both in front of the same redis-server nodes, plus
 * one of those nodes alone as a reference, and a second hotshard with
 * `--no-telemetry` to show what telemetry costs. Targets: hotshard/twemproxy
 * ≥ 1.0; telemetry ≤ 5 % of throughput (hotshard / hotshard-off ≥ 0.95).
 * On request (`--target ...,hotshard-policies`), a third hotshard holding
 * 1,000 key policies on keys redis-benchmark never touches, to show what the
 * key-policy stage costs requests that match no policy. Target: within noise.
 * Also on request (`--target ...,node-floor`), a bare forwarding proxy on
 * Node's net streams (node-floor.ts), to show what part of a gap to twemproxy
 * is the platform's: hotshard/node-floor and node-floor/twemproxy.
 *
 *   npm run bench:proxy -- [--quick] [--target redis,twemproxy,hotshard,hotshard-off,hotshard-policies,node-floor]
 *                          [--repeats 5] [--seconds 3] [--requests N]
 *                          [--pipelines 1,16] [--clients 50] [--nodes 4]
 *                          [--hotshard-args "--shards 4"] [--policies 1000]
 *
 * Runs are interleaved (repeat × test × pipeline, and within each the order of
 * the targets alternates) so drift on a shared machine hits every side alike;
 * each figure is the median of the repeats. Prints the table, then one JSON
 * line. Exits non-zero when a run fails — never because of a low ratio.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SERVER_NODE_FLAGS } from '../../src/cli/node-flags.js';
import { freePort, startRedisCluster } from '../../src/testkit/index.js';
import {
  findNutcracker,
  respRoundTrip,
  routesToAllNodes,
  startNutcracker,
} from '../../src/testkit/nutcracker.js';
import {
  redisBenchmarkVersion,
  runRedisBenchmark,
  type RedisBenchmarkResult,
} from '../lib/redis-benchmark.js';
import { processCpuSeconds } from '../lib/process-cpu.js';

const TARGETS = [
  'redis',
  'twemproxy',
  'node-floor',
  'hotshard',
  'hotshard-off',
  'hotshard-policies',
] as const;
type Target = (typeof TARGETS)[number];
// The policies leg is left out of the default run: it adds a quarter to the run
// time to answer a question (does a policy table slow the misses?) that
// changes only with the key-policy stage.
const DEFAULT_TARGETS: readonly Target[] = ['redis', 'twemproxy', 'hotshard', 'hotshard-off'];
/** The hotshard legs, in the order they run back to back (reversed every other round). */
const HOTSHARD_LEGS = ['hotshard-policies', 'hotshard', 'hotshard-off'] as const;
// LPUSH, LRANGE_100 and ZADD: the list and sorted-set workloads (queues,
// leaderboards) hotshard serves since the full command table (issue 16).
const TESTS = ['get', 'set', 'lpush', 'lrange_100', 'zadd'] as const;
const LABEL: Record<Target, string> = {
  redis: 'redis (1 node)',
  twemproxy: 'twemproxy',
  hotshard: 'hotshard',
  'hotshard-off': 'hotshard --no-telemetry',
  'hotshard-policies': 'hotshard + policies', // labelOf() says how many
  'node-floor': 'node-floor',
};
/** Policy keys live here; redis-benchmark's keys are `key:<12 digits>`, `counter:...`, `mylist` and the like. */
const POLICY_KEY_PREFIX = 'untouched:';
/** A policy that builds a real remedy stage (the cache) but never runs: no request names its key. */
const BENCH_POLICY = {
  consistency: 'bounded',
  cache: { maxStaleMs: 1000, staleWhileRevalidate: false },
  reason: 'bench:proxy, a key the benchmark never touches',
};
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const KEYSPACE = 100_000;
const DATA_SIZE = 64;
const USAGE = `npm run bench:proxy -- [options]    (or: node --import tsx bench/proxy/run.ts [options])
  --target LIST         legs to run, any of redis,twemproxy,hotshard,hotshard-off,hotshard-policies,
                        node-floor (default the first four; hotshard-off is hotshard with
                        --no-telemetry; hotshard-policies is hotshard holding --policies key
                        policies on keys the benchmark never touches, compared with the hotshard
                        leg; node-floor is a bare forwarding proxy on Node's net streams)
  --policies N          key policies the hotshard-policies leg holds (default 1000)
  --repeats N           measured runs per leg and cell; the median is reported (default 5; --quick 1)
  --seconds S           length of one measured run, -n is calibrated to it (default 3; --quick 1)
  --requests N          fixed -n for every measured run instead of calibrating
  --pipelines LIST      redis-benchmark -P values (default 1,16)
  --tests LIST          redis-benchmark tests, any of get,set,lpush,lrange_100,zadd (default all)
  --clients N           redis-benchmark -c (default 50)
  --nodes N             redis-server nodes behind both proxies (default 4)
  --hotshard-args "..." extra flags for \`hotshard start\`, e.g. "--shards 16"
  --quick               a smoke run: 1 repeat of 1 s runs, shorter warm-up
  --a-a                 both hotshard legs run --no-telemetry and hotshard-policies holds no policy:
                        the telemetry and policies columns then show the bench's own noise (an
                        A/A check), which a real difference must exceed
  --fresh-pairs         a fresh, warmed-up process per hotshard leg for every repeat, so the
                        median is over several pairs of processes (see README: young processes
                        also pay the detector's slow warm-up)
`;

interface Settings {
  targets: Target[];
  pipelines: number[];
  /** redis-benchmark tests to run, in TESTS order. */
  tests: (typeof TESTS)[number][];
  clients: number;
  nodes: number;
  repeats: number;
  seconds: number;
  requests: number | undefined;
  hotshardArgs: string[];
  quick: boolean;
  /** hotshard runs --no-telemetry too (A/A). */
  aa: boolean;
  /** A fresh hotshard process per leg for every repeat after the first. */
  fresh: boolean;
  /** Key policies the hotshard-policies leg holds (none under --a-a). */
  policies: number;
}

/** A running target: where redis-benchmark points, and what to say if it died. */
interface Endpoint {
  port: number;
  /** The HTTP API's port (hotshard legs). */
  httpPort?: number;
  /** Set when the process behind it has exited (a crash mid-run), with its last output. */
  died(): string | undefined;
  /** CPU seconds the process behind it has used so far (hotshard legs on Linux), else undefined. */
  cpuSeconds?: () => number | undefined;
  /** Starts a fresh process in place of this one (hotshard legs), ready to route. */
  restart?: () => Promise<Endpoint>;
  /** The keys that have a policy, from GET /policies (the hotshard-policies leg). */
  policyKeys?: () => Promise<string[]>;
}

/** A cell of the table: one test at one pipeline depth. */
interface Cell {
  test: (typeof TESTS)[number];
  pipeline: number;
}

/** Every measured run of one target in one cell. */
interface Sample {
  target: Target;
  test: string;
  pipeline: number;
  requests: number;
  runs: RedisBenchmarkResult[];
  /** The proxy's CPU µs per request in each run, when its process can be read. */
  cpu: (number | undefined)[];
}

const abort = new AbortController();
const cleanups: (() => Promise<void>)[] = [];
const log = (msg: string): void => void process.stderr.write(`[bench:proxy] ${msg}\n`);

function parseSettings(argv: string[]): Settings {
  // parseArgs refuses an option value that starts with a dash unless it is
  // glued on with '=', and --hotshard-args "--shards 16" always does.
  const args = argv.map((a, i) => (argv[i - 1] === '--hotshard-args' ? `--hotshard-args=${a}` : a));
  const { values } = parseArgs({
    args: args.filter((a, i) => !(a === '--hotshard-args' && i + 1 < args.length)),
    options: {
      target: { type: 'string', default: DEFAULT_TARGETS.join(',') },
      pipelines: { type: 'string', default: '1,16' },
      tests: { type: 'string', default: TESTS.join(',') },
      clients: { type: 'string', default: '50' },
      nodes: { type: 'string', default: '4' },
      repeats: { type: 'string' },
      seconds: { type: 'string' },
      requests: { type: 'string' },
      'hotshard-args': { type: 'string', default: '' },
      quick: { type: 'boolean', default: false },
      'a-a': { type: 'boolean', default: false },
      'fresh-pairs': { type: 'boolean', default: false },
      policies: { type: 'string', default: '1000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (name: string, text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
    return n;
  };
  const targets = values.target.split(',').map((t) => t.trim());
  for (const t of targets) {
    if (!(TARGETS as readonly string[]).includes(t))
      throw new Error(`--target accepts ${TARGETS.join(', ')}; got ${JSON.stringify(t)}`);
  }
  const tests = values.tests.split(',').map((t) => t.trim().toLowerCase());
  for (const t of tests) {
    if (!(TESTS as readonly string[]).includes(t))
      throw new Error(`--tests accepts ${TESTS.join(', ')}; got ${JSON.stringify(t)}`);
  }
  const seconds = Number(values.seconds ?? (values.quick ? 1 : 3));
  if (!(seconds > 0))
    throw new Error(`--seconds must be a positive number, got ${JSON.stringify(values.seconds)}`);
  return {
    targets: TARGETS.filter((t) => targets.includes(t)),
    pipelines: values.pipelines.split(',').map((p) => int('pipelines', p.trim())),
    tests: TESTS.filter((t) => tests.includes(t)),
    clients: int('clients', values.clients),
    nodes: int('nodes', values.nodes),
    repeats: int('repeats', values.repeats ?? (values.quick ? '1' : '5')),
    seconds,
    requests: values.requests === undefined ? undefined : int('requests', values.requests),
    hotshardArgs: shellWords(values['hotshard-args']),
    quick: values.quick,
    aa: values['a-a'],
    fresh: values['fresh-pairs'],
    policies: int('policies', values.policies),
  };
}

/** Splits `--hotshard-args` like a shell would, honouring single and double quotes. */
function shellWords(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

function throwIfAborted(): void {
  if (abort.signal.aborted) throw new Error('interrupted');
}

/** A proxy process the bench started: its last output, how it exited, and how to stop it. */
interface Child {
  readonly pid: number | undefined;
  /** The last few KB it printed. */
  output(): string;
  /** How it ended (`code 1`, `SIGKILL`), or undefined while it runs. */
  exit(): string | undefined;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. Once. */
  stop(): Promise<void>;
}

/** Spawns node with `args` in the repository, keeping its last output; SIGKILLed if the bench exits first. */
function spawnNode(args: readonly string[]): Child {
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (c: Buffer): void => void (output = (output + c.toString('utf8')).slice(-8_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => resolve(void (exit = signal ?? `code ${code}`)));
    child.once('error', (err) => resolve(void (exit = err.message)));
  });
  const killNow = (): void => void child.kill('SIGKILL');
  process.once('exit', killNow);
  let stopped: Promise<void> | undefined;
  return {
    pid: child.pid,
    output: () => output,
    exit: () => exit,
    stop: () =>
      (stopped ??= (async () => {
        if (exit === undefined) {
          child.kill('SIGTERM');
          const force = setTimeout(killNow, 5_000);
          await exited;
          clearTimeout(force);
        }
        process.removeListener('exit', killNow);
      })()),
  };
}

/** Spawns `hotshard start` in front of `redis` and waits until it routes to every node. */
async function startHotshardProcess(redis: readonly string[], extra: readonly string[]): Promise<Endpoint> {
  const bin = join(REPO, 'bin', 'hotshard.js');
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js')))
    throw new Error('hotshard is not built: run `npm run build` (npm run bench:proxy does)');
  for (let attempt = 1; ; attempt++) {
    const [respPort, httpPort] = [await freePort(), await freePort()];
    const dataDir = mkdtempSync(join(tmpdir(), 'hotshard-bench-'));
    const flags = {
      backend: 'redis',
      redis: redis.join(','),
      'resp-port': respPort,
      'http-port': httpPort,
      'log-level': 'warn',
      'data-dir': dataDir, // keeps the embedded config store out of the working tree
      // Detection and planning run (their cost is measured) but no action is
      // taken: LPUSH, LRANGE_100 and ZADD hit one key each (mylist, myzset),
      // which hotshard finds hot, and under `auto` it would serve LRANGE_100
      // from its cache, measuring the cache rather than the proxy (bench:hotkey
      // measures that). `--hotshard-args "--automation auto"` overrides it.
      automation: 'dry-run',
    };
    // The launcher's V8 flags given here, so the process we watch (CPU per
    // request) is hotshard itself, not a launcher restarting node with them.
    const args = [
      ...SERVER_NODE_FLAGS,
      bin,
      'start',
      ...Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]),
      ...extra,
    ];
    const child = spawnNode(args);
    const stop = async (): Promise<void> => {
      await child.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
    const deadline = Date.now() + 30_000;
    while (child.exit() === undefined && Date.now() < deadline && !abort.signal.aborted) {
      if (await routesToAllNodes(respPort, redis.length, 1_000).catch(() => false)) {
        cleanups.push(stop);
        const describe = `$ node bin/hotshard.js ${args.slice(1).join(' ')}`;
        return {
          port: respPort,
          httpPort,
          died: () => {
            const exit = child.exit();
            return exit === undefined
              ? undefined
              : `hotshard exited (${exit}):\n${describe}\n${child.output()}`;
          },
          cpuSeconds: () => (child.pid === undefined ? undefined : processCpuSeconds(child.pid)),
          restart: async () => {
            await stop();
            return startHotshardProcess(redis, extra);
          },
        };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await stop();
    throwIfAborted();
    const [exit, output] = [child.exit(), child.output()];
    if (attempt < 3 && /EADDRINUSE/.test(output)) continue; // lost a race for a free port
    const why =
      exit === undefined ? 'did not route to every node within 30 s' : `exited during start-up (${exit})`;
    throw new Error(`hotshard ${why}:\n$ node bin/hotshard.js ${args.slice(1).join(' ')}\n${output}`);
  }
}

/** Spawns the node-floor proxy (node-floor.ts) in front of `redis`, with hotshard's V8 flags, and waits until it routes to every node. */
async function startNodeFloor(redis: readonly string[]): Promise<Endpoint> {
  const port = await freePort();
  const file = join(REPO, 'bench', 'proxy', 'node-floor.ts');
  const args = [...SERVER_NODE_FLAGS, '--import', 'tsx', file, String(port), redis.join(',')];
  const child = spawnNode(args);
  cleanups.push(() => child.stop());
  const deadline = Date.now() + 30_000;
  while (child.exit() === undefined && Date.now() < deadline && !abort.signal.aborted) {
    if (await routesToAllNodes(port, redis.length, 1_000).catch(() => false)) {
      return {
        port,
        died: () => {
          const exit = child.exit();
          return exit === undefined ? undefined : `node-floor exited (${exit}):\n${child.output()}`;
        },
        cpuSeconds: () => (child.pid === undefined ? undefined : processCpuSeconds(child.pid)),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throwIfAborted();
  const exit = child.exit();
  throw new Error(
    `node-floor did not route to every node within 30 s (${exit ?? 'still running'}):\n${child.output()}`,
  );
}

/**
 * The hotshard-policies leg: `hs` (started with `token` as its admin token)
 * given `count` key policies over its HTTP API, which must then list exactly
 * those. Its restart (--fresh-pairs) installs them again in the new process.
 */
async function withPolicies(hs: Endpoint, token: string, count: number): Promise<Endpoint> {
  const base = `http://127.0.0.1:${hs.httpPort}`;
  const auth = { authorization: `Bearer ${token}` };
  const call = async (path: string, init: RequestInit = {}): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        ...init,
        headers: { ...auth, ...init.headers },
        signal: abort.signal,
      });
    } catch (err) {
      throwIfAborted();
      const died = hs.died();
      throw new Error(`${init.method ?? 'GET'} ${path}${died === undefined ? '' : `; ${died}`}`, {
        cause: err,
      });
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as unknown;
  };
  const policyKeys = async (): Promise<string[]> => {
    const listed = (await call('/policies')) as { policies?: { key: string }[] };
    return (listed.policies ?? []).map((p) => p.key);
  };
  // A few PUTs in flight at a time: each is an action through the executor,
  // and 1,000 one after another would add seconds of round trips.
  const body = JSON.stringify(BENCH_POLICY);
  let next = 0;
  const putNext = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      await call(`/policies/${POLICY_KEY_PREFIX}${i}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, putNext));
  // The leg must hold what it claims: every policy in place, none elsewhere.
  const keys = await policyKeys();
  const stray = keys.filter((k) => !k.startsWith(POLICY_KEY_PREFIX));
  if (keys.length !== count || stray.length > 0)
    throw new Error(
      `hotshard-policies: GET /policies lists ${keys.length} policies (${stray.length} not under '${POLICY_KEY_PREFIX}'), expected ${count}`,
    );
  const restart = hs.restart;
  return {
    ...hs,
    policyKeys,
    restart: restart && (async () => withPolicies(await restart(), token, count)),
  };
}

/**
 * Target order for one (repeat, cell): the hotshard legs run back to back,
 * hotshard in the middle so it sits next to both hotshard-off and
 * hotshard-policies, the direction alternating, so each compared pair sees the
 * same seconds of a drifting machine; that group and twemproxy take turns
 * going first; redis moves through the gaps between them.
 */
function orderFor(targets: readonly Target[], k: number): Target[] {
  const group: Target[] = HOTSHARD_LEGS.filter((t) => targets.includes(t));
  if (k % 2 === 1) group.reverse();
  const units: Target[][] = [];
  if (targets.includes('twemproxy')) units.push(['twemproxy']);
  if (targets.includes('node-floor')) units.push(['node-floor']);
  if (group.length > 0) units.push(group);
  for (let i = 0; i < k % Math.max(1, units.length); i++) units.push(units.shift()!);
  if (targets.includes('redis')) units.splice(k % (units.length + 1), 0, ['redis']);
  return units.flat();
}

async function bench(
  endpoint: Endpoint,
  target: Target,
  cell: Cell,
  requests: number,
  s: Settings,
  timeoutMs: number,
): Promise<RedisBenchmarkResult> {
  try {
    const rows = await runRedisBenchmark({
      port: endpoint.port,
      tests: [cell.test],
      requests,
      pipeline: cell.pipeline,
      clients: s.clients,
      keyspace: KEYSPACE,
      dataSize: DATA_SIZE,
      timeoutMs,
      signal: abort.signal,
    });
    // `-t lrange_100` prints the LPUSH that fills its list first; the cell's own row is the one named for it.
    const name = cell.test.toUpperCase();
    const row = rows.find(
      (r) => r.test.toUpperCase() === name || r.test.toUpperCase().startsWith(`${name} `),
    );
    if (row === undefined) throw new Error(`redis-benchmark printed no ${name} row`);
    return row;
  } catch (err) {
    throwIfAborted();
    const died = endpoint.died();
    throw new Error(
      `${target} ${cell.test.toUpperCase()} P${cell.pipeline} failed${died === undefined ? '' : `; ${died}`}`,
      { cause: err },
    );
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * After the fill, GETs through the target must find the values: a proxy that
 * answered nil (lost writes, wrong routing) would look fast for the wrong reason.
 */
async function checkValues(port: number, target: Target): Promise<void> {
  const keys = Array.from({ length: 200 }, (_, i) => `key:${String(i * 499).padStart(12, '0')}`);
  const replies = await respRoundTrip(
    '127.0.0.1',
    port,
    keys.map((k) => ['GET', k]),
    5_000,
  );
  const found = replies.filter((r) => Buffer.isBuffer(r) && r.length === DATA_SIZE).length;
  // A fill of 3 × keyspace random keys leaves ~5 % unset; far fewer hits is a fault.
  if (found < keys.length * 0.8) {
    throw new Error(
      `${target}: after the fill only ${found} of ${keys.length} sampled keys have a ${DATA_SIZE}-byte value`,
    );
  }
}

async function measure(s: Settings, endpoints: Map<Target, Endpoint>): Promise<Sample[]> {
  const cells: Cell[] = s.tests.flatMap((test) => s.pipelines.map((pipeline) => ({ test, pipeline })));
  const requests = new Map<string, number>();
  const key = (t: Target, c: Cell): string => `${t} ${c.test} ${c.pipeline}`;

  // Warm-up: fill the keyspace through each target (so every GET finds a value
  // wherever that target places the key: 5 × keyspace random SETs leave < 1 %
  // missing), then one short run per cell that also calibrates -n so a
  // measured run lasts about --seconds.
  for (const target of s.targets) {
    const endpoint = endpoints.get(target)!;
    const fill: Cell = { test: 'set', pipeline: 16 };
    log(`${target}: filling ${KEYSPACE} keys and warming up`);
    await bench(endpoint, target, fill, KEYSPACE * (s.quick ? 3 : 5), s, 300_000);
    await checkValues(endpoint.port, target);
    for (const cell of cells) {
      const probe = (s.quick ? 5_000 : 20_000) * Math.min(cell.pipeline, 10);
      const { rps } = await bench(endpoint, target, cell, probe, s, 300_000);
      const n =
        s.requests ?? Math.round(Math.min(50_000_000, Math.max(1_000 * cell.pipeline, rps * s.seconds)));
      requests.set(key(target, cell), n);
    }
  }
  // The hotshard legs run the same -n: runs of equal length meet the same
  // kind of disturbances (a GC, a neighbour's burst), so their ratios are steadier.
  const legs = HOTSHARD_LEGS.filter((t) => s.targets.includes(t));
  if (s.requests === undefined && legs.length > 1) {
    for (const cell of cells) {
      const logN = legs.reduce((sum, t) => sum + Math.log(requests.get(key(t, cell))!), 0);
      const n = Math.round(Math.exp(logN / legs.length));
      for (const t of legs) requests.set(key(t, cell), n);
    }
  }

  const samples = new Map<string, Sample>();
  for (let r = 0; r < s.repeats; r++) {
    // With --fresh-pairs each repeat measures its own pair of hotshard
    // processes: one process's JIT decisions, hash seeds and memory layout
    // move its CPU per request by a few percent for its whole life (README).
    if (r > 0 && s.fresh) await renew(s, endpoints, cells, (t, c) => requests.get(key(t, c))!);
    for (const [ci, cell] of cells.entries()) {
      for (const target of orderFor(s.targets, r + ci)) {
        const n = requests.get(key(target, cell))!;
        const endpoint = endpoints.get(target)!;
        const cpuBefore = endpoint.cpuSeconds?.();
        const row = await bench(endpoint, target, cell, n, s, Math.max(60_000, s.seconds * 20_000));
        const cpuAfter = endpoint.cpuSeconds?.();
        let sample = samples.get(key(target, cell));
        if (sample === undefined) {
          sample = {
            target,
            test: cell.test.toUpperCase(),
            pipeline: cell.pipeline,
            requests: n,
            runs: [],
            cpu: [],
          };
          samples.set(key(target, cell), sample);
        }
        sample.runs.push(row);
        sample.cpu.push(
          cpuBefore === undefined || cpuAfter === undefined ? undefined : ((cpuAfter - cpuBefore) * 1e6) / n,
        );
        log(`repeat ${r + 1}/${s.repeats} ${sample.test} P${cell.pipeline} ${target}: ${fmt(row.rps)} ops/s`);
      }
    }
  }
  const order = (x: Sample): number =>
    (TESTS as readonly string[]).indexOf(x.test.toLowerCase()) * 1e6 +
    x.pipeline * 10 +
    TARGETS.indexOf(x.target);
  return [...samples.values()].sort((a, b) => order(a) - order(b));
}

/** Replaces each hotshard leg's process with a fresh one, warmed up on every cell. */
async function renew(
  s: Settings,
  endpoints: Map<Target, Endpoint>,
  cells: readonly Cell[],
  requestsFor: (target: Target, cell: Cell) => number,
): Promise<void> {
  for (const target of HOTSHARD_LEGS) {
    const old = endpoints.get(target);
    if (old?.restart === undefined) continue;
    const fresh = await old.restart();
    endpoints.set(target, fresh);
    // The keyspace is already filled (the nodes keep it); this only warms the JIT up.
    await bench(fresh, target, { test: 'set', pipeline: 16 }, KEYSPACE * 2, s, 300_000);
    for (const cell of cells) {
      await bench(fresh, target, cell, Math.ceil(requestsFor(target, cell) / 2), s, 300_000);
    }
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function summarize(samples: readonly Sample[]) {
  const results = samples.map((x) => {
    const pick = (f: (r: RedisBenchmarkResult) => number | undefined): number | null => {
      const v = x.runs.map(f).filter((n): n is number => n !== undefined);
      return v.length === 0 ? null : median(v);
    };
    return {
      target: x.target,
      test: x.test,
      pipeline: x.pipeline,
      requests: x.requests,
      rps: Math.round(median(x.runs.map((r) => r.rps))),
      runs: x.runs.map((r) => Math.round(r.rps)),
      p50Ms: pick((r) => r.p50Ms),
      p99Ms: pick((r) => r.p99Ms),
      cpuMicrosPerRequest: x.cpu.map((c) => (c === undefined ? null : round3(c))),
    };
  });
  type Result = (typeof results)[number];
  // Each ratio is the median over repeats of the ratio within one repeat:
  // legs of one repeat ran in the same round, seconds apart, so the machine's
  // drift between rounds cancels (an A/A run, --a-a, put the ratio of
  // separate medians 9 % off in one cell, the paired one 1 %).
  const compare = (
    num: Target,
    den: Target,
    of: (r: Result, i: number) => number | null = (r, i) => r.runs[i]!,
  ) => {
    const cells: Record<string, number> = {};
    const spread: Record<string, [number, number]> = {};
    const logs: number[] = [];
    // Per repeat, the sum of log ratios over the cells: the geometric mean of
    // one round, whose spread over rounds is this pair's noise in this run.
    const rounds: { sum: number; cells: number }[] = [];
    for (const h of results.filter((r) => r.target === num)) {
      const d = results.find(
        (r: Result) => r.target === den && r.test === h.test && r.pipeline === h.pipeline,
      );
      if (d === undefined) continue;
      const pairs: number[] = [];
      for (let i = 0; i < h.runs.length; i++) {
        const a = of(h, i);
        const b = of(d, i);
        if (a !== null && b !== null && b > 0) {
          pairs.push(a / b);
          const round = (rounds[i] ??= { sum: 0, cells: 0 });
          round.sum += Math.log(a / b);
          round.cells++;
        }
      }
      if (pairs.length === 0) continue;
      const m = median(pairs);
      cells[`${h.test} P${h.pipeline}`] = round3(m);
      spread[`${h.test} P${h.pipeline}`] = [round3(Math.min(...pairs)), round3(Math.max(...pairs))];
      logs.push(Math.log(m));
    }
    if (logs.length > 0) cells.geomean = round3(Math.exp(logs.reduce((x, y) => x + y, 0) / logs.length));
    // Only rounds in which every cell was measured (a partial one would weigh cells differently).
    const perRound = rounds
      .filter((r) => r.cells === logs.length)
      .map((r) => round3(Math.exp(r.sum / r.cells)));
    return { cells, spread, perRound };
  };
  const vsTwemproxy = compare('hotshard', 'twemproxy');
  // What telemetry costs: hotshard (telemetry on, the default) over hotshard --no-telemetry.
  const vsOff = compare('hotshard', 'hotshard-off');
  // The same pairs by the proxy's own CPU per request (on over off: above 1 is what telemetry costs).
  const cpuVsOff = compare('hotshard', 'hotshard-off', (r, i) => r.cpuMicrosPerRequest[i] ?? null);
  // What a table of key policies costs the requests that match none: the
  // policies leg over hotshard (the same process but for the policies).
  const vsNoPolicies = compare('hotshard-policies', 'hotshard');
  const cpuVsNoPolicies = compare(
    'hotshard-policies',
    'hotshard',
    (r, i) => r.cpuMicrosPerRequest[i] ?? null,
  );
  // How far hotshard is from a proxy that only forwards, and that proxy from twemproxy.
  const vsFloor = compare('hotshard', 'node-floor');
  const cpuVsFloor = compare('hotshard', 'node-floor', (r, i) => r.cpuMicrosPerRequest[i] ?? null);
  const floorVsTwemproxy = compare('node-floor', 'twemproxy');
  // At -P 1 the machine's two cores are the limit, so what each proxy burns per request decides it.
  const cpuVsTwemproxy = compare('hotshard', 'twemproxy', (r, i) => r.cpuMicrosPerRequest[i] ?? null);
  return {
    results,
    ratios: vsTwemproxy.cells,
    ratioRanges: vsTwemproxy.spread,
    telemetry: vsOff.cells,
    telemetryRanges: vsOff.spread,
    telemetryCpu: cpuVsOff.cells,
    telemetryCpuRanges: cpuVsOff.spread,
    policies: vsNoPolicies.cells,
    policiesRanges: vsNoPolicies.spread,
    policiesPerRepeat: vsNoPolicies.perRound,
    policiesCpu: cpuVsNoPolicies.cells,
    policiesCpuRanges: cpuVsNoPolicies.spread,
    floor: vsFloor.cells,
    floorRanges: vsFloor.spread,
    floorCpu: cpuVsFloor.cells,
    floorCpuRanges: cpuVsFloor.spread,
    floorVsTwemproxy: floorVsTwemproxy.cells,
    floorVsTwemproxyRanges: floorVsTwemproxy.spread,
    twemproxyCpu: cpuVsTwemproxy.cells,
    twemproxyCpuRanges: cpuVsTwemproxy.spread,
  };
}

function ratioText(ratio: number | undefined, range: [number, number] | undefined): string {
  if (ratio === undefined) return '-';
  return range === undefined || range[0] === range[1]
    ? ratio.toFixed(2)
    : `${ratio.toFixed(2)} [${range[0].toFixed(2)}, ${range[1].toFixed(2)}]`;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Key policies the hotshard-policies leg holds in this run. */
function policiesHeld(s: Settings): number {
  return s.aa ? 0 : s.policies;
}

function labelOf(t: Target, s: Settings): string {
  return t === 'hotshard-policies' ? `hotshard ${fmt(policiesHeld(s))} policies` : LABEL[t];
}

/** One "proxy CPU per request" line: each cell's ratio [lowest, highest], then the geometric mean. */
function cpuLine(
  what: string,
  ratios: Record<string, number>,
  ranges: Record<string, [number, number]>,
): string {
  const cells = Object.keys(ratios)
    .filter((c) => c !== 'geomean')
    .map((c) => `${c} ${ratioText(ratios[c], ranges[c])}`);
  return `proxy CPU per request, ${what}: ${cells.join(', ')}; geometric mean ${ratios.geomean!.toFixed(3)}`;
}

/**
 * The policies geometric mean and whether it is within noise. Within one run
 * the noise is how far the rounds disagree: each round's geometric mean over
 * the cells, lowest to highest. An A/A run (--a-a) shows the floor itself.
 */
function policiesLine(s: Settings, summary: ReturnType<typeof summarize>): string {
  const rounds = summary.policiesPerRepeat;
  const [lo, hi] = [Math.min(...rounds), Math.max(...rounds)];
  const range = `per repeat ${lo.toFixed(3)} to ${hi.toFixed(3)}`;
  let noise: string;
  if (rounds.length < 2)
    noise = s.aa
      ? 'A/A: neither leg holds a policy, so this is the noise alone'
      : 'one repeat says nothing about noise: use --repeats 3 or more, and --a-a for the noise floor';
  else if (s.aa) noise = `${range}; A/A: neither leg holds a policy, so this is the noise alone`;
  else
    noise =
      `${range}: ` +
      (lo <= 1 && 1 <= hi
        ? "within this run's noise (1.000 lies inside the repeats' range)"
        : `outside this run's repeat-to-repeat range (every repeat reads ${hi < 1 ? 'below' : 'above'} 1.000): rerun with more --repeats and set it against --a-a`);
  return `policies ${policiesHeld(s)}/0 geometric mean: ${summary.policies.geomean!.toFixed(3)} (target: within noise; ${noise})`;
}

function table(s: Settings, summary: ReturnType<typeof summarize>): string {
  const vsTwemproxy = s.targets.includes('hotshard') && s.targets.includes('twemproxy');
  const vsOff = s.targets.includes('hotshard') && s.targets.includes('hotshard-off');
  const vsNoPolicies = s.targets.includes('hotshard') && s.targets.includes('hotshard-policies');
  const vsFloor = s.targets.includes('hotshard') && s.targets.includes('node-floor');
  const floorVsTwemproxy = s.targets.includes('node-floor') && s.targets.includes('twemproxy');
  const cols = [
    ...s.targets.map((t) => labelOf(t, s)),
    ...(vsTwemproxy ? ['hotshard/twemproxy'] : []),
    ...(vsFloor ? ['hotshard/node-floor'] : []),
    ...(floorVsTwemproxy ? ['node-floor/twemproxy'] : []),
    ...(vsOff ? ['telemetry on/off'] : []),
    ...(vsNoPolicies ? [`policies ${policiesHeld(s)}/0`] : []),
  ];
  const rows: string[][] = [['test', 'pipeline', ...cols]];
  for (const test of s.tests.map((t) => t.toUpperCase())) {
    for (const pipeline of s.pipelines) {
      const row = [test, `P${pipeline}`];
      for (const t of s.targets) {
        const r = summary.results.find((x) => x.target === t && x.test === test && x.pipeline === pipeline);
        const spread =
          r === undefined || r.runs.length < 2
            ? ''
            : ` ±${Math.round(((Math.max(...r.runs) - Math.min(...r.runs)) / 2 / r.rps) * 100)}%`;
        row.push(r === undefined ? '-' : `${fmt(r.rps)}${spread}`);
      }
      const cell = `${test} P${pipeline}`;
      if (vsTwemproxy) row.push(ratioText(summary.ratios[cell], summary.ratioRanges[cell]));
      if (vsFloor) row.push(ratioText(summary.floor[cell], summary.floorRanges[cell]));
      if (floorVsTwemproxy)
        row.push(ratioText(summary.floorVsTwemproxy[cell], summary.floorVsTwemproxyRanges[cell]));
      if (vsOff) row.push(ratioText(summary.telemetry[cell], summary.telemetryRanges[cell]));
      if (vsNoPolicies) row.push(ratioText(summary.policies[cell], summary.policiesRanges[cell]));
      rows.push(row);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [line(rows[0]!), ...rows.slice(1).map(line)];
  out.push(
    `ops/s, median of ${s.repeats} (± half the range); -c ${s.clients}, -r ${KEYSPACE}, -d ${DATA_SIZE}, ${s.nodes} redis nodes`,
  );
  if (vsTwemproxy || vsOff || vsNoPolicies || vsFloor || floorVsTwemproxy)
    out.push('ratios: median over repeats of the ratio within each repeat [lowest, highest]');
  if (s.aa && s.targets.includes('hotshard-policies'))
    out.push(
      'A/A (--a-a): every hotshard leg ran --no-telemetry and none held a policy; the telemetry and policies columns show the noise alone',
    );
  else if (s.aa)
    out.push(
      'A/A (--a-a): both hotshard legs ran --no-telemetry; the telemetry columns show the noise alone',
    );
  if (summary.ratios.geomean !== undefined)
    out.push(`hotshard/twemproxy geometric mean: ${summary.ratios.geomean.toFixed(2)} (target ≥ 1.00)`);
  if (summary.floor.geomean !== undefined)
    out.push(
      `hotshard/node-floor geometric mean: ${summary.floor.geomean.toFixed(2)} (what hotshard's work costs over bare forwarding)`,
    );
  if (summary.twemproxyCpu.geomean !== undefined)
    out.push(cpuLine('hotshard/twemproxy', summary.twemproxyCpu, summary.twemproxyCpuRanges));
  if (summary.floorCpu.geomean !== undefined)
    out.push(cpuLine('hotshard/node-floor', summary.floorCpu, summary.floorCpuRanges));
  if (summary.floorVsTwemproxy.geomean !== undefined)
    out.push(
      `node-floor/twemproxy geometric mean: ${summary.floorVsTwemproxy.geomean.toFixed(2)} (Node's net streams against twemproxy's C)`,
    );
  if (summary.telemetry.geomean !== undefined)
    out.push(
      `telemetry on/off geometric mean: ${summary.telemetry.geomean.toFixed(3)} (target ≥ 0.95: telemetry costs ≤ 5 % of throughput)`,
    );
  if (summary.telemetryCpu.geomean !== undefined)
    out.push(cpuLine('telemetry on/off', summary.telemetryCpu, summary.telemetryCpuRanges));
  if (summary.policies.geomean !== undefined) out.push(policiesLine(s, summary));
  if (summary.policiesCpu.geomean !== undefined)
    out.push(cpuLine(`policies ${policiesHeld(s)}/0`, summary.policiesCpu, summary.policiesCpuRanges));
  return out.join('\n');
}

function versionOf(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5_000 });
  return r.error === undefined ? `${r.stdout}${r.stderr}`.trim().split('\n')[0] : undefined;
}

async function main(): Promise<void> {
  const s = parseSettings(process.argv.slice(2));
  const nutcracker = s.targets.includes('twemproxy') ? findNutcracker() : undefined;
  if (s.targets.includes('twemproxy') && nutcracker === undefined)
    throw new Error(
      'twemproxy leg needs nutcracker (apt-get install nutcracker), or pass --target redis,hotshard',
    );
  log(`starting ${s.nodes} redis-server nodes`);
  const redis = await startRedisCluster(s.nodes);
  cleanups.push(async () => void (await Promise.all(redis.map((r) => r.stop()))));
  throwIfAborted();
  const addresses = redis.map((r) => r.address);
  const endpoints = new Map<Target, Endpoint>();
  if (s.targets.includes('redis')) endpoints.set('redis', { port: redis[0]!.port, died: () => undefined });
  if (s.targets.includes('twemproxy')) {
    const twem = await startNutcracker({ servers: addresses });
    cleanups.push(() => twem.stop());
    let exited = false;
    void twem.exited.then(() => (exited = true));
    endpoints.set('twemproxy', {
      port: twem.port,
      died: () => (exited ? 'nutcracker exited' : undefined),
      cpuSeconds: () => processCpuSeconds(twem.pid),
    });
    log(`twemproxy on ${twem.address} (ketama, 1 connection per node)`);
  }
  throwIfAborted();
  if (s.targets.includes('node-floor')) {
    endpoints.set('node-floor', await startNodeFloor(addresses));
    log(`node-floor on 127.0.0.1:${endpoints.get('node-floor')!.port} (bench/proxy/node-floor.ts)`);
  }
  for (const target of ['hotshard', 'hotshard-off'] as const) {
    if (!s.targets.includes(target)) continue;
    const args = target === 'hotshard' && !s.aa ? s.hotshardArgs : [...s.hotshardArgs, '--no-telemetry'];
    const hs = await startHotshardProcess(addresses, args);
    endpoints.set(target, hs);
    log(`${target} on 127.0.0.1:${hs.port}${args.length > 0 ? ` with ${args.join(' ')}` : ''}`);
  }
  if (s.targets.includes('hotshard-policies')) {
    // Started like the hotshard leg, plus a token so the bench may PUT /policies.
    const args = s.aa ? [...s.hotshardArgs, '--no-telemetry'] : s.hotshardArgs;
    const token = randomBytes(16).toString('hex');
    const started = await startHotshardProcess(addresses, [...args, '--admin-token', token]);
    log(`hotshard-policies on 127.0.0.1:${started.port}: installing ${policiesHeld(s)} key policies`);
    endpoints.set('hotshard-policies', await withPolicies(started, token, policiesHeld(s)));
    log(
      `hotshard-policies holds ${policiesHeld(s)} policies on ${POLICY_KEY_PREFIX}0..${POLICY_KEY_PREFIX}${policiesHeld(s) - 1}` +
        `${args.length > 0 ? `, with ${args.join(' ')}` : ''} --admin-token (generated)`,
    );
  }

  const samples = await measure(s, endpoints);
  // Still holding them after the last run: the ratio is of the table it claims.
  const policyKeys = await endpoints.get('hotshard-policies')?.policyKeys?.();
  if (policyKeys !== undefined && policyKeys.length !== policiesHeld(s))
    throw new Error(
      `hotshard-policies held ${policyKeys.length} policies after the runs, not ${policiesHeld(s)}`,
    );
  const summary = summarize(samples);
  process.stdout.write(`${table(s, summary)}\n`);
  const json = {
    bench: 'proxy',
    date: new Date().toISOString(),
    settings: { ...s, keyspace: KEYSPACE, dataSize: DATA_SIZE },
    env: {
      node: process.version,
      cpus: cpus().length,
      redis: versionOf('redis-server', ['--version']),
      redisBenchmark: redisBenchmarkVersion(),
      nutcracker:
        nutcracker === undefined ? undefined : versionOf(nutcracker, ['--version'])?.replace(/^This is /, ''),
    },
    ...summary,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

/** Stops everything started, newest first; each stopper runs once even if another throws. */
async function cleanup(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) {
    await stop().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
}

let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // First signal: abort the current run and clean up; a second one exits now
    // (the testkit's exit hooks still SIGKILL every child).
    if (++signals > 1) process.exit(130);
    log(`${sig}: stopping`);
    abort.abort();
  });
}

let code = 0;
try {
  await main();
} catch (err) {
  code = abort.signal.aborted ? 130 : 1;
  if (!abort.signal.aborted) {
    let e: unknown = err;
    const parts: string[] = [];
    for (; e instanceof Error; e = e.cause) parts.push(e.message);
    if (parts.length === 0) parts.push(String(err));
    process.stderr.write(`[bench:proxy] failed: ${parts.join('\ncaused by: ')}\n`);
  }
} finally {
  await cleanup();
}
process.exit(code);
