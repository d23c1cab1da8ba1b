/**
 * bin/hotshard.js: server commands run with SERVER_NODE_FLAGS (a restart of
 * node when they are missing), signals reach the server exactly once, and
 * its exit code comes back. Runs the built launcher (dist/, built by `npm
 * install`), as `npx hotshard` does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS, missingNodeFlags } from '../../src/cli/node-flags.js';
import { freePort } from '../../src/testkit/free-port.js';

const BIN = new URL('../../bin/hotshard.js', import.meta.url).pathname;
const BUILT = existsSync(new URL('../../dist/cli/node-flags.js', import.meta.url));
if (!BUILT) console.warn('launcher tests skipped: no dist/ (run `npm run build`)');

interface Launched {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(nodeArgs: string[], args: string[]): Launched {
  // Its own process group, as a shell job has: a signal to the group is what a terminal's Ctrl-C sends.
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
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

async function waitFor(l: Launched, pattern: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(l.output())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output:\n${l.output()}`);
    if (l.child.exitCode !== null) throw new Error(`exited with ${l.child.exitCode}; output:\n${l.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pids of a process's children (Linux). */
function childrenOf(pid: number): number[] {
  const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text === '' ? [] : text.split(' ').map(Number);
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
    for (const given of [
      ['--max-semi-space-size=8'],
      ['--max_semi_space_size=64'],
      ['--max-semi-space-size', '16'],
    ]) {
      expect(missingNodeFlags(given, '')).toEqual([]);
    }
    expect(missingNodeFlags([], '--enable-source-maps  --max-semi-space-size=16')).toEqual([]);
  });
});

describe.skipIf(!BUILT || process.platform !== 'linux')('launcher', () => {
  const running: ChildProcess[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      for (const pid of childrenOf(c.pid!)) process.kill(pid, 'SIGKILL');
      c.kill('SIGKILL');
    }
  });

  it('launcher - start runs the server with the flags; Ctrl-C on the job drains it once and exits 0', async () => {
    const resp = await freePort();
    const l = launch([], [...serverArgs(resp, await freePort()), '--capacity', '2000']);
    running.push(l.child);
    await waitFor(l, /hotshard ready/);
    const [server] = childrenOf(l.child.pid!);
    expect(server).toBeDefined();
    expect(cmdline(server!)).toEqual(expect.arrayContaining([...SERVER_NODE_FLAGS, BIN, 'start']));
    // Requests queued at 2000 ops/s per node keep the server draining for a
    // while, long enough for a second SIGINT to land, if one were sent.
    const redis = new Redis({ port: resp, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    const burst = Array.from({ length: 3000 }, (_, i) => redis.set(`launcher:${i}`, 'x'));
    await new Promise((r) => setTimeout(r, 50));
    // What a terminal does on Ctrl-C: SIGINT to the foreground job's process group.
    process.kill(-l.child.pid!, 'SIGINT');
    const results = await Promise.allSettled(burst);
    redis.disconnect();
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await l.exited).toEqual({ code: 0, signal: null });
    expect(l.output()).toMatch(/shutting down/);
    // One signal reached the server, not two (a second one means "exit without draining").
    expect(l.output()).not.toMatch(/second signal/);
  });

  it('launcher - with the flag given, hotshard runs in the same process', async () => {
    const l = launch(['--max-semi-space-size=16'], serverArgs(await freePort(), await freePort()));
    running.push(l.child);
    await waitFor(l, /hotshard ready/);
    expect(childrenOf(l.child.pid!)).toEqual([]);
    l.child.kill('SIGTERM');
    expect(await l.exited).toEqual({ code: 0, signal: null });
  });

  it('launcher - the server exit code and a signal that killed it come back', async () => {
    const bad = launch([], ['start', '--backend', 'mongo']);
    running.push(bad.child);
    expect((await bad.exited).code).toBe(1);
    expect(bad.output()).toMatch(/backend \(from the command line\)/);

    const l = launch([], serverArgs(await freePort(), await freePort()));
    running.push(l.child);
    await waitFor(l, /hotshard ready/);
    process.kill(childrenOf(l.child.pid!)[0]!, 'SIGKILL');
    expect(await l.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('launcher - --version, not a server command, answers at once', async () => {
    const l = launch([], ['--version']);
    running.push(l.child);
    expect((await l.exited).code).toBe(0);
    expect(l.output().trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
