/**
 * `hotshard demo` (npm start): after its summary it keeps the cluster and the
 * dashboard up until Ctrl-C, printing the dashboard's URL; `--exit` ends it
 * after the summary. Short runs at a low rate: the box is shared.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForOutput } from './wait-for-output.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** The environment without an admin token, so the demo makes (and prints) one. */
function withoutAdminToken(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.HOTSHARD_ADMIN_TOKEN;
  return env;
}

function demo(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      'demo',
      '--duration',
      '3',
      '--rate',
      '300',
      '--resp-port',
      '0',
      '--http-port',
      '0',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: withoutAdminToken() },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('cli demo', () => {
  const running: ChildProcess[] = [];
  afterEach(() => {
    for (const c of running.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('cli demo - --exit ends after the summary, having printed the dashboard URL', async () => {
    const d = demo(['--exit']);
    running.push(d.child);
    expect(await d.exited).toBe(0);
    expect(d.output()).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(d.output()).toMatch(/\nsummary\n/);
    expect(d.output()).not.toMatch(/still serving/);
  }, 60_000);

  it('cli demo - without --exit the cluster and its dashboard data stay up after the summary until SIGINT', async () => {
    const d = demo([]);
    running.push(d.child);
    await waitForOutput(d, /still serving: dashboard http:\/\/127\.0\.0\.1:\d+\/ /, 60_000);
    const url = /still serving: dashboard (http:\/\/127\.0\.0\.1:\d+\/)/.exec(d.output())![1]!;
    const token = /admin token: ([0-9a-f]+)/.exec(d.output())![1]!;
    const res = await fetch(`${url}heat?seconds=10`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const heat = (await res.json()) as { rows: unknown[]; values: (number | null)[][] };
    expect(heat.rows.length).toBeGreaterThan(0);
    // The workload's last seconds are in the window: some shard served requests.
    expect(heat.values.flat().some((v) => v !== null && v > 0)).toBe(true);
    // Still up a moment later (nothing ends it on its own).
    await new Promise((r) => setTimeout(r, 500));
    expect(d.child.exitCode).toBeNull();
    d.child.kill('SIGINT');
    expect(await d.exited).toBe(0);
  }, 60_000);
});
