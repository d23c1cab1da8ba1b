/** `hotshard load` as a user runs it: flags, exit codes, the table and the JSON report. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOptions, parseDuration } from '../../src/cli/load.js';
import { ConfigError } from '../../src/errors.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { requireBinary, startRedis, type RedisProcess } from '../../src/testkit/index.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const BASE = { duration: '30s', seed: '1', timeout: '10s' };

function hotshard(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('cli load - flags', () => {
  it('cli load - flags become runLoad options', () => {
    const o = loadOptions({
      ...BASE,
      resp: '10.0.0.1:7000',
      rate: '2500',
      duration: '1500ms',
      connections: '8',
      dist: 'zipf:1.2',
      ops: 'get=80,incr=20',
      valueSize: '32-512',
      tenants: 'a=1,b=3',
      keys: '5000',
      seed: '9',
    });
    expect(o).toMatchObject({
      target: { kind: 'resp', host: '10.0.0.1', port: 7000, connections: 8 },
      rate: 2500,
      durationMs: 1500,
      seed: 9,
      workload: {
        keys: 5000,
        distribution: { kind: 'zipf', theta: 1.2 },
        ops: { get: 80, incr: 20 },
        valueSize: { kind: 'uniform', min: 32, max: 512 },
        tenants: [
          { name: 'a', rate: 1 },
          { name: 'b', rate: 3 },
        ],
      },
    });
    expect(loadOptions({ ...BASE, http: 'http://127.0.0.1:8080', concurrency: '4' }).target).toEqual({
      kind: 'http',
      url: 'http://127.0.0.1:8080/',
    });
    // --password goes to an HTTP target too, which sends it as Bearer credentials.
    expect(
      loadOptions({ ...BASE, http: 'http://127.0.0.1:8080', concurrency: '4', password: 'pw' }).target,
    ).toEqual({ kind: 'http', url: 'http://127.0.0.1:8080/', password: 'pw' });
    expect(parseDuration('2m', '--duration')).toBe(120_000);
    expect(parseDuration('45', '--duration')).toBe(45_000);
  });

  it('cli load - bad flags fail with a message naming the flag', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ rate: '10' }, /exactly one target/],
      [{ resp: 'a:1', http: 'http://x', rate: '10' }, /exactly one target/],
      [{ resp: 'localhost', rate: '10' }, /--resp must be host:port/],
      [{ resp: 'h:70000', rate: '10' }, /--resp must be host:port/],
      [{ http: 'ftp://x', rate: '10' }, /http:\/\/ URLs only/],
      [{ resp: 'h:1' }, /give --rate N/],
      [{ resp: 'h:1', rate: '10', concurrency: '2' }, /not both/],
      [{ resp: 'h:1', rate: 'fast' }, /--rate must be a number/],
      [{ resp: 'h:1', concurrency: '1.5' }, /--concurrency must be an integer/],
      [{ resp: 'h:1', rate: '10', duration: 'forever' }, /--duration must be a positive time/],
      [{ resp: 'h:1', rate: '10', dist: 'zipf:-1' }, /distribution\.theta must be a number in \(0, 10\]/],
      [
        { resp: 'h:1', rate: '10', dist: 'celebrity:100,0.5,1', keys: '50' },
        /distribution\.key must be an integer in \[0, 49\]/,
      ],
      [{ resp: 'h:1', rate: '10', dist: 'pareto' }, /--dist must be/],
      [{ resp: 'h:1', rate: '10', ops: 'get=1,scan=1' }, /unknown op "scan"/],
      [{ resp: 'h:1', rate: '10', valueSize: 'large' }, /--value-size/],
      [{ resp: 'h:1', rate: '10', tenants: 'a' }, /--tenants/],
      [{ resp: 'h:1', rate: '10', keys: '0' }, /--keys must be an integer/],
      [{ resp: 'h:1', rate: '10', seed: 'x' }, /--seed must be an integer/],
      [{ resp: 'h:1', rate: '10', workload: '/nonexistent/w.json' }, /--workload/],
    ];
    for (const [flags, message] of cases) {
      let thrown: unknown;
      try {
        loadOptions({ ...BASE, ...flags });
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(flags)).toBeInstanceOf(ConfigError);
      expect((thrown as Error).message, JSON.stringify(flags)).toMatch(message);
    }
  });
});

describe.skipIf(!requireBinary('redis-server', 'hotshard load CLI tests'))('cli load - runs', () => {
  let redis: RedisProcess;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = mkdtempSync(join(tmpdir(), 'hotshard-load-cli-'));
  });
  afterAll(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('cli load - a run prints the table, writes the JSON report, and bad flags exit 2', async () => {
    const report = join(dir, 'report.json');
    const [run, bad, unknown, unreachable] = await Promise.all([
      hotshard(
        [
          'load',
          '--resp',
          redis.address,
          '--rate',
          '2000',
          '--duration',
          '700ms',
          '--connections',
          '4',
        ].concat([
          '--dist',
          'hotspot:0.9,0.01',
          '--ops',
          'get=60,set=30,incr=10',
          '--verify',
          '--report',
          report,
        ]),
      ),
      hotshard(['load', '--resp', redis.address, '--rate', '100', '--dist', 'zipf:abc']),
      hotshard(['load', '--resp', redis.address, '--rate', '100', '--bogus']),
      hotshard(['load', '--resp', '127.0.0.1:1', '--rate', '100', '--duration', '1']),
    ]);
    expect(run.stderr).toBe(''); // no TTY: no progress line
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/throughput\s+[\d,]+ req\/s/);
    expect(run.stdout).toMatch(/latency p99\s+[\d.]+ ms/);
    expect(run.stdout).toMatch(/writes lost\s+0 of \d+ acknowledged/);
    const json = JSON.parse(readFileSync(report, 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ mode: 'open', seed: 1, ok: 1400, errors: 0, writeCheck: { lostWrites: 0 } });
    expect((json.series as unknown[]).length).toBeGreaterThanOrEqual(1);

    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/hotshard load: --dist zipf: THETA must be a number/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/hotshard load: load target resp 127.0.0.1:1: .*ECONNREFUSED/);
    // Four CLIs started at once through tsx: over 30 s on a machine running two suites.
  }, 90_000);
});

describe('cli load - a password-protected hotshard over HTTP', () => {
  let hs: TestHotshard;
  let dir: string;
  beforeAll(async () => {
    hs = await startTestHotshard({ backend: 'memory', password: 'pw' });
    dir = mkdtempSync(join(tmpdir(), 'hotshard-load-cli-http-'));
  });
  afterAll(async () => {
    await hs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('cli load - --http with --password is served; a wrong one fails every request as a 401, shown by kind', async () => {
    const url = `http://127.0.0.1:${hs.httpPort}`;
    const args = ['load', '--http', url, '--rate', '500', '--duration', '600ms', '--connections', '4'];
    const [good, wrong] = [join(dir, 'good.json'), join(dir, 'wrong.json')];
    const [served, refused] = await Promise.all([
      hotshard(
        [...args, '--ops', 'get=50,set=50', '--tenants', 'a=250,b=250', '--password', 'pw'].concat([
          '--verify',
          '--report',
          good,
        ]),
      ),
      hotshard([...args, '--ops', 'get=50,set=50', '--password', 'nope', '--report', wrong]),
    ]);
    expect(served.code, served.stderr).toBe(0);
    expect(served.stdout).toMatch(/writes lost\s+0 of \d+ acknowledged/);
    const okJson = JSON.parse(readFileSync(good, 'utf8')) as Record<string, unknown>;
    expect(okJson).toMatchObject({ ok: 300, errors: 0, writeCheck: { lostWrites: 0, readErrors: 0 } });
    expect(okJson.settings).toMatchObject({ target: { kind: 'http', password: '***' } });

    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stdout).toMatch(/HS_ERR_BAD_AUTH/);
    const badJson = JSON.parse(readFileSync(wrong, 'utf8')) as Record<string, unknown>;
    expect(badJson).toMatchObject({ ok: 0, errors: 300, errorsByKind: { HS_ERR_BAD_AUTH: 300 } });
    expect(JSON.stringify(badJson)).not.toContain('nope');
  }, 90_000);
});
