/** The stock Redis tools work against hotshard: redis-cli (interactive and one-shot) and redis-benchmark. */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

const run = promisify(execFile);
const hasCli = requireBinary('redis-cli', 'redis-cli tests');
const hasBench = requireBinary('redis-benchmark', 'redis-benchmark tests');
const hasRedis = requireBinary('redis-server', 'redis-benchmark over Redis nodes');

/** Feeds lines to redis-cli's stdin, as a person typing would, and returns what it printed. */
function cliSession(port: number, lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-p', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out));
    child.stdin.end(lines.join('\n') + '\n');
  });
}

describe.skipIf(!hasCli)('redis-cli - against hotshard', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory' });
  });
  afterAll(async () => t?.stop());

  it('redis-cli - a session of the supported commands prints what Redis would', async () => {
    const out = await cliSession(t.port, [
      'PING',
      'SET cli:a hello',
      'GET cli:a',
      'APPEND cli:a !',
      'STRLEN cli:a',
      'INCR cli:n',
      'INCRBY cli:n 9',
      'MSET cli:x 1 cli:y 2 cli:z 3',
      'MGET cli:x cli:y cli:z cli:none',
      'HSET cli:h f1 v1 f2 v2',
      'HGETALL cli:h',
      'EXPIRE cli:a 100',
      'TTL cli:a',
      'TYPE cli:h',
      'DEL cli:x cli:y cli:z',
      'EXISTS cli:x',
      'CLIENT SETNAME me',
      'CLIENT GETNAME',
      'SELECT 0',
      'NOSUCH thing',
    ]);
    expect(out.split('\n').filter((l) => l.length > 0)).toEqual(
      [
        'PONG',
        'OK',
        'hello',
        '6',
        '6',
        '1',
        '10',
        'OK',
        '1',
        '2',
        '3',
        '',
        '2',
        'f1',
        'v1',
        'f2',
        'v2',
        '1',
        '100',
        'hash',
        '3',
        '0',
        'OK',
        'me',
        'OK',
        "ERR unknown command 'NOSUCH', with args beginning with: 'thing' ",
      ].filter((l) => l.length > 0),
    );
  });

  it('redis-cli - one-shot INFO, DBSIZE and COMMAND DOCS answer', async () => {
    const info = await run('redis-cli', ['-p', String(t.port), 'INFO', 'server']);
    expect(info.stdout).toMatch(/hotshard_version:/);
    const dbsize = await run('redis-cli', ['-p', String(t.port), 'DBSIZE']);
    expect(Number(dbsize.stdout.trim())).toBeGreaterThanOrEqual(0);
    const docs = await run('redis-cli', ['-p', String(t.port), 'COMMAND', 'DOCS', 'get']);
    expect(docs.stdout).toMatch(/Get the value of a key/);
  });
});

/** Runs redis-benchmark and returns its CSV rows; throws if it reports errors. */
async function benchmark(port: number, pipeline: number): Promise<Map<string, number>> {
  const { stdout, stderr } = await run(
    'redis-benchmark',
    [
      '-p',
      String(port),
      '-t',
      'ping,set,get,incr,mset',
      '-n',
      '4000',
      '-c',
      '20',
      '-P',
      String(pipeline),
      '-r',
      '1000',
      '--csv',
    ],
    { timeout: 60_000 },
  );
  expect(stderr).not.toMatch(/ERR|error/i);
  expect(stdout).not.toMatch(/ERR|error/i);
  const rows = new Map<string, number>();
  for (const line of stdout.trim().split('\n').slice(1)) {
    const cols = line.split(',').map((c) => c.replace(/"/g, ''));
    rows.set(cols[0]!, Number(cols[1]));
  }
  return rows;
}

describe.skipIf(!hasBench)('redis-benchmark - against hotshard on the memory backend', () => {
  let t: TestHotshard;
  beforeAll(async () => {
    t = await startTestHotshard({ backend: 'memory' });
  });
  afterAll(async () => t?.stop());

  for (const pipeline of [1, 16]) {
    it(`redis-benchmark - ping,set,get,incr,mset with -P ${pipeline} finish without errors`, async () => {
      const rows = await benchmark(t.port, pipeline);
      for (const test of ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'MSET (10 keys)']) {
        expect(rows.get(test), test).toBeGreaterThan(0);
      }
    });
  }
});

describe.skipIf(!hasBench || !hasRedis)(
  'redis-benchmark - against hotshard over 4 redis-server nodes',
  () => {
    let t: TestHotshard;
    beforeAll(async () => {
      t = await startTestHotshard({ backend: 'redis', redisNodes: 4 });
    });
    afterAll(async () => t?.stop());

    for (const pipeline of [1, 16]) {
      it(`redis-benchmark - ping,set,get,incr,mset with -P ${pipeline} finish without errors`, async () => {
        const rows = await benchmark(t.port, pipeline);
        expect(rows.get('GET')).toBeGreaterThan(0);
        expect(rows.get('MSET (10 keys)')).toBeGreaterThan(0);
        // every node took part
        const counts = await Promise.all(
          t.redis.map((r) => run('redis-cli', ['-p', String(r.port), 'DBSIZE'])),
        );
        for (const c of counts) expect(Number(c.stdout.trim())).toBeGreaterThan(0);
      });
    }
  },
);
