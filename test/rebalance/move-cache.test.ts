/**
 * A live move of a range whose keys are cached: the cache's entries carry
 * the routing version they were filled under and its fills follow the table
 * in force (a fill answered after the table changed is read again by the
 * held path), and its writes go through the held path, so the model check —
 * no read older than a write acknowledged before it was sent — holds while
 * the cached keys' shards move back and forth between the nodes.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { cacheRemedy } from '../../src/mitigate/actions/cache.js';
import { PolicyManager } from '../../src/mitigate/policies.js';
import { ShardMove } from '../../src/rebalance/move.js';
import { runModel, USUAL_LOAD } from '../mitigate/cache-model.js';
import { memoryCluster } from '../mitigate/cluster.js';

describe('move of a cached range', () => {
  it.each([1, 2, 3])(
    'no stale read while the cached keys’ shards move back and forth (seed %i)',
    async (seed) => {
      const router = memoryCluster({ nodes: ['n0', 'n1'], shards: 4, capacity: [4_000, 9_000] });
      const keys = ['hot:a', 'hot:b', 'hot:c', 'hot:d'];
      const manager = new PolicyManager({ router, clock: new ManualClock() }, [cacheRemedy()]);
      for (const k of keys)
        await manager.set(Buffer.from(k), {
          consistency: 'bounded',
          cache: { maxStaleMs: 60_000, staleWhileRevalidate: false },
        });
      const shards = [...new Set(keys.map((k) => router.table.shardFor(Buffer.from(k)).id))];
      let running = true;
      const moves: string[] = [];
      const mover = (async () => {
        while (running) {
          for (const id of shards) {
            const s = router.table.shard(id)!;
            const target = nodeId(s.node === 'n0' ? 'n1' : 'n0');
            const result = await new ShardMove({ router, shard: id, target, holdMs: 200 }).run();
            moves.push(`${id}:${result.state}${result.detail === null ? '' : ` ${result.detail}`}`);
            // A move refused at once resolves in microtasks: let the load's turns run between moves.
            await new Promise((r) => setImmediate(r));
          }
        }
      })();
      const run = await runModel({ router, keys, seed, ops: 400, ...USUAL_LOAD });
      running = false;
      await mover;
      expect(run.violations).toEqual([]);
      expect(run.writes).toBeGreaterThan(200);
      expect(moves.length).toBeGreaterThanOrEqual(shards.length);
      expect(moves.filter((m) => !m.endsWith(':done'))).toEqual([]);
      const hits = keys.reduce(
        (n, k) => n + (manager.get(Buffer.from(k))!.status['cache'] as { hits: number }).hits,
        0,
      );
      expect(hits).toBeGreaterThan(0);
    },
  );
});
