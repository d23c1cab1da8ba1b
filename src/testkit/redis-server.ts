/**
 * Spawns real redis-server processes on free loopback ports for integration
 * tests and benchmarks (nats' `nst` and node-redis' test-utils do the same).
 * Each server runs without persistence in its own temporary directory and is
 * killed when the test process exits, even if a test forgot to stop it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReplyError } from '../protocol/reply.js';
import { track, untrack } from './processes.js';
import { respRoundTrip } from './round-trip.js';
import { freePort } from './free-port.js';

/** How to start a redis-server. */
export interface RedisOptions {
  /** Sets `requirepass`; clients must AUTH. */
  password?: string;
  /** Extra command-line arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /** A fixed port, e.g. to restart a node where a killed one ran; default a free port. */
  port?: number;
  /** How long to wait for the server to answer (for a fixed port: to get it); default 10 s. */
  startTimeoutMs?: number;
}

/** A running redis-server started by the testkit. */
export interface RedisProcess {
  readonly host: string;
  readonly port: number;
  /** `"127.0.0.1:<port>"`. */
  readonly address: string;
  readonly pid: number;
  readonly password: string | undefined;
  /** Resolves once the process has exited, however it ended. */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after 2 s; resolves when the process is gone. Safe to call twice. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGKILL) for crash and stall tests: `kill('SIGSTOP')`, `kill('SIGCONT')`. */
  kill(signal?: NodeJS.Signals): void;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 2_000;
const LOG_TAIL_CHARS = 4_000;

/**
 * Starts a redis-server on a free port of 127.0.0.1 and waits until it answers.
 *
 * @example
 * const redis = await startRedis({ password: 'secret' });
 * try { ... redis.port ... } finally { await redis.stop(); }
 */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisProcess> {
  const fixedPort = opts.port;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  let taken: Error | undefined;
  for (let i = 1; ; i++) {
    const port = fixedPort ?? (await freePort());
    // A fixed port seen taken, then a retry that a loaded machine could not
    // start before the deadline: the taken port is the news.
    const outcome = await attempt(port, opts, deadline).catch((err: unknown) => {
      throw taken ?? err;
    });
    if (!(outcome instanceof Error)) return outcome;
    taken = outcome;
    // Another process won the race for a free port: take another one. A fixed
    // port may still be held by a process that is exiting: wait, then retry.
    const giveUp = fixedPort === undefined ? i >= 5 : Date.now() + 100 > deadline;
    if (giveUp) throw outcome;
    if (fixedPort !== undefined) await sleep(100);
  }
}

/** Starts `n` redis-servers in parallel; if one fails, stops the others and throws. */
export async function startRedisCluster(
  n: number,
  opts: Omit<RedisOptions, 'port'> = {},
): Promise<RedisProcess[]> {
  const results = await Promise.allSettled(Array.from({ length: n }, () => startRedis(opts)));
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(started.map((r) => r.stop()));
    throw failed.reason;
  }
  return started;
}

/** One try on one port: the running server, or an Error when the port was taken. Throws on other failures. */
async function attempt(port: number, opts: RedisOptions, deadline: number): Promise<RedisProcess | Error> {
  const dir = mkdtempSync(join(tmpdir(), 'hotshard-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
  ];
  args.push('--dir', dir);
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  args.push(...(opts.args ?? []));

  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child, dir);
  let log = '';
  const onLog = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-LOG_TAIL_CHARS);
  };
  child.stdout?.on('data', onLog);
  child.stderr?.on('data', onLog);

  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      untrack(child);
      rmSync(dir, { recursive: true, force: true });
      resolve();
    });
    // A spawn failure (ENOENT) emits 'error' and possibly no 'exit'.
    child.once('error', () => {
      untrack(child);
      rmSync(dir, { recursive: true, force: true });
      resolve();
    });
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  for (;;) {
    if (spawnError !== undefined) {
      throw new Error(`startRedis: cannot run redis-server: ${spawnError.message}`, { cause: spawnError });
    }
    if (hasExited) {
      if (log.includes('Address already in use')) return new Error(`startRedis: port ${port} is taken`);
      throw new Error(`startRedis: redis-server exited during start-up on port ${port}:\n${log}`);
    }
    // Only our own process counts: a server another test started on the same
    // port would also answer.
    if (child.pid !== undefined && (await probePid(port, opts.password)) === child.pid) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      if (log.includes('Address already in use')) return new Error(`startRedis: port ${port} is taken`);
      throw new Error(
        `startRedis: redis-server on port ${port} did not answer within the start timeout:\n${log}`,
      );
    }
    await sleep(20);
  }

  // From here on the server must not keep the test process alive; the exit
  // hook kills it if nobody stops it.
  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);

  const pid = child.pid;
  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    address: `${HOST}:${port}`,
    pid,
    password: opts.password,
    exited,
    stop() {
      stopping ??= (async () => {
        if (hasExited) return;
        child.ref(); // keep the loop alive until the process is gone
        child.kill('SIGTERM');
        child.kill('SIGCONT'); // a stopped process acts on SIGTERM only once it runs again
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

function unrefStream(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Connects, authenticates if needed and reads `process_id` from INFO server.
 * Resolves null when nothing answers yet.
 */
async function probePid(port: number, password: string | undefined): Promise<number | null> {
  const commands =
    password === undefined
      ? [['INFO', 'server']]
      : [
          ['AUTH', password],
          ['INFO', 'server'],
        ];
  try {
    const replies = await respRoundTrip(HOST, port, commands, 250);
    if (replies.some((r) => r instanceof ReplyError)) return null; // e.g. LOADING
    const info = replies[replies.length - 1];
    const match = /process_id:(\d+)/.exec(Buffer.isBuffer(info) ? info.toString('latin1') : '');
    return match?.[1] === undefined ? null : Number(match[1]);
  } catch {
    return null; // nothing answers yet
  }
}
