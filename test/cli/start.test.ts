/** `hotshard start` as an operator runs it: flags, bad config, graceful shutdown. */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/testkit/free-port.js';
import { waitForCommands, waitForOutput } from './wait-for-output.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function hotshard(args: string[]): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('cli start', () => {
  const running: ChildProcess[] = [];
  afterEach(() => {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('cli start - bad flags exit 1 with a message naming the field', async () => {
    const s = hotshard(['start', '--backend', 'mongo']);
    running.push(s.child);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/backend \(from the command line\)/);
    expect(s.output()).toMatch(/"memory", "redis"/);
  });

  it('cli start - serves RESP and HTTP, then SIGTERM drains in-flight requests and exits 0', async () => {
    const [resp, http] = [await freePort(), await freePort()];
    const s = hotshard([
      'start',
      '--resp-port',
      String(resp),
      '--http-port',
      String(http),
      '--shards',
      '8',
      '--capacity',
      '400',
    ]);
    running.push(s.child);
    await waitForOutput(s, /hotshard ready/);
    const redis = new Redis({ port: resp, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    await redis.set('cli:k', 'v');
    expect(await redis.get('cli:k')).toBe('v');
    const shards = (await (await fetch(`http://127.0.0.1:${http}/shards`)).json()) as { shards: unknown[] };
    expect(shards.shards).toHaveLength(8);

    // With 400 ops/s per node, 2000 requests take over a second to drain: SIGTERM
    // arrives while they are queued, and every one must still be answered.
    const burst = Array.from({ length: 2000 }, (_, i) => redis.set(`cli:burst:${i}`, 'x'));
    await waitForCommands(http, 2002);
    s.child.kill('SIGTERM');
    const results = await Promise.allSettled(burst);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(await s.exited).toBe(0);
    expect(s.output()).toMatch(/shutting down/);
    redis.disconnect();
  });

  it('cli start - a repeat of the stop signal within a second counts once; one later exits at once', async () => {
    const [resp, http] = [await freePort(), await freePort()];
    // 4 nodes at 100 ops/s: 3000 queued requests take about 7.5 s to drain.
    const slow = hotshard([
      'start',
      '--resp-port',
      String(resp),
      '--http-port',
      String(http),
      '--capacity',
      '100',
    ]);
    running.push(slow.child);
    await waitForOutput(slow, /hotshard ready/);
    const client = new Redis({ port: resp, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    const burst = Promise.allSettled(
      Array.from({ length: 3000 }, (_, i) => client.set(`cli:slow:${i}`, 'x')),
    );
    await waitForCommands(http, 3000);
    slow.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 20));
    slow.child.kill('SIGTERM'); // the same stop, relayed: ignored
    await new Promise((r) => setTimeout(r, 1200));
    expect(slow.child.exitCode).toBeNull(); // still draining
    slow.child.kill('SIGTERM'); // an operator's second signal: exit now
    expect(await slow.exited).toBe(1);
    expect(slow.output()).toMatch(/second signal: exiting without waiting/);
    expect((await burst).some((r) => r.status === 'rejected')).toBe(true);
    client.disconnect();
  });

  it('cli start - a taken port is reported clearly', async () => {
    const port = await freePort();
    const first = hotshard(['start', '--resp-port', String(port), '--http-port', String(await freePort())]);
    running.push(first.child);
    await waitForOutput(first, /hotshard ready/);
    const second = hotshard(['start', '--resp-port', String(port), '--http-port', String(await freePort())]);
    running.push(second.child);
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/EADDRINUSE/);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  });
});
