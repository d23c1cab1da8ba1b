/** GET /shards names the capacity `--capacity` gives the embedded nodes. */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';

interface ShardsBody {
  shards: { shard_id: string; node: string; capacity: number | null }[];
}

const started: TestHotshard[] = [];
afterEach(async () => {
  for (const t of started.splice(0)) await t.stop();
});

describe('/shards capacity', () => {
  it('/shards capacity - with --capacity 5000 every shard can be served at up to its node’s 5,000 ops/s', async () => {
    const t = await startTestHotshard({ backend: 'memory', capacity: 5000 });
    started.push(t);
    const body = (await t.hs.http.inject({ method: 'GET', url: '/shards' })).json<ShardsBody>();
    expect(body.shards.length).toBeGreaterThan(0);
    expect(body.shards.map((s) => s.capacity)).toEqual(body.shards.map(() => 5000));
  });

  it('/shards capacity - a shard’s own, lower capacity in the routing table wins; no capacity anywhere is null', async () => {
    const t = await startTestHotshard({ backend: 'memory', capacity: 5000 });
    started.push(t);
    const router = t.hs.router;
    const first = router.table.shards[0]!;
    router.setTable(router.table.withCapacity(first.id, 1200));
    const body = (await t.hs.http.inject({ method: 'GET', url: '/shards' })).json<ShardsBody>();
    expect(body.shards.find((s) => s.shard_id === first.id)?.capacity).toBe(1200);
    const none = await startTestHotshard({ backend: 'memory' });
    started.push(none);
    const rows = (await none.hs.http.inject({ method: 'GET', url: '/shards' })).json<ShardsBody>().shards;
    expect(rows.every((s) => s.capacity === null)).toBe(true);
  });
});
