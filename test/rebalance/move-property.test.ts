/**
 * A model check of catch-up and cutover on embedded nodes: for seeded random
 * choices of batch size, catch-up threshold, hold bound (down to 1 ms, so
 * cutovers give up and retry), node capacity (replies queue), load mix and
 * watch losses, a move either completes or rolls back, and in both cases no
 * request failed, every acknowledged write is there, and the range lives on
 * exactly the node the table names.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable, ShardStatus } from '../../src/keyspace/routing-table.js';
import { ShardMove } from '../../src/rebalance/index.js';
import { Router } from '../../src/router/router.js';
import { mulberry32 } from '../seeded-random.js';
import { CheckedLoad, DirectWriter, keysIn, keysOn, value, via } from './move-harness.js';
import { Session } from '../../src/router/session.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

const S1 = shardId('s1');

describe('live move - model check on embedded nodes', () => {
  it('done or rolled back, never a failed request or a lost write, the range on exactly one node', async () => {
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const rnd = mulberry32(seed);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
        const capacity = pick([null, 50_000, 200_000]);
        const nodes = ['n0', 'n1'].map(
          (n) => new MemoryBackend({ node: nodeId(n), capacity, maxQueue: 1_000_000 }),
        );
        open.push(...nodes);
        const table = RoutingTable.create({
          partitioner: hashPartitioner(),
          nodes: nodes.map((n) => n.node),
          shards: 4,
        });
        // The move's own reads and writes take a random few ms, as on a busy node, so cutovers hold
        // requests and, with a 1 ms bound, give up; the clients' path is the node itself.
        const lag = (): Promise<void> => new Promise((r) => setTimeout(r, Math.floor(rnd() * 4)));
        const slowed = nodes.map((n) => {
          const dumpKeys = n.dumpKeys.bind(n);
          const restoreKeys = n.restoreKeys.bind(n);
          n.dumpKeys = async (keys) => {
            await lag();
            return dumpKeys(keys);
          };
          n.restoreKeys = async (writes) => {
            await lag();
            return restoreKeys(writes);
          };
          return n;
        });
        const router = new Router(table, new Map(slowed.map((n) => [n.node, n])));
        const source = router.table.shard(S1)!.node;
        const target = source === nodes[0]!.node ? nodes[1]! : nodes[0]!;
        const sourceNode = nodes.find((n) => n.node === source)!;
        const some = (kind: string, count: number): string[] => [
          ...keysIn(router, S1, `${seed}:in:${kind}:`, count),
          ...Array.from({ length: count }, (_, i) => `${seed}:out:${kind}:${i}`),
        ];
        const l = new CheckedLoad(
          router,
          { string: some('s', 60), counter: some('c', 20), append: some('a', 20), short: some('x', 10) },
          pick([2, 8, 16]),
        );
        await l.fill();
        const session = new Session(3, 'bulk', false, 0);
        await Promise.all(
          keysIn(router, S1, `${seed}:bulk:`, 300).map((k) => via(router, session, 'SET', k, k)),
        );
        const writer = new DirectWriter(sourceNode, keysIn(router, S1, `${seed}:direct:`, 10));
        const writerStopped = { at: '' };
        const move = new ShardMove({
          router,
          shard: S1,
          target: target.node,
          batchKeys: pick([7, 50, 500]),
          catchUpKeys: pick([0, 3, 50]),
          holdMs: pick([1, 5, 1000]),
          maxCutoverAttempts: 8,
          limits: { maxKeysPerSec: pick([null, 20_000]) },
          journal: {
            save: async (s) => {
              if (s.phase === 'cutover' && writerStopped.at === '') {
                writerStopped.at = s.phase;
                await writer.stop();
              }
            },
          },
        });
        l.start(seed);
        writer.start();
        while (l.ops < 200) await new Promise((r) => setTimeout(r, 1));
        const cut = rnd() < 0.3;
        const running = move.run();
        if (cut) {
          while (move.progress().keysCopied === 0 && move.progress().state === 'running')
            await new Promise((r) => setTimeout(r, 1));
          sourceNode.cutWriteWatches('model check cut');
        }
        const result = await running;
        await l.stop();
        await writer.stop();
        expect(['done', 'rolled-back'], result.detail ?? '').toContain(result.state);
        expect(l.failures).toEqual([]);
        expect(await l.check()).toEqual([]);
        // The direct writer's acknowledged writes: carried to the target, or still on the source after a rollback.
        for (const [k, v] of writer.written) {
          const got = value(await via(router, session, 'GET', k));
          expect((got as Buffer).toString(), k).toBe(v);
        }
        const c = result.move.counters;
        seen.push(`${result.state} aborts=${c.cutoverAborts} restarts=${c.copyRestarts} held=${c.held}`);
        const s = router.table.shard(S1)!;
        expect(s.status).toBe(ShardStatus.Active);
        const inS1 = (k: Buffer): boolean => router.table.shardFor(k).id === S1;
        const other = s.node === source ? target : sourceNode;
        expect(await keysOn(other, inS1)).toEqual([]);
        await Promise.all(open.splice(0).map((b) => b.close()));
      }),
      { numRuns: 12, seed: 20261206 },
    );
    // The runs must have reached what this checks: cutovers given up and retried, and copies started over.
    expect(seen.some((x) => !x.includes('aborts=0'))).toBe(true);
    expect(seen.some((x) => !x.includes('restarts=0'))).toBe(true);
    expect(seen.some((x) => x.startsWith('done'))).toBe(true);
  }, 120_000);
});
