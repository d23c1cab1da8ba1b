/**
 * redis-benchmark's full default test set (no -t: PING, SET, GET, INCR,
 * LPUSH, RPUSH, LPOP, RPOP, SADD, HSET, SPOP, ZADD, ZPOPMIN, LRANGE, MSET,
 * and from Redis 7.2 on XADD), unpipelined and with -P 16, runs through
 * hotshard without an error reply, to redis-server nodes and to the embedded
 * nodes. XADD is run as its own command too (`XADD mystream * myfield xxx`,
 * what 7.2's test sends), since redis-benchmark 7.0 has no XADD test.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBinary } from '../../src/testkit/binaries.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { exchange } from './differential.js';

const hasTools =
  requireBinary('redis-server', 'redis-benchmark through hotshard') &&
  requireBinary('redis-benchmark', 'redis-benchmark through hotshard');

/** Runs redis-benchmark -q against `port`; resolves with its exit code and everything it printed. */
function benchmark(
  port: number,
  pipeline: number,
  command: string[] = [],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const args = [
      '-p',
      String(port),
      '-q',
      '-n',
      '2000',
      '-c',
      '10',
      '-r',
      '1000',
      '-P',
      String(pipeline),
      ...command,
    ];
    const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The test names redis-benchmark printed a rate for (`SET: 1234.5 requests per second ...`). */
const ran = (output: string): string[] =>
  output
    .split(/\r|\n/)
    .map((l) => /^([A-Z][A-Z_0-9]*)[^:]*: [\d.]+ requests per second/.exec(l.trim())?.[1])
    .filter((x): x is string => x !== undefined);

const DEFAULT_SET = [
  'PING_INLINE',
  'PING_MBULK',
  'SET',
  'GET',
  'INCR',
  'LPUSH',
  'RPUSH',
  'LPOP',
  'RPOP',
  'SADD',
  'HSET',
  'SPOP',
  'ZADD',
  'ZPOPMIN',
  'LRANGE_100',
  'MSET',
];

function runDefaultSet(name: string, start: () => Promise<TestHotshard>): void {
  describe(name, () => {
    let t: TestHotshard;
    beforeAll(async () => {
      t = await start();
    });
    afterAll(async () => {
      await t?.stop();
    });
    for (const pipeline of [1, 16]) {
      it(`redis-benchmark -q (default tests) -P ${pipeline} finishes without an error reply`, async () => {
        const { code, output } = await benchmark(t.port, pipeline);
        expect(code, output).toBe(0);
        expect(output).not.toMatch(/error|ERR |WRONGTYPE|unknown command|HS_ERR/i);
        expect(ran(output)).toEqual(expect.arrayContaining(DEFAULT_SET));
        // What it wrote is there: the list and the sorted set it filled.
        const [llen, zcard] = await exchange(t.port, [
          ['LLEN', 'mylist'],
          ['ZCARD', 'myzset'],
        ]);
        expect(llen).toBeGreaterThan(0);
        expect(typeof zcard).toBe('number');
        // XADD, as redis-benchmark 7.2's default set sends it: every entry lands
        const [before] = await exchange(t.port, [['XLEN', 'mystream']]);
        const xadd = await benchmark(t.port, pipeline, ['XADD', 'mystream', '*', 'myfield', 'xxx']);
        expect(xadd.code, xadd.output).toBe(0);
        expect(xadd.output).not.toMatch(/error|ERR |WRONGTYPE|unknown command|HS_ERR/i);
        expect(xadd.output).toMatch(/XADD mystream \* myfield xxx: [\d.]+ requests per second/);
        const [after] = await exchange(t.port, [['XLEN', 'mystream']]);
        expect(Number(after) - Number(before)).toBe(2000);
      }, 180_000);
    }
  });
}

describe.skipIf(!hasTools)('redis-benchmark default test set through hotshard', () => {
  runDefaultSet('to 4 redis-server nodes', () => startTestHotshard({ backend: 'redis', redisNodes: 4 }));
});

describe.skipIf(!hasTools)('redis-benchmark default test set through hotshard (embedded nodes)', () => {
  runDefaultSet('to embedded nodes', () => startTestHotshard({ backend: 'memory' }));
});
