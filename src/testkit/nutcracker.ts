/**
 * Spawns twemproxy (nutcracker), the peer hotshard's proxy benchmark compares
 * against, in front of redis-server nodes on a free loopback port. Like the
 * redis-server helper, every process is killed when the test or benchmark
 * process exits, even if nobody stopped it.
 *
 * The pool uses `distribution: ketama` (consistent hashing over `hash:
 * murmur`): that is what production twemproxy pools run, and what the
 * twemproxy docs recommend for caches whose node list changes. The other
 * choice, `modula`, is a hash modulo the node count — marginally less work per
 * request, but nobody runs a pool that remaps every key when a node is added,
 * and a benchmark peer should be configured the way operators configure it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isExecutableFile } from './binaries.js';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ReplyError, SimpleString } from '../protocol/reply.js';
import { track, untrack } from './processes.js';
import { respRoundTrip } from './round-trip.js';
import { freePort } from './free-port.js';

/** How to start nutcracker. */
export interface NutcrackerOptions {
  /** Backend nodes as `host:port`, in pool order. */
  servers: readonly string[];
  /** A fixed listen port; default a free port. */
  port?: number;
  /** Key distribution; default `ketama` (see the file header for why). */
  distribution?: 'ketama' | 'modula' | 'random';
  /** Key hash; default `murmur`. */
  hash?: string;
  /** Connections from nutcracker to each node; default 1 (twemproxy's default and its recommendation). */
  serverConnections?: number;
  /** How long to wait until it routes to every node; default 10 s. */
  startTimeoutMs?: number;
}

/** A running nutcracker started by the testkit. */
export interface NutcrackerProcess {
  readonly host: string;
  readonly port: number;
  /** `"127.0.0.1:<port>"`. */
  readonly address: string;
  /** The stats port: a TCP connect returns one JSON document of counters. */
  readonly statsPort: number;
  readonly pid: number;
  /** nutcracker's log file (`-o`); removed on stop. */
  readonly logFile: string;
  /** Resolves once the process has exited, however it ended. */
  readonly exited: Promise<void>;
  /** The stats JSON. Counters are aggregated every stats interval (`-i`, 30 s by default), gauges are live. */
  stats(): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after 2 s; resolves when the process is gone. Safe to call twice. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGKILL). */
  kill(signal?: NodeJS.Signals): void;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 2_000;
const LOG_TAIL_CHARS = 4_000;
/** Debian installs nutcracker in /usr/sbin, which is not on every user's PATH. */
const FALLBACK_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];

/**
 * The nutcracker executable: `$NUTCRACKER` if set, else `nutcracker` on PATH,
 * else the sbin directories Debian uses. Undefined when none is found.
 *
 * @example
 * const has = findNutcracker() !== undefined;
 */
export function findNutcracker(): string | undefined {
  const fromEnv = process.env.NUTCRACKER;
  if (fromEnv !== undefined && fromEnv !== '') return isExecutableFile(fromEnv) ? fromEnv : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...FALLBACK_DIRS];
  return dirs.map((d) => join(d, 'nutcracker')).find(isExecutableFile);
}

/** The YAML config of a one-pool nutcracker. Exported for tests and for the benchmark report. */
export function nutcrackerConfig(listen: string, opts: NutcrackerOptions): string {
  for (const s of opts.servers) {
    if (!/^[^\s:]+:\d+$/.test(s))
      throw new Error(`startNutcracker: servers must be host:port, got ${JSON.stringify(s)}`);
  }
  if (opts.servers.length === 0) throw new Error('startNutcracker: servers must name at least one node');
  return [
    'hotshard:',
    `  listen: ${listen}`,
    `  hash: ${opts.hash ?? 'murmur'}`,
    `  distribution: ${opts.distribution ?? 'ketama'}`,
    '  redis: true',
    `  server_connections: ${opts.serverConnections ?? 1}`,
    // A benchmark peer must not silently drop a node and reroute its keys.
    '  auto_eject_hosts: false',
    '  preconnect: true',
    '  servers:',
    // host:port:weight; names default to host:port, which ketama hashes.
    ...opts.servers.map((s) => `    - ${s}:1`),
    '',
  ].join('\n');
}

/**
 * Starts nutcracker with one pool over `servers` and waits until it routes to
 * every one of them (nutcracker answers PING itself, even with every node
 * down, so readiness is a GET through the pool that reaches each node).
 *
 * @example
 * const redis = await startRedisCluster(4);
 * const twem = await startNutcracker({ servers: redis.map((r) => r.address) });
 * try { ... twem.port ... } finally { await twem.stop(); }
 */
