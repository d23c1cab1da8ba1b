/**
 * Starts a whole hotshard for a test or benchmark: in-process, on free ports,
 * over embedded nodes or over freshly spawned redis-server processes.
 */
import { pino } from 'pino';
import { loadConfig, type ConfigInput } from '../config.js';
import { startHotshard, type Hotshard } from '../hotshard.js';
import { startRedisCluster, type RedisProcess } from './redis-server.js';

/** A running test cluster. */
export interface TestHotshard {
  readonly hs: Hotshard;
  readonly port: number;
  readonly httpPort: number;
  /** The redis-server processes behind it (backend redis), in node order. */
  readonly redis: readonly RedisProcess[];
  stop(): Promise<void>;
}

/**
 * Starts hotshard on free ports. With `backend: 'redis'`, first spawns
 * `redisNodes` redis-server processes (default 4), or uses `redisProcesses`
 * (several routers in front of the same nodes; stop() leaves those running).
 *
 * @example const t = await startTestHotshard({ backend: 'redis' }); ... await t.stop();
 */
export async function startTestHotshard(
  config: ConfigInput & { redisNodes?: number; redisProcesses?: readonly RedisProcess[] } = {},
): Promise<TestHotshard> {
  const { redisNodes = 4, redisProcesses, ...rest } = config;
  const spawned = rest.backend === 'redis' && redisProcesses === undefined;
  const redis = spawned ? await startRedisCluster(redisNodes) : (redisProcesses ?? []);
  const own = spawned ? redis : [];
  try {
    const full = loadConfig({
      flags: {
        respPort: 0,
        httpPort: 0,
        logLevel: 'silent',
        shutdownDrainMs: 1000,
        ...rest,
        ...(rest.backend === 'redis' ? { redis: redis.map((r) => r.address) } : {}),
      },
    });
    const hs = await startHotshard(full, pino({ level: full.logLevel }));
    return {
      hs,
      port: hs.respPort,
      httpPort: hs.httpPort,
      redis,
      async stop() {
        await hs.close();
        await Promise.all(own.map((r) => r.stop()));
      },
    };
  } catch (err) {
    await Promise.all(own.map((r) => r.stop()));
    throw err;
  }
}
