/**
 * bench:hotkey (c): how evenly the backends are loaded under Zipf traffic,
 * through twemproxy and through hotshard, over the same redis-server nodes.
 *
 * Each leg: the same seeded workload (Zipf θ over `keys` keys, 90 % GET,
 * 10 % SET) at the same open-loop rate; a warm-up during which hotshard
 * detects and mitigates (twemproxy has nothing to do), then every node's
 * `CONFIG RESETSTAT`, then the measured run. Each node's GET + SET count comes
 * from `INFO commandstats`; the figure is max/mean over the nodes (1.0 is
 * perfect balance). Several key namings, since where the hottest keys land
 * (and so twemproxy's figure) depends on their names.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startHotshard, type Hotshard } from '../../src/hotshard.js';
import { runLoad } from '../../src/load/generator.js';
import type { WorkloadSpec } from '../../src/load/workload.js';
import { startNutcracker } from '../../src/testkit/nutcracker.js';
import type { RedisProcess } from '../../src/testkit/index.js';

/** One naming's result. */
export interface BalanceRow {
  readonly naming: string;
  readonly twemproxy: number | null;
  readonly hotshard: number;
  /** Backend GET+SET per node (hotshard leg), for the record. */
  readonly hotshardOps: readonly number[];
  readonly twemproxyOps: readonly number[] | null;
  /** Actions hotshard had in place when the measured run ended. */
  readonly policies: number;
}

/** Settings of part (c). */
export interface BalanceSettings {
  readonly keys: number;
  readonly theta: number;
  readonly rate: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly namings: readonly {
    readonly name: string;
    readonly keyPrefix: string;
    readonly padWidth: number;
  }[];
  readonly seed: number;
}

async function nodeOps(redis: readonly RedisProcess[]): Promise<number[]> {
  return Promise.all(
    redis.map(async (r) => {
      const c = new Redis({ host: r.host, port: r.port, lazyConnect: true, maxRetriesPerRequest: 1 });
      await c.connect();
      try {
        const info = await c.info('commandstats');
        let ops = 0;
        for (const cmd of ['get', 'set']) {
          const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(info);
          ops += m === null ? 0 : Number(m[1]);
        }
        return ops;
      } finally {
        c.disconnect();
      }
    }),
  );
}

async function resetStats(redis: readonly RedisProcess[]): Promise<void> {
  await Promise.all(
    redis.map(async (r) => {
      const c = new Redis({ host: r.host, port: r.port, lazyConnect: true, maxRetriesPerRequest: 1 });
      await c.connect();
      try {
        await c.config('RESETSTAT');
      } finally {
        c.disconnect();
      }
    }),
  );
}

const maxOverMean = (ops: readonly number[]): number => {
  const mean = ops.reduce((a, b) => a + b, 0) / ops.length;
  return mean === 0 ? 1 : Math.max(...ops) / mean;
};

async function leg(
  port: number,
  workload: WorkloadSpec,
  s: BalanceSettings,
  redis: readonly RedisProcess[],
): Promise<number[]> {
  const target = { kind: 'resp' as const, host: '127.0.0.1', port, connections: 32 };
  await runLoad({ target, workload, rate: s.rate, durationMs: s.warmupMs, seed: s.seed });
  await resetStats(redis);
  await runLoad({ target, workload, rate: s.rate, durationMs: s.measureMs, seed: s.seed + 1 });
  return nodeOps(redis);
}

/** Runs part (c) over `redis`; twemproxy is skipped (null) when nutcracker is absent. */
export async function runBalance(
  redis: readonly RedisProcess[],
  s: BalanceSettings,
  log: (line: string) => void,
  withTwemproxy: boolean,
): Promise<BalanceRow[]> {
  const rows: BalanceRow[] = [];
  for (const naming of s.namings) {
    const workload: WorkloadSpec = {
      keys: s.keys,
      keyPrefix: naming.keyPrefix,
      padWidth: naming.padWidth,
      ops: { get: 90, set: 10 },
      distribution: { kind: 'zipf', theta: s.theta },
    };
    let twemproxyOps: number[] | null = null;
    if (withTwemproxy) {
      const twem = await startNutcracker({ servers: redis.map((r) => r.address) });
      try {
        twemproxyOps = await leg(twem.port, workload, s, redis);
      } finally {
        await twem.stop();
      }
      log(`  ${naming.name}: twemproxy max/mean ${maxOverMean(twemproxyOps).toFixed(2)}`);
    }
    const hs: Hotshard = await startHotshard(
      loadConfig({
        flags: {
          backend: 'redis',
          redis: redis.map((r) => r.address).join(','),
          respPort: 0,
          httpPort: 0,
          logLevel: 'silent',
        },
      }),
      pino({ level: 'silent' }),
    );
    let hotshardOps: number[];
    let policies = 0;
    try {
      hotshardOps = await leg(hs.respPort, workload, s, redis);
      policies = hs.router.policies.size;
    } finally {
      await hs.close();
    }
    log(
      `  ${naming.name}: hotshard max/mean ${maxOverMean(hotshardOps).toFixed(2)} (${policies} key policies in place)`,
    );
    rows.push({
      naming: naming.name,
      twemproxy: twemproxyOps === null ? null : maxOverMean(twemproxyOps),
      hotshard: maxOverMean(hotshardOps),
      hotshardOps,
      twemproxyOps,
      policies,
    });
  }
  return rows;
}
