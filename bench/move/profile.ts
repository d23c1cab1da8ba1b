/**
 * Where a bulk copy's time goes: RangeCopier.copyAll alone (no router, no
 * clients) between two fresh redis-servers, with the CPU seconds each party
 * spent (this process, the source node, the target node; from
 * process.cpuUsage and INFO cpu) beside the wall time. On a 2-core box the
 * three compete for the cores, so the sum of the CPU columns is what a
 * faster copy has to shrink. Prints one line per window size asked for, then
 * one JSON line.
 *
 *   npm run bench:move:profile -- [--keys 1000000] [--windows 1,4,8] [--value-bytes 20] [--cpu-prof FILE]
 *
 * `--cpu-prof` writes a V8 CPU profile of the copy alone (not the fill) to FILE.
 */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';
import { RedisBackend } from '../../src/backend/redis.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { CopyThrottle, NO_LIMITS, RangeCopier } from '../../src/rebalance/copier.js';
import { startRedisCluster } from '../../src/testkit/index.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    windows: { type: 'string', default: '4' },
    'value-bytes': { type: 'string', default: '20' },
    'cpu-prof': { type: 'string' },
  },
});
const KEYS = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);
const WINDOWS = args.windows.split(',').map(Number);
for (const [name, v] of [
  ['keys', KEYS],
  ['value-bytes', VALUE_BYTES],
  ...WINDOWS.map((w) => ['windows', w] as const),
] as const) {
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`bench:move:profile: --${name} must be a positive integer, got ${JSON.stringify(v)}`);
    process.exit(2);
  }
}

/** used_cpu_sys + used_cpu_user of a node, in seconds. */
async function nodeCpu(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const f = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return f('used_cpu_sys') + f('used_cpu_user');
}

interface Row {
  window: number;
  keysPerSec: number;
  seconds: number;
  nodeCpuS: number;
  sourceCpuS: number;
  targetCpuS: number;
}

async function oneWindow(window: number): Promise<Row> {
  const [from, to] = await startRedisCluster(2);
  const src = new Redis({ host: from!.host, port: from!.port, lazyConnect: true });
  const dst = new Redis({ host: to!.host, port: to!.port, lazyConnect: true });
  const source = new RedisBackend({ node: nodeId('src'), host: from!.host, port: from!.port });
  const target = new RedisBackend({ node: nodeId('dst'), host: to!.host, port: to!.port });
  try {
    await Promise.all([src.connect(), dst.connect(), source.connect(), target.connect()]);
    const value = 'v'.repeat(VALUE_BYTES);
    for (let i = 0; i < KEYS; i += 10_000) {
      const p = src.pipeline();
      for (let j = i; j < Math.min(KEYS, i + 10_000); j++) p.set(`k:${j}`, value);
      await p.exec();
    }
    const copier = new RangeCopier({
      source,
      target,
      inRange: () => true,
      throttle: new CopyThrottle(NO_LIMITS),
      window,
    });
    const [s0, t0] = await Promise.all([nodeCpu(src), nodeCpu(dst)]);
    const profiler = args['cpu-prof'] === undefined ? null : new Session();
    if (profiler !== null) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await copier.copyAll(() => undefined);
    const seconds = (performance.now() - w0) / 1000;
    const c1 = process.cpuUsage(c0);
    if (profiler !== null) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(`${args['cpu-prof']}.${window}.cpuprofile`, JSON.stringify(profile));
      profiler.disconnect();
    }
    const [s1, t1] = await Promise.all([nodeCpu(src), nodeCpu(dst)]);
    const copied = await dst.dbsize();
    if (copied !== KEYS) throw new Error(`target holds ${copied} keys, not ${KEYS}`);
    return {
      window,
      keysPerSec: Math.round(KEYS / seconds),
      seconds: round(seconds),
      nodeCpuS: round((c1.user + c1.system) / 1e6),
      sourceCpuS: round(s1 - s0),
      targetCpuS: round(t1 - t0),
    };
  } finally {
    src.disconnect();
    dst.disconnect();
    await Promise.all([source.close(), target.close()]);
    await Promise.all([from!.stop(), to!.stop()]);
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;

const rows: Row[] = [];
for (const w of WINDOWS) rows.push(await oneWindow(w));
console.log('window | keys/s | wall s | this process cpu s | source cpu s | target cpu s');
for (const r of rows)
  console.log(
    [r.window, r.keysPerSec, r.seconds, r.nodeCpuS, r.sourceCpuS, r.targetCpuS].map(String).join(' | '),
  );
console.log(JSON.stringify({ bench: 'move-profile', keys: KEYS, valueBytes: VALUE_BYTES, rows }));