export async function startNutcracker(opts: NutcrackerOptions): Promise<NutcrackerProcess> {
  const binary = findNutcracker();
  if (binary === undefined)
    throw new Error('startNutcracker: nutcracker is not installed (apt-get install nutcracker)');
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  for (let i = 1; ; i++) {
    const port = opts.port ?? (await freePort());
    const statsPort = await freePort();
    const outcome = await attempt(binary, port, statsPort, opts, deadline);
    if (!(outcome instanceof Error)) return outcome;
    // Another process won the race for one of the free ports: take others.
    if (opts.port !== undefined || i >= 5) throw outcome;
  }
}

async function attempt(
  binary: string,
  port: number,
  statsPort: number,
  opts: NutcrackerOptions,
  deadline: number,
): Promise<NutcrackerProcess | Error> {
  const dir = mkdtempSync(join(tmpdir(), 'hotshard-nutcracker-'));
  const confFile = join(dir, 'nutcracker.yml');
  const logFile = join(dir, 'nutcracker.log');
  try {
    writeFileSync(confFile, nutcrackerConfig(`${HOST}:${port}`, opts));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const args = ['-c', confFile, '-s', String(statsPort), '-a', HOST, '-o', logFile];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child, dir);
  let output = '';
  const onOutput = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const logTail = (): string => {
    let log = '';
    try {
      log = readFileSync(logFile, 'utf8').slice(-LOG_TAIL_CHARS);
    } catch {
      // no log file yet
    }
    return `${output}${log}`;
  };

  let spawnError: Error | undefined;
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    const done = (): void => {
      hasExited = true;
      untrack(child);
      resolve();
    };
    child.once('exit', done);
    // A spawn failure (ENOENT) emits 'error' and possibly no 'exit'.
    child.once('error', (err) => {
      spawnError = err;
      done();
    });
  });
  // The log is read on failure, so the directory goes only after that.
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });

  const servers = opts.servers.length;
  for (;;) {
    if (spawnError !== undefined) {
      removeDir();
      throw new Error(`startNutcracker: cannot run ${binary}: ${spawnError.message}`, { cause: spawnError });
    }
    if (hasExited) {
      const log = logTail();
      removeDir();
      if (/Address already in use/i.test(log))
        return new Error(`startNutcracker: port ${port} or ${statsPort} is taken`);
      throw new Error(`startNutcracker: nutcracker exited during start-up on port ${port}:\n${log}`);
    }
    const ready = await routesToAllNodes(port, servers, 500).catch(() => false);
    // A bind failure exits the process; make sure it was ours that answered.
    if (ready && !hasExited) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      const log = logTail();
      removeDir();
      throw new Error(
        `startNutcracker: nutcracker on port ${port} did not route to all ${servers} nodes in time:\n${log}`,
      );
    }
    await sleep(25);
  }

  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);
  void exited.then(removeDir);

  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    address: `${HOST}:${port}`,
    statsPort,
    pid: child.pid!,
    logFile,
    exited,
    stats: () => readStats(statsPort),
    stop() {
      stopping ??= (async () => {
        if (hasExited) return;
        child.ref();
        child.kill('SIGTERM'); // nutcracker does not trap SIGTERM: it ends at once
        child.kill('SIGCONT');
        const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(force);
      })();
      return stopping;
    },
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (!hasExited) child.kill(signal);
    },
  };
}

/**
 * True when a Redis proxy on `port` answers PING and answers GET, without an
 * error, for enough distinct keys that every one of `nodes` backends is hit
 * (32 keys per node: the chance that a uniform partitioner misses a node is
 * below 1e-7 for 4 nodes). A proxy that answers PING itself while a node is
 * down fails this. Used for nutcracker here and for hotshard by the benchmark.
 *
 * @example
 * await routesToAllNodes(6380, 4); // true once the proxy serves every node
 */
export async function routesToAllNodes(
  port: number,
  nodes: number,
  timeoutMs = 1_000,
  host = HOST,
): Promise<boolean> {
  const keys = Math.max(64, nodes * 32);
  const commands: string[][] = [['PING']];
  for (let i = 0; i < keys; i++) commands.push(['GET', `hotshard:probe:${i}`]);
  const replies = await respRoundTrip(host, port, commands, timeoutMs);
  const [pong, ...gets] = replies;
  return (
    pong instanceof SimpleString && pong.value === 'PONG' && gets.every((r) => !(r instanceof ReplyError))
  );
}

function readStats(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    let text = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error(`nutcracker stats port ${port} did not answer`)));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.once('error', reject);
    socket.once('end', () => {
      try {
        resolve(JSON.parse(text) as Record<string, unknown>);
      } catch (err) {
        reject(new Error(`nutcracker stats are not JSON: ${text.slice(0, 200)}`, { cause: err }));
      }
    });
  });
}

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { respRoundTrip };
