/**
 * GET /proposals on a running hotshard: real traffic makes a hot range, the
 * detector raises it, the router's split sampler finds the load-based point
 * from the keys it sees, and the plan shows the split and the move of the
 * hotter half with their predicted effect. Readable with the read token (no
 * admin token). In dry-run the executor records them as recommended and the
 * table does not change; under `auto` they run: the range is split at that
 * point and its hotter half moved live, with no request failing.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { Proposal, RangePlan } from '../../src/rebalance/range-planner-io.js';
import { startTestHotshard, type TestHotshard } from '../../src/testkit/hotshard.js';
import { mulberry32 } from '../seeded-random.js';
import { sleep, waitFor } from './harness.js';

const ADMIN = 'admin-token-0123456789';
const READ = 'read-token-0123456789ab';

interface ProposalsBody {
  tableVersion: number;
  summary: { splits: number; moves: number; merges: number; maxNodeUtilizationBefore: number | null };
  proposals: Proposal[];
  deferred: RangePlan['deferred'];
  nodes: RangePlan['nodes'];
  budget: { movesLeftThisHour: number; maxConcurrentMoves: number };
  sampling: { shard: string; recorded: number }[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A 2-node range cluster whose shard s0 takes up to 2,200 writes/s over 1,000 keys; `stop` ends the load and says how many requests failed. */
async function hotRange(automation: 'dry-run' | 'auto') {
  // s0 [, "g") and s2 ["m", "t") on n0, s1 and s3 on n1; each node serves 1,500 ops/s.
  const t: TestHotshard = await startTestHotshard({
    nodes: 2,
    partitioner: 'range',
    splits: ['g', 'm', 't'],
    capacity: 1500,
    adminToken: ADMIN,
    readToken: READ,
    detector: { tickMs: 100, quietTickMs: 100 },
    automation,
    // The hot range's own goal only: the balance goal could move s0 whole before its split.
    rebalance: { balanceMaxOverMean: 1000 },
  });
  cleanups.push(() => t.stop());
  const client = new Redis({ port: t.port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
  cleanups.push(() => {
    client.disconnect();
    return Promise.resolve();
  });
  expect(t.hs.router.table.shards.map((s) => `${s.id}@${s.node}`)).toEqual([
    's0@n0',
    's1@n1',
    's2@n0',
    's3@n1',
  ]);

  // Up to 2,200 writes/s over 1,000 keys of s0 ("a:0000".."a:0999"), a tenth of that on each
  // other shard (a loaded machine sends less, still well over 70 % of n0's capacity).
  const random = mulberry32(5);
  let running = true;
  let failed = 0;
  const load = (async () => {
    while (running) {
      const p = client.pipeline();
      for (let i = 0; i < 220; i++) p.set(`a:${String(Math.floor(random() * 1000)).padStart(4, '0')}`, 'v');
      for (const prefix of ['h', 'n', 'u']) for (let i = 0; i < 10; i++) p.set(`${prefix}:${i}`, 'v');
      for (const [err] of (await p.exec()) ?? []) if (err !== null) failed++;
      await sleep(100);
    }
  })();
  const stop = async (): Promise<number> => {
    running = false;
    await load;
    return failed;
  };
  cleanups.push(async () => void (await stop()));
  return { t, stop };
}

describe('proposals api', () => {
  it('proposals api - a hot range under real traffic is proposed split at its load-based point, its hotter half moved (dry-run: recommended only)', async () => {
    const { t } = await hotRange('dry-run');
    const get = async (token: string): Promise<{ status: number; body: ProposalsBody }> => {
      const res = await t.hs.http.inject({
        method: 'GET',
        url: '/proposals',
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.statusCode, body: res.json<ProposalsBody>() };
    };
    const body = await waitFor(
      'a split of s0 in GET /proposals',
      async () => {
        const { status, body } = await get(READ);
        expect(status).toBe(200);
        return body.proposals.some((p) => p.kind === 'split') ? body : undefined;
      },
      30_000,
    );
    const [split, move] = body.proposals;
    expect(split).toMatchObject({ kind: 'split', shard: 's0', newShard: 's4' });
    // The load-based point lies among the hot keys, near their middle; not the range's midpoint ("3").
    expect(split!.at! > 'a:0150' && split!.at! < 'a:0850').toBe(true);
    expect(split!.reason).toMatch(
      /^shard s0 .* is write-hot: .*; split at "a:0\d{3}" divides the load \d+ % \/ \d+ %/,
    );
    expect(move).toMatchObject({ kind: 'move', source: 'n0', target: 'n1', after: 0 });
    expect(move!.predicted.metric).toBe('nodeUtilization');
    expect(move!.predicted.expected).toBeLessThan(move!.predicted.before!);
    expect(move!.alsoPredicted[0]!.expected).toBeLessThanOrEqual(0.8);
    expect(body.summary).toMatchObject({ splits: 1, moves: 1 });
    // n0 is the hot node; how hot depends on how much a loaded machine manages to send (0.7 seen in CI).
    expect(body.summary.maxNodeUtilizationBefore).toBeGreaterThan(0.5);
    expect(body.summary.maxNodeUtilizationBefore).toBe(
      body.nodes.find((n) => n.node === 'n0')!.utilizationBefore,
    );
    expect(body.sampling.map((s) => s.shard)).toContain('s0');
    expect(body.budget).toMatchObject({ movesLeftThisHour: 12, maxConcurrentMoves: 1 });
    // Proposed, not executed: the executor has it as recommended.
    expect(t.hs.router.table.shards.map((s) => s.id)).toEqual(['s0', 's1', 's2', 's3']);
    await waitFor('the split recommended in /actions', () =>
      t.hs.executor.list({ kind: 'split' }).find((a) => a.outcome === 'recommended'),
    );
  }, 60_000);

  it('proposals api - under auto the planner splits the hot range at its load-based point and moves the hotter half live; no request fails', async () => {
    const { t, stop } = await hotRange('auto');
    // The hot range's chain: the split, then a move of one of its halves.
    const split = await waitFor(
      'the planner’s split of s0, done',
      () =>
        t.hs.executor
          .list({ kind: 'split' })
          .find((a) => a.state === 'done' && a.by === 'planner' && a.subject.name === 's0'),
      40_000,
    );
    const halves = [split.subject.name, String(split.settings['newShard'])];
    const moved = await waitFor(
      'the move of its hotter half, done',
      () =>
        t.hs.executor
          .list({ kind: 'move' })
          .find(
            (a) =>
              a.state === 'done' &&
              a.by === 'planner' &&
              a.createdAt >= split.createdAt &&
              halves.includes(a.subject.name),
          ),
      40_000,
    );
    const half = t.hs.router.table.shard(moved.subject.name as never)!;
    expect(half.node).toBe('n1');
    // The moved shard is one of the split's halves: its range starts or ends at the load-based point among the hot keys.
    const at = String(split.settings['at']);
    expect(at > 'a:0150' && at < 'a:0850').toBe(true);
    const p = t.hs.router.table.partitioner;
    expect([p.format(half.start), half.end === null ? null : p.format(half.end)]).toContain(at);
    expect(halves).toContain(half.id);
    expect(await stop()).toBe(0);
  }, 60_000);
});
