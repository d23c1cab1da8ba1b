import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisProcess } from '../../src/testkit/redis-server.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import {
  anyCommand,
  bitmaps,
  geo,
  hashes,
  hyperloglog,
  keys,
  lists,
  sets,
  sorting,
  streams,
  strings,
  withStreamIds,
  zsetAggregateCorners,
  zsets,
} from './commands.js';
import { compareSequence } from './harness.js';
import { RespPipe } from './resp-pipe.js';

// The same sequences through a hotshard router: to embedded shards and to 4
// redis-server nodes. Every key carries one hash tag, so a sequence's keys
// share a shard and its multi-key commands stay on one node.
const SEED = Number(process.env.DIFF_SEED ?? 1616);
const SCALE = Number(process.env.DIFF_SCALE ?? 1);
// A larger scale runs proportionally more sequences; a test still running at
// its timeout would go on sending on the shared connections under the next.
const TIMEOUT_MS = 120_000 * Math.max(1, SCALE);
const ADMIN = 'differential-admin';

let redis: RedisProcess;
/** Clients of redis-server and of each router: RESP2, and RESP3 (after HELLO 3). */
const plain: Record<Proto, RespPipe> = {} as Record<Proto, RespPipe>;
const routers: { name: string; t: TestHotshard; pipe: Record<Proto, RespPipe> }[] = [];
type Proto = 2 | 3;

/** A connection that speaks `proto`. */
async function client(port: number, proto: Proto, auth: string[] = []): Promise<RespPipe> {
  const pipe = await RespPipe.open(port);
  const hello = proto === 3 ? [['HELLO', '3']] : [];
  const setup = [...(auth.length > 0 ? [auth] : []), ...hello];
  const replies = await pipe.batch(setup);
  replies.forEach((r, i) => {
    if (r.toString('latin1', 0, 1) === '-') throw new Error(`${setup[i]![0]} failed: ${r.toString()}`);
  });
  return pipe;
}
/** Commands sent through hotshard (each also to redis-server), to hold the suite to its 100k. */
let sent = 0;

beforeAll(async () => {
  redis = await startRedis();
  for (const proto of [2, 3] as const) plain[proto] = await client(redis.port, proto);
  for (const backend of ['memory', 'redis'] as const) {
    const t = await startTestHotshard({
      backend,
      adminPassword: ADMIN,
      // the sequences hammer one hash tag, which would otherwise draw a hot-key
      // remedy (cache, salting) that refuses multi-key commands on it, as it should
      automation: 'manual',
      ...(backend === 'redis' ? { redisNodes: 4 } : {}),
    });
    // FLUSHALL between sequences needs an admin connection
    const auth = ['AUTH', 'admin', ADMIN];
    routers.push({
      name: backend,
      t,
      pipe: { 2: await client(t.port, 2, auth), 3: await client(t.port, 3, auth) },
    });
  }
}, 60_000);

afterAll(async () => {
  for (const p of Object.values(plain)) p.close();
  for (const r of routers) {
    for (const p of Object.values(r.pipe)) p.close();
    await r.t.stop();
  }
  await redis.stop();
});

const groups = {
  strings,
  bitmaps,
  sorting,
  streams,
  hyperloglog,
  keys,
  hashes,
  lists,
  sets,
  zsets,
  geo,
  mixed: anyCommand,
};

describe('differential - a hotshard router answers as redis-server 7.0 does', () => {
  for (const target of ['memory', 'redis'] as const) {
    for (const [name, arb] of Object.entries(groups)) {
      it(
        `${target} shards, ${name}: seeded random sequences give the same replies`,
        async () => {
          const router = routers.find((r) => r.name === target)!;
          await fc.assert(
            fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: 200, size: 'max' }), (cmds) => {
              sent += cmds.length;
              return compareSequence(
                (c) => plain[2].batch(c),
                (c) => router.pipe[2].batch(c),
                withStreamIds(cmds),
              );
            }),
            { seed: SEED, numRuns: Math.round(85 * SCALE), endOnFailure: false },
          );
        },
        TIMEOUT_MS,
      );
    }
  }

  // RESP3 clients (go-redis v9, Lettuce, redis-py with protocol=3) are told a
  // set, a map and a double from an array and a bulk string.
  for (const target of ['memory', 'redis'] as const) {
    for (const [name, arb] of Object.entries(groups)) {
      it(
        `RESP3, ${target} shards, ${name}: the replies have Redis's RESP3 types`,
        async () => {
          const router = routers.find((r) => r.name === target)!;
          await fc.assert(
            fc.asyncProperty(fc.array(arb, { minLength: 1, maxLength: 200, size: 'max' }), (cmds) =>
              compareSequence(
                (c) => plain[3].batch(c),
                (c) => router.pipe[3].batch(c),
                withStreamIds(cmds),
              ),
            ),
            { seed: SEED + 3, numRuns: Math.round(30 * SCALE), endOnFailure: false },
          );
        },
        TIMEOUT_MS,
      );
    }
  }

  // Keys without a hash tag: on the shards they hash to, so ZUNION / ZINTER
  // are gathered by the router (src/router/gather.ts) where they differ.
  for (const target of ['memory', 'redis'] as const) {
    it(`${target} shards: sorted-set aggregates of -0 and 0, inf and -inf give the same replies, gathered or not`, async () => {
      const router = routers.find((r) => r.name === target)!;
      const table = router.t.hs.router.table;
      const shardOf = (k: string): number => table.indexFor(Buffer.from(k));
      const apart = ['agg:2', 'agg:3', 'agg:4', 'agg:5'].find((k) => shardOf(k) !== shardOf('agg:1'))!;
      expect(apart, 'a key on another shard than agg:1').toBeDefined();
      for (const [a, b] of [
        ['agg:1', apart],
        ['{z}a', '{z}b'],
      ] as const) {
        await compareSequence(
          (c) => plain[2].batch(c),
          (c) => router.pipe[2].batch(c),
          zsetAggregateCorners(a, b).map((args) => ({ args, order: 'ordered' })),
        );
      }
    });
  }

  it('sent at least 100k commands through hotshard', () => {
    expect(sent).toBeGreaterThanOrEqual(100_000 * Math.min(1, SCALE));
  });
});
