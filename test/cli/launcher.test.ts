/**
 * bin/hotshard.js: server commands run with SERVER_NODE_FLAGS (a restart of
 * node when they are missing), a stop signal drains the server once however
 * it is delivered, the server stops when the launcher dies (or, under npx,
 * when npm does), and its exit status comes back. Runs the built launcher
 * (dist/; `npm test` builds it first), as `npx hotshard` does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyRuntimeFlags,
  LAB_NODE_FLAGS,
  RUNTIME_V8_FLAG,
  SERVER_NODE_FLAGS,
  missingNodeFlags,
  nodeFlagsFor,
  profiling,
} from '../../src/cli/node-flags.js';
import { freePort } from '../../src/testkit/free-port.js';
import { queuedBurst } from './queued-burst.js';
import { waitForOutput } from './wait-for-output.js';

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

/** `npx hotshard [args]` in a project that has hotshard installed (a symlink to this tree, as `npm link` makes). */
function npx(args: string[], nodeOptions = ''): Launched & { project: string } {
  const project = mkdtempSync(join(tmpdir(), 'hs-npx-'));
  mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
  symlinkSync(new URL('../..', import.meta.url).pathname, join(project, 'node_modules', 'hotshard'), 'dir');
  symlinkSync('../hotshard/bin/hotshard.js', join(project, 'node_modules', '.bin', 'hotshard'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user', private: true }));
  const child = spawn('npx', ['--offline', 'hotshard', ...args], {
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, NODE_OPTIONS: nodeOptions },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited, project };
}

/** A process's descendants, children first (Linux). */
function descendants(pid: number): number[] {
  return childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
}

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
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

/**
 * 1000 requests queued at 100 ops/s per node (4 nodes) keep a server draining
 * for about 2.5 s: long enough for a repeated signal to land, or for a lost
 * one to show.
 */
const SLOW = ['--capacity', '100'];
const BURST = 1000;

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
    // The young generation's two flags go together: an operator's size for one stands alone.
    expect(missingNodeFlags(['--min_semi_space_size=4'], '')).toEqual([]);
  });

  it('node flags - the traffic lab commands get LAB_NODE_FLAGS in place of the server floor; start gets the server flags; others none', () => {
    // The lab's old-generation floor takes the place of the server's, not a second flag beside it.
    for (const c of ['demo', 'scenario', 'load', 'replay'])
      expect(nodeFlagsFor(c)).toEqual([
        '--max-semi-space-size=32',
        '--min-semi-space-size=32',
        ...LAB_NODE_FLAGS,
      ]);
    expect(LAB_NODE_FLAGS).toEqual(['--initial-old-space-size=256']);
    expect(nodeFlagsFor('start')).toEqual([...SERVER_NODE_FLAGS]);
    expect(SERVER_NODE_FLAGS).toContain('--initial-old-space-size=160');
    for (const c of ['status', 'hotkeys', undefined]) expect(nodeFlagsFor(c)).toEqual([]);
    // The heap's sizes are one group: the operator's value for any of them stands alone.
    for (const given of ['--initial_old_space_size=64', '--min-semi-space-size=8'])
      expect(missingNodeFlags([given], '', nodeFlagsFor('load'))).toEqual([]);
    expect(missingNodeFlags([], '--max-semi-space-size=32 --min-semi-space-size=32')).toEqual([]);
    expect(missingNodeFlags(['--max-old-space-size=4096'], '', nodeFlagsFor('start'))).toEqual([
      ...SERVER_NODE_FLAGS,
    ]);
  });

  it('node flags - pretenuring is turned off at run time for server commands only, unless asked for', () => {
    expect(applyRuntimeFlags('start', [])).toBe(true);
    expect(applyRuntimeFlags('scenario', ['--max-semi-space-size=32'])).toBe(true);
    expect(applyRuntimeFlags('status', [])).toBe(false);
    expect(applyRuntimeFlags(undefined, [])).toBe(false);
    for (const given of [['--allocation-site-pretenuring'], ['--allocation_site_pretenuring']])
      expect(applyRuntimeFlags('start', given)).toBe(false);
    expect(RUNTIME_V8_FLAG).toBe('--no-allocation-site-pretenuring');
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

  /** A launched `start` with requests queued, and its server's pid. */
  async function busyServer(): Promise<{
    l: Launched;
    server: number;
    burst: Promise<PromiseSettledResult<unknown>[]>;
  }> {
    const resp = await freePort();
    const l = launch([], [...serverArgs(resp, await freePort()), ...SLOW]);
    running.push(l.child);
    await waitForOutput(l, /hotshard ready/);
    const [server] = childrenOf(l.child.pid!);
    expect(server).toBeDefined();
    servers.push(server!);
    expect(cmdline(server!)).toEqual(expect.arrayContaining([...SERVER_NODE_FLAGS, BIN, 'start']));
    return { l, server: server!, burst: (await queuedBurst(resp, BURST, 'launcher')).settled };
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

  it.each([
    ['through the launcher', ''],
    ['in one process (flag in NODE_OPTIONS)', '--max-semi-space-size=32'],
  ])(
    'launcher - SIGTERM to `npx hotshard start` (npm exec) drains the server and leaves nothing running, %s',
    async (_, nodeOptions) => {
      // npm relays SIGTERM only to the `sh -c` it runs the bin with, and sh dies
      // without passing it on: what hotshard started would run on, orphaned.
      const resp = await freePort();
      const l = npx([...serverArgs(resp, await freePort()), ...SLOW], nodeOptions);
      running.push(l.child);
      try {
        await waitForOutput(l, /hotshard ready/, 60_000);
        const tree = descendants(l.child.pid!);
        servers.push(...tree);
        expect(tree.map((p) => cmdline(p).join(' '))).toEqual(
          expect.arrayContaining([
            expect.stringMatching(/^sh -c/),
            expect.stringMatching(/bin\/hotshard start/),
          ]),
        );
        // npm exec → sh → launcher → server, or → sh → server when node has the flag already
        expect(tree).toHaveLength(nodeOptions === '' ? 3 : 2);
        const burst = (await queuedBurst(resp, BURST, 'npx')).settled;
        l.child.kill('SIGTERM'); // `kill <pid>` of npm exec, the process the user started
        await l.exited;
        expect((await burst).filter((r) => r.status === 'rejected')).toEqual([]);
        const deadline = Date.now() + 15_000;
        while (tree.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(tree.filter(alive).map((p) => cmdline(p).join(' '))).toEqual([]);
        expect(await listening(resp)).toBe(false);
        expect(l.output()).toMatch(/shutting down/);
        expect(l.output()).toMatch(/hotshard stopped/);
      } finally {
        rmSync(l.project, { recursive: true, force: true });
      }
    },
    90_000,
  );

  it('launcher - started from a shell with `&` (not by a package manager), the server outlives that shell', async () => {
    const resp = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));
    const sh = spawnSync(
      'sh',
      [
        '-c',
        `"$0" "$@" >/dev/null 2>&1 & echo $!`,
        process.execPath,
        BIN,
        ...serverArgs(resp, await freePort()),
      ],
      { encoding: 'utf8', env: { ...env, NODE_OPTIONS: '' } },
    );
    const launcher = Number(sh.stdout.trim());
    servers.push(launcher);
    const deadline = Date.now() + 20_000;
    while (!(await listening(resp)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    servers.push(...descendants(launcher));
    // the shell is gone; the parent checks (every 500 ms) would have seen it by now
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(launcher)).toBe(true);
    expect(await listening(resp)).toBe(true);
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
