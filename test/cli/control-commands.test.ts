/**
 * `hotshard policies`, `hotshard actions` and `hotshard automation` against a
 * started hotshard: readable tables, server errors printed with their code,
 * and exit codes (0 done, 1 refused, 2 bad usage, 3 nothing at --url).
 */
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { freePort } from '../../src/testkit/free-port.js';
import { answeringRemedy, send, text } from '../mitigate/test-remedy.js';
import { waitForOutput } from './wait-for-output.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const ADMIN = 'cli-admin-token-0123456789';
const READ = 'cli-read-token-0123456789';

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function hotshard(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const clean = { ...process.env };
  delete clean.HOTSHARD_ADMIN_TOKEN;
  delete clean.HOTSHARD_READ_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...clean, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

describe('cli control commands', () => {
  let hs: Hotshard;
  let url: string;
  beforeAll(async () => {
    const config = loadConfig({
      flags: { respPort: 0, httpPort: 0, nodes: 2, logLevel: 'silent', adminToken: ADMIN, readToken: READ },
    });
    hs = await startHotshard(config, pino({ level: 'silent' }), [answeringRemedy('cache')]);
    url = `http://127.0.0.1:${hs.httpPort}`;
  });
  afterAll(async () => {
    await hs.close();
  });

  it('cli policies - set, list, get and delete a key policy; each an action the actions command shows with its reason', async () => {
    const set = await hotshard([
      'policies',
      'set',
      'user:1',
      '--cache',
      '--max-stale-ms',
      '500',
      '--reason',
      'celebrity launch',
      '--url',
      url,
      '--token',
      ADMIN,
    ]);
    expect(set.err).toBe('');
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/a-1 done: policy of 'user:1' set/);
    expect(text(await send(hs.router, 'get', 'user:1'))).toBe(
      'cache:{"maxStaleMs":500,"staleWhileRevalidate":false,"writeThrough":true}',
    );

    // The admin token from the environment; the table names the remedy and its settings.
    const [list, get] = await Promise.all([
      hotshard(['policies', '--url', url], { HOTSHARD_ADMIN_TOKEN: ADMIN }),
      hotshard(['policies', 'get', 'user:1', '--url', url, '--token', READ]),
    ]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/KEY\s+CONSISTENCY\s+REMEDIES\s+SINCE/);
    expect(list.out).toMatch(/user:1\s+bounded\s+cache\(maxStaleMs=500,staleWhileRevalidate=false,/);
    expect(list.out).toMatch(/remedies available: cache/);
    expect(get.code).toBe(0);
    expect(get.out).toMatch(/actions\s+a-1/);

    const del = await hotshard([
      'policies',
      'delete',
      'user:1',
      '--reason',
      'launch over',
      '--url',
      url,
      '--token',
      ADMIN,
    ]);
    expect(del.code).toBe(0);
    expect(await send(hs.router, 'get', 'user:1')).toBeNull();

    const [actions, one] = await Promise.all([
      hotshard(['actions', '--url', url, '--token', READ]),
      hotshard(['actions', 'a-1', '--url', url, '--token', READ]),
    ]);
    expect(actions.code).toBe(0);
    const rows = actions.out.split('\n').filter((l) => /^a-\d/.test(l));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^a-2 .* policy\s+user:1\s+done\s+pending\s+operator\s+launch over$/);
    expect(rows[1]).toMatch(/^a-1 .* celebrity launch$/);
    expect(one.out).toMatch(/detail\s+superseded by a-2/);
  }, 120_000);

  it('cli policies - the server’s refusals are printed with status and code and exit 1; a bad flag exits 2; no server exits 3', async () => {
    const [readOnly, missing, usage, nothing, noRemedy] = await Promise.all([
      hotshard(['policies', 'set', 'k', '--cache', '--url', url, '--token', READ]),
      hotshard(['policies', 'get', 'absent', '--url', url, '--token', READ]),
      hotshard(['automation', 'yolo', '--url', url]),
      hotshard(['actions', '--url', `http://127.0.0.1:${await freePort()}`]),
      hotshard(['policies', 'set', 'k', '--url', url, '--token', ADMIN]),
    ]);
    expect(readOnly.code).toBe(1);
    expect(readOnly.err).toMatch(
      /hotshard policies: 403 HS_ERR_NOT_ALLOWED: the read-only token cannot change state/,
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/404 HS_ERR_NOT_FOUND: key 'absent' has no policy/);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/mode must be one of auto, dry-run, manual, frozen/);
    expect(nothing.code).toBe(3);
    expect(nothing.err).toMatch(/no hotshard answers/);
    expect(noRemedy.code).toBe(2);
    expect(noRemedy.err).toMatch(/name at least one remedy/);
  }, 120_000);

  it('cli automation - shows the mode, sets it with a reason, and frozen makes a policy change fail with the server’s 409', async () => {
    const frozen = await hotshard([
      'automation',
      'frozen',
      '--reason',
      'change freeze',
      '--url',
      url,
      '--token',
      ADMIN,
    ]);
    expect(frozen.code).toBe(0);
    expect(frozen.out).toMatch(/automation: frozen/);
    const [show, refused] = await Promise.all([
      hotshard(['automation', '--url', url, '--token', READ]),
      hotshard(['policies', 'set', 'k', '--cache', '--url', url, '--token', ADMIN]),
    ]);
    expect(show.out).toMatch(/automation: frozen/);
    expect(show.out).toMatch(/frozen\s+operator\s+change freeze/);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/409 HS_ERR_NOT_ALLOWED: automation is frozen/);
    const thaw = await hotshard(['automation', 'auto', '--reason', 'thaw', '--url', url, '--token', ADMIN]);
    expect(thaw.code).toBe(0);
    expect(hs.executor.mode).toBe('auto');
  }, 120_000);

  it('cli start - prints the API URL and whether an admin token is set', async () => {
    const http = await freePort();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        'start',
        '--resp-port',
        String(await freePort()),
        '--http-port',
        String(http),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOTSHARD_ADMIN_TOKEN: ADMIN } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await waitForOutput({ child, output: () => out }, /API at/);
      expect(out).toMatch(
        new RegExp(`API at http://127\\.0\\.0\\.1:${http}/ .*; admin token set; automation auto`),
      );
      expect(out).not.toContain(ADMIN);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 120_000);
});
