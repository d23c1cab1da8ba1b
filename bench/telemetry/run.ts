/**
 * What telemetry costs the proxy: the same redis-benchmark traffic through two
 * hotshard processes over the same 4 redis-server nodes, one with telemetry
 * (the default) and one with `--no-telemetry`, alternating, several rounds.
 *
 * Throughput on a shared 2-core machine swings by ±20 % between runs, more
 * than the effect measured, so the primary figure is the proxy's own CPU time
 * per request (utime + stime from /proc, which other processes do not move);
 * when the proxy is the bottleneck, throughput is inversely proportional to
 * it. Throughput of both is printed too. With `taskset` and 2+ cores, both
 * proxies run on the last core and everything else (redis-benchmark, the
 * Redis nodes, this runner) on the others, so they do not fight over one.
 * Keys are random over 100,000 (`-r`), as in bench:proxy.
 *
 *   npm run bench:telemetry [-- --rounds 3 --requests 300000]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { freePort } from '../../src/testkit/free-port.js';
import { startRedisCluster } from '../../src/testkit/redis-server.js';
import { respRoundTrip } from '../../src/testkit/round-trip.js';
import { runRedisBenchmark } from '../lib/redis-benchmark.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, requests: { type: 'string', default: '300000' } },
});
const rounds = Number(values.rounds);
const requests = Number(values.requests);
// P1 runs a third of the requests: it is ~6× slower per request.
const perRun = (pipeline: number): number => (pipeline === 1 ? Math.round(requests / 3) : requests);
const TICKS = 100; // clock ticks per second (USER_HZ) on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
}

async function startProxy(redis: string[], extra: string[]): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      'bin/hotshard.js',
      'start',
      '--backend',
      'redis',
      '--redis',
      redis.join(','),
      '--resp-port',
      String(port),
      '--http-port',
      String(await freePort()),
      '--log-level',
      'warn',
      ...extra,
    ],
    { stdio: 'inherit' },
  );
  for (let i = 0; i < 100; i++) {
    try {
      await respRoundTrip('127.0.0.1', port, [['PING']], 200);
      return { child, port };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error('hotshard did not start');
}

const nodes = await startRedisCluster(4);
// Pinning: this runner (and so redis-benchmark, which it spawns) and the Redis
// nodes on every core but the last; the proxies on the last.
const last = cpus().length - 1;
const pin = (pid: number, list: string): boolean =>
  spawnSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' }).status === 0;
const pinned = last >= 1 && pin(process.pid, `0-${last - 1}`);
if (pinned) for (const n of nodes) pin(n.pid, `0-${last - 1}`);
const on = await startProxy(
  nodes.map((n) => n.address),
  [],
);
const off = await startProxy(
  nodes.map((n) => n.address),
  ['--no-telemetry'],
);
if (pinned) for (const p of [on, off]) pin(p.child.pid!, String(last));
process.stderr.write(pinned ? `proxies pinned to cpu ${last}, the rest to 0-${last - 1}\n` : 'not pinned\n');
const rows: Array<{
  telemetry: 'on' | 'off';
  test: string;
  pipeline: number;
  rps: number;
  cpuMicrosPerRequest: number;
}> = [];
try {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [on, off] : [off, on];
    for (const pipeline of [1, 16]) {
      for (const test of ['set', 'get']) {
        for (const proxy of order) {
          const before = cpuSeconds(proxy.child.pid!);
          const [result] = await runRedisBenchmark({
            port: proxy.port,
            tests: [test],
            requests: perRun(pipeline),
            pipeline,
            clients: 50,
            keyspace: 100_000,
          });
          const cpu = cpuSeconds(proxy.child.pid!) - before;
          const n = perRun(pipeline);
          rows.push({
            telemetry: proxy === on ? 'on' : 'off',
            test: test.toUpperCase(),
            pipeline,
            rps: result!.rps,
            cpuMicrosPerRequest: (cpu * 1e6) / n,
          });
          process.stderr.write('.');
        }
      }
    }
  }
} finally {
  on.child.kill('SIGTERM');
  off.child.kill('SIGTERM');
  await Promise.all(nodes.map((n) => n.stop()));
}
process.stderr.write('\n');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const summary: Array<Record<string, number | string>> = [];
for (const test of ['GET', 'SET']) {
  for (const pipeline of [1, 16]) {
    const pick = (t: 'on' | 'off'): typeof rows =>
      rows.filter((r) => r.telemetry === t && r.test === test && r.pipeline === pipeline);
    const cpuOn = median(pick('on').map((r) => r.cpuMicrosPerRequest));
    const cpuOff = median(pick('off').map((r) => r.cpuMicrosPerRequest));
    summary.push({
      test: `${test} P${pipeline}`,
      cpuMicrosOn: Number(cpuOn.toFixed(2)),
      cpuMicrosOff: Number(cpuOff.toFixed(2)),
      cpuCostPercent: Number((100 * (cpuOn / cpuOff - 1)).toFixed(1)),
      rpsOn: median(pick('on').map((r) => r.rps)),
      rpsOff: median(pick('off').map((r) => r.rps)),
    });
  }
}
console.log(JSON.stringify({ bench: 'telemetry', rounds, requests, pinned, summary, rows }));
console.log('\ntest      CPU µs/req on   off    telemetry cost   req/s on    off');
for (const s of summary) {
  console.log(
    `${String(s.test).padEnd(9)} ${String(s.cpuMicrosOn).padStart(13)} ${String(s.cpuMicrosOff).padStart(6)} ${`${s.cpuCostPercent} %`.padStart(16)} ${String(s.rpsOn).padStart(10)} ${String(s.rpsOff).padStart(7)}`,
  );
}
