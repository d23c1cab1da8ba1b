/**
 * bin/hotshard.js: server commands run with SERVER_NODE_FLAGS (a restart of
 * node when they are missing), a stop signal drains the server once however
 * it is delivered, the server stops when the launcher dies, and its exit
 * status comes back. Runs the built launcher (dist/; `npm test` builds it
 * first), as `npx hotshard` does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS, missingNodeFlags, profiling } from '../../src/cli/node-flags.js';
import { freePort } from '../../src/testkit/free-port.js';
import { waitForCommands, waitForOutput } from './wait-for-output.js';

const BIN = new URL('../../bin/hotshard.js', import.meta.url).pathname;
const BUILT = existsSync(new URL('../../dist/cli/node-flags.js', import.meta.url));
if (!BUILT) console.warn('launcher tests skipped: no dist/ (run `npm run build`)');

interface Launched {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node [nodeArgs] bin/hotshard.js [args]`, run through `wrapper` (a command and its arguments) when given. */
function launch(nodeArgs: string[], args: string[], wrapper: string[] = []): Launched {
  const [command, ...argv] = [...wrapper, process.execPath, ...nodeArgs, BIN, ...args];
  // Its own process group, as a shell job has: a signal to the group is what a terminal's Ctrl-C sends.
  const child = spawn(command!, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** The pids of a process's children (Linux). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    .split('\0')
    .filter((a) => a !== '');
}

function serverArgs(resp: number, http: number): string[] {
  return ['start', '--resp-port', String(resp), '--http-port', String(http), '--shards', '4'];
}

describe('node flags', () => {
  it('node flags - missing unless given in any spelling, on the command line or in NODE_OPTIONS', () => {
    expect(missingNodeFlags([], '')).toEqual([...SERVER_NODE_FLAGS]);
    expect(missingNodeFlags(['--inspect', '--max-old-space-size=4096'], '--trace-gc')).toEqual([
      ...SERVER_NODE_FLAGS,
    ]);
    for (const given of [['--max-semi-space-size=8'], ['--max_semi_space_size=64']]) {
      expect(missingNodeFlags(given, '')).toEqual([]);
    }
    expect(missingNodeFlags([], '--enable-source-maps  --max-semi-space-size=16')).toEqual([]);
  });

  it('node flags - a debugger or profiler on the command line is seen (no restart then)', () => {
    for (const f of ['--inspect', '--inspect-brk=0', '--cpu-prof', '--heap-prof', '--prof'])
      expect(profiling(['--import', 'tsx', f])).toBe(true);
    expect(profiling(['--import', 'tsx', '--enable-source-maps'])).toBe(false);
  });
});

describe.skipIf(!BUILT || process.platform !== 'linux')('launcher', () => {
  const running: ChildProcess[] = [];
  const servers: number[] = [];
  afterEach(() => {
    for (const pid of servers.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  /** A launched `start` with requests queued (capacity 500 ops/s per node), and its server's pid. */
  async function busyServer(): Promise<{
    l: Launched;
    server: number;
    burst: Promise<PromiseSettledResult<unknown>[]>;
  }> {
    const [resp, http] = [await freePort(), await freePort()];
    const l = launch([], [...serverArgs(resp, http), '--capacity', '500']);
    running.push(l.child);
    await waitForOutput(l, /hotshard ready/);
    const [server] = childrenOf(l.child.pid!);
    expect(server).toBeDefined();
    servers.push(server!);
    expect(cmdline(server!)).toEqual(expect.arrayContaining([...SERVER_NODE_FLAGS, BIN, 'start']));
    // 3000 requests at 2000 ops/s keep the server draining for a while: long
    // enough for a repeated signal to land, or for a lost one to show. The
    // signal waits until the server has them all: one unread is refused.
    const redis = new Redis({ port: resp, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    const sent = Array.from({ length: 3000 }, (_, i) => redis.set(`launcher:${i}`, 'x'));
    const burst = Promise.allSettled(sent).finally(() => redis.disconnect());
    await waitForCommands(http, 3000);
    return { l, server: server!, burst };
  }

  it('launcher - Ctrl-C on the job reaches the server twice (directly and relayed) and drains it once, exit 0', async () => {
    const { l, burst } = await busyServer();
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground job.
    process.kill(-l.child.pid!, 'SIGINT');
    expect((await burst).filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await l.exited).toEqual({ code: 0, signal: null });
    expect(l.output()).toMatch(/shutting down/);
    expect(l.output()).not.toMatch(/second signal/);
  });

  it('launcher - SIGTERM to the launcher alone (docker stop) drains the server, exit 0', async () => {
    const { l, burst } = await busyServer();
    l.child.kill('SIGTERM');
    expect((await burst).filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await l.exited).toEqual({ code: 0, signal: null });
    expect(l.output()).toMatch(/"signal":"SIGTERM".*shutting down/);
  });

  it('launcher - killed with SIGKILL, the launcher leaves no orphan: the server drains and exits', async () => {
    const { l, server, burst } = await busyServer();
    l.child.kill('SIGKILL');
    expect(await l.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await burst).filter((r) => r.status === 'rejected')).toEqual([]);
    const deadline = Date.now() + 10_000;
    while (alive(server) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive(server)).toBe(false);
    expect(l.output()).toMatch(/shutting down/);
  });

  it('launcher - with the flag given, or under a debugger, hotshard runs in the same process', async () => {
    for (const nodeArgs of [['--max-semi-space-size=16'], ['--inspect=127.0.0.1:0']]) {
      const l = launch(nodeArgs, serverArgs(await freePort(), await freePort()));
      running.push(l.child);
      await waitForOutput(l, /hotshard ready/);
      expect(childrenOf(l.child.pid!)).toEqual([]);
      l.child.kill('SIGTERM');
      expect(await l.exited).toEqual({ code: 0, signal: null });
    }
  });

  it('launcher - the server exit code comes back, and a signal that killed it as 128 + its number', async () => {
    const bad = launch([], ['start', '--backend', 'mongo']);
    running.push(bad.child);
    expect((await bad.exited).code).toBe(1);
    expect(bad.output()).toMatch(/backend \(from the command line\)/);

    const l = launch([], serverArgs(await freePort(), await freePort()));
    running.push(l.child);
    await waitForOutput(l, /hotshard ready/);
    const [server] = childrenOf(l.child.pid!);
    servers.push(server!);
    process.kill(server!, 'SIGKILL');
    expect(await l.exited).toEqual({ code: 137, signal: null });
  });

  it('launcher - as PID 1 of a container, a server killed by a signal still reads as a failure (137)', async (ctx) => {
    // A PID namespace of its own, where the launcher is PID 1, as in a
    // container: PID 1 ignores a default-action signal sent to itself, so a
    // launcher that re-raised the server's signal would exit 0.
    const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']);
    if (probe.status !== 0) {
      console.warn('launcher PID 1 test skipped: unshare --pid needs root or CAP_SYS_ADMIN');
      ctx.skip();
    }
    const l = launch([], serverArgs(await freePort(), await freePort()), [
      'unshare',
      '--pid',
      '--fork',
      '--mount-proc',
    ]);
    running.push(l.child);
    await waitForOutput(l, /hotshard ready/);
    const [launcher] = childrenOf(l.child.pid!);
    const [server] = childrenOf(launcher!);
    expect(readFileSync(`/proc/${launcher!}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
    servers.push(server!);
    process.kill(server!, 'SIGKILL');
    expect((await l.exited).code).toBe(137);
  });

  it('launcher - --version, not a server command, answers at once', async () => {
    const l = launch([], ['--version']);
    running.push(l.child);
    expect((await l.exited).code).toBe(0);
    expect(l.output().trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
