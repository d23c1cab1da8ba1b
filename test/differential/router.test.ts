import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { anyCommand, hashes, keys, lists, sets, strings, zsets } from './commands.js';
import { compareSequence } from './harness.js';
import { RespPipe } from './resp-pipe.js';

// The same sequences through a hotshard router: to embedded shards and to 4
// redis-server nodes. Every key carries one hash tag, so a sequence's keys
// share a shard and its multi-key commands stay on one node.
const SEED = Number(process.env.DIFF_SEED ?? 1616);
const SCALE = Number(process.env.DIFF_SCALE ?? 1);
const ADMIN = 'differential-admin';

let redis: RedisProcess;
let plain: RespPipe;
const routers: { name: string; t: TestHotshard; pipe: RespPipe }[] = [];
/** Commands sent through hotshard (each also to redis-server), to hold the suite to its 100k. */
let sent = 0;

beforeAll(async () => {
  redis = await startRedis();
  plain = await RespPipe.open(redis.port);
  for (const backend of ['memory', 'redis'] as const) {
    const t = await startTestHotshard({
      backend,
      adminPassword: ADMIN,
      // the sequences hammer one hash tag, which would otherwise draw a hot-key
      // remedy (cache, salting) that refuses multi-key commands on it, as it should
      automation: 'manual',
      ...(backend === 'redis' ? { redisNodes: 4 } : {}),
    });
    const pipe = await RespPipe.open(t.port);
    // FLUSHALL between sequences needs an admin connection
    const [auth] = await pipe.batch([['AUTH', 'admin', ADMIN]]);
    if (auth?.toString() !== '+OK\r\n') throw new Error(`AUTH admin failed: ${auth?.toString()}`);
    routers.push({ name: backend, t, pipe });
  }
}, 60_000);

afterAll(async () => {
  plain.close();
  for (const r of routers) {
    r.pipe.close();
    await r.t.stop();
  }
  await redis.stop();
});

const groups = { strings, keys, hashes, lists, sets, zsets, mixed: anyCommand };

describe('differential - a hotshard router answers as redis-server 7.0 does', () => {
  for (const target of ['memory', 'redis'] as const) {
    for (const [name, arb] of Object.entries(groups)) {
      it(`${target} shards, ${name}: seeded random sequences give the same replies`, async () => {
        const router = routers.find((r) => r.name === target)!;
        await fc.assert(
          fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: 200, size: 'max' }), (cmds) => {
            sent += cmds.length;
            return compareSequence(
              (c) => plain.batch(c),
              (c) => router.pipe.batch(c),
              cmds,
            );
          }),
          { seed: SEED, numRuns: Math.round(85 * SCALE), endOnFailure: false },
        );
      }, 120_000);
    }
  }

  it('sent at least 100k commands through hotshard', () => {
    expect(sent).toBeGreaterThanOrEqual(100_000 * Math.min(1, SCALE));
  });
});
