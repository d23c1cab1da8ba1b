import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable, ShardStatus } from '../../src/keyspace/routing-table.js';
import { ShardMove, type MoveState } from '../../src/rebalance/index.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { CheckedLoad, DirectWriter, keysIn, keysOn, via, value } from './move-harness.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

const S0 = shardId('s0');
const N1 = nodeId('n1');

/** Three embedded nodes behind capacity queues (replies come later, as from a real node), six shards. */
function cluster(): { router: Router; nodes: MemoryBackend[] } {
  const nodes = ['n0', 'n1', 'n2'].map(
    (n) => new MemoryBackend({ node: nodeId(n), capacity: 500_000, maxQueue: 100_000 }),
  );
  open.push(...nodes);
  const table = RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: nodes.map((n) => n.node),
    shards: 6,
  });
  return { router: new Router(table, new Map(nodes.map((n) => [n.node, n]))), nodes };
}

/** Keys of every kind, half in s0 (the shard that moves), half elsewhere. */
function load(router: Router, n = 400): CheckedLoad {
  const some = (kind: string, count: number): string[] => [
    ...keysIn(router, S0, `in:${kind}:`, count),
    ...Array.from({ length: count }, (_, i) => `out:${kind}:${i}`),
  ];
  return new CheckedLoad(router, {
    string: some('s', n),
    counter: some('c', n / 4),
    append: some('a', n / 4),
    short: some('x', n / 8),
  });
}

const inS0 = (router: Router) => (k: Buffer) => router.table.shardFor(k).id === S0;

/** A journal that records every state and can stall on a phase (a control plane that stopped there). */
function journal(stallAt?: string): { states: MoveState[]; save: (s: MoveState) => Promise<void> } {
  const states: MoveState[] = [];
  return {
    states,
    save: (s) => {
      states.push(s);
      return s.phase === stallAt ? new Promise<void>(() => undefined) : Promise.resolve();
    },
  };
}

/** Fills s0 with `n` plain keys through the router, so a copy takes a while. */
async function bulk(router: Router, n: number): Promise<void> {
  const session = new Session(7, 'bulk', false, 0);
  const keys = keysIn(router, S0, 'bulk:', n);
  for (let i = 0; i < keys.length; i += 500)
    await Promise.all(keys.slice(i, i + 500).map((k) => via(router, session, 'SET', k, `v${k}`)));
}

describe('live move - embedded nodes', () => {
  it('moves a shard under mixed load and a direct writer: 0 failed, every acknowledged write there once, TTLs carried, nothing resurrected', async () => {
    const { router, nodes } = cluster();
    const [n0, n1] = nodes as [MemoryBackend, MemoryBackend];
    const l = load(router);
    await l.fill();
    await bulk(router, 5_000);
    const big = Buffer.alloc(10 * 1024 * 1024, 7);
    big.write('head', 0);
    const bigKey = keysIn(router, S0, 'big:', 1)[0]!;
    const session = new Session(5, 'big', false, 0);
    expect(value(await via(router, session, 'SET', bigKey, big))).toEqual(expect.anything());
    const writer = new DirectWriter(n0, keysIn(router, S0, 'direct:', 50));
    const j = journal();
    // The direct writer stops when the cutover begins: what it wrote before must be on the target.
    let opsBefore = 0;
    const save = async (s: MoveState): Promise<void> => {
      await j.save(s);
      // The load gets at least 1,000 ops in while the move runs, however slow a loaded machine
      // makes the load: the catch-up waits for them (writes meanwhile are its dirty keys).
      if (s.phase === 'catching-up')
        while (l.ops - opsBefore <= 1_000) await new Promise((r) => setTimeout(r, 5));
      if (s.phase === 'cutover') await writer.stop();
    };
    l.start(7);
    writer.start();
    // Every direct key written once before the move: on a loaded box the move may reach its
    // cutover (where the writer stops) before the writer has gone round them all.
    while (l.ops < 500 || writer.written.size < 50) await new Promise((r) => setTimeout(r, 5));
    opsBefore = l.ops;
    const move = new ShardMove({
      router,
      shard: S0,
      target: N1,
      journal: { save },
      batchKeys: 200,
      limits: { maxKeysPerSec: 20_000 },
    });
    const result = await move.run();
    const opsDuring = l.ops - opsBefore;
    await l.stop();
    await writer.stop();

    expect(result.detail).toBeNull();
    expect(result.state).toBe('done');
    expect(l.failures).toEqual([]);
    expect(writer.failures).toEqual([]);
    expect(opsDuring).toBeGreaterThan(1_000);
    expect(writer.written.size).toBe(50);
    expect(await l.check()).toEqual([]);
    for (const [k, v] of writer.written)
      expect(value(await via(router, session, 'GET', k))).toEqual(Buffer.from(v));
    const gotBig = value(await via(router, session, 'GET', bigKey));
    expect(Buffer.isBuffer(gotBig) && gotBig.equals(big)).toBe(true);
    // Exactly once: the range is on the target only.
    expect(await keysOn(n0, inS0(router))).toEqual([]);
    expect((await keysOn(n1, inS0(router))).length).toBeGreaterThan(5_000);
    const s = router.table.shard(S0)!;
    expect([s.node, s.status]).toEqual([N1, ShardStatus.Active]);
    expect(j.states.map((x) => x.phase)).toEqual([
      'preparing',
      'copying',
      'catching-up',
      'verifying',
      'cutover',
      'cleanup',
      'finished',
    ]);
    expect(result.move.counters.verifyMismatches).toBe(0);
    expect(result.move.counters.keysCopied).toBeGreaterThan(5_000);
    expect(result.move.tableVersion).toBe(router.table.version);
  });

  it('cancel mid-copy: the old state exactly, the target holds nothing of the range', async () => {
    const { router, nodes } = cluster();
    const [n0, n1] = nodes as [MemoryBackend, MemoryBackend];
    await bulk(router, 4_000);
    const l = load(router, 200);
    await l.fill();
    const before = router.table.shard(S0)!;
    const sourceKeys = (await keysOn(n0, inS0(router))).sort();
    l.start(3);
    const move = new ShardMove({
      router,
      shard: S0,
      target: N1,
      limits: { maxKeysPerSec: 5_000 },
      batchKeys: 100,
    });
    const running = move.run();
    while (move.progress().keysCopied === 0) await new Promise((r) => setTimeout(r, 5));
    expect(move.progress().phase).toBe('copying');
    expect(move.cancel('operator changed their mind')).toBe(true);
    const result = await running;
    await l.stop();
    expect(result.state).toBe('cancelled');
    expect(result.detail).toContain('operator changed their mind');
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(await keysOn(n1, inS0(router))).toEqual([]);
    const after = router.table.shard(S0)!;
    expect({ ...after }).toEqual({ ...before });
    // Every key written before is still where it was (the load's own keys changed as it says).
    const still = new Set(await keysOn(n0, inS0(router)));
    for (const k of sourceKeys.filter((k) => k.startsWith('bulk:'))) expect(still.has(k)).toBe(true);
  });

  it('target node gone during the copy: rolled back, no client request failed', async () => {
    const { router } = cluster();
    // A node that joins at runtime and holds nothing yet: clients reach it only after a switch.
    const n3 = new MemoryBackend({ node: nodeId('n3') });
    open.push(n3);
    router.addBackend(n3.node, n3);
    router.setTable(router.table.withNode(n3.node));
    await bulk(router, 3_000);
    const l = load(router, 200);
    await l.fill();
    l.start(5);
    const move = new ShardMove({
      router,
      shard: S0,
      target: n3.node,
      limits: { maxKeysPerSec: 10_000 },
      batchKeys: 100,
    });
    const running = move.run();
    while (move.progress().keysCopied === 0) await new Promise((r) => setTimeout(r, 5));
    await n3.close();
    const result = await running;
    await l.stop();
    expect(result.state).toBe('rolled-back');
    expect(result.detail).toMatch(/target n3 unreachable, copies of the range may be left on it/);
    const s = router.table.shard(S0)!;
    expect([s.node, s.status]).toEqual([nodeId('n0'), ShardStatus.Active]);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(router.removeBackend(n3.node)).toBe(n3);
  });

  it('source node gone: the move fails and says so, routing unchanged', async () => {
    const { router, nodes } = cluster();
    await bulk(router, 3_000);
    const before = router.table.shard(S0)!;
    const move = new ShardMove({
      router,
      shard: S0,
      target: N1,
      limits: { maxKeysPerSec: 10_000 },
      batchKeys: 100,
    });
    const running = move.run();
    while (move.progress().keysCopied === 0) await new Promise((r) => setTimeout(r, 5));
    await nodes[0]!.close();
    const result = await running;
    expect(result.state).toBe('failed');
    expect(result.detail).toMatch(/source n0 is down; routing unchanged/);
    expect({ ...router.table.shard(S0)! }).toEqual({ ...before });
    expect(await keysOn(nodes[1]!, inS0(router))).toEqual([]);
  });

  it('write watch lost mid-copy: the copy starts over and nothing is missed', async () => {
    const { router, nodes } = cluster();
    const n0 = nodes[0]!;
    await bulk(router, 3_000);
    const l = load(router, 200);
    await l.fill();
    l.start(11);
    const move = new ShardMove({
      router,
      shard: S0,
      target: N1,
      limits: { maxKeysPerSec: 20_000 },
      batchKeys: 100,
    });
    const running = move.run();
    while (move.progress().keysCopied === 0) await new Promise((r) => setTimeout(r, 5));
    n0.cutWriteWatches('test cut');
    const result = await running;
    await l.stop();
    expect(result.state).toBe('done');
    expect(result.move.counters.copyRestarts).toBe(1);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(await keysOn(n0, inS0(router))).toEqual([]);
  });

  it('resumes after a control-plane stop: before the switch it copies again, after it it finishes the cleanup', async () => {
    const { router, nodes } = cluster();
    const [n0, n1] = nodes as [MemoryBackend, MemoryBackend];
    await bulk(router, 2_000);
    const l = load(router, 100);
    await l.fill();
    l.start(13);
    // The first control plane stops during catch-up: its move never goes on.
    const j = journal('catching-up');
    void new ShardMove({ router, shard: S0, target: N1, journal: j }).run();
    while (j.states.at(-1)?.phase !== 'catching-up') await new Promise((r) => setTimeout(r, 5));
    const saved = j.states.at(-1)!;
    expect(router.table.shard(S0)!.status).toBe(ShardStatus.Moving);
    const resumed = await ShardMove.resume({ router }, saved).run();
    expect(resumed.state).toBe('done');
    await l.stop();
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(router.table.shard(S0)!.node).toBe(N1);

    // Back again, stopping right after the switch: the resumed move only cleans up.
    const j2 = journal('cleanup');
    void new ShardMove({ router, shard: S0, target: nodeId('n0'), journal: j2 }).run();
    while (j2.states.at(-1)?.phase !== 'cleanup') await new Promise((r) => setTimeout(r, 5));
    expect(router.table.shard(S0)!.node).toBe(nodeId('n0'));
    expect((await keysOn(n1, inS0(router))).length).toBeGreaterThan(0);
    const done = await ShardMove.resume({ router }, j2.states.at(-1)!).run();
    expect(done.state).toBe('done');
    expect(await keysOn(n1, inS0(router))).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect((await keysOn(n0, inS0(router))).length).toBeGreaterThan(2_000);
  });

  it('refuses a range with a replicas policy on one of its keys, naming it, and changes nothing', async () => {
    const { router } = cluster();
    const key = Buffer.from(keysIn(router, S0, 'hot:', 1)[0]!);
    router.policies.set(
      key,
      { consistency: 'strong', replicas: { count: 2 } },
      { run: (req, done) => req.forward(req.cmd, done) },
    );
    const version = router.table.version;
    const result = await new ShardMove({ router, shard: S0, target: N1 }).run();
    expect(result.state).toBe('failed');
    expect(result.detail).toContain(`key "${key.toString()}" has a replicas policy`);
    expect(router.table.version).toBe(version);
  });

  it('two moves at once share the router: both cutovers happen, one after the other, nothing lost', async () => {
    const { router, nodes } = cluster();
    await bulk(router, 2_000);
    const l = load(router, 200);
    await l.fill();
    l.start(17);
    // s0 n0 -> n1 and s1 n1 -> n2: if their cutovers meet at the router's one gate, the second waits for it.
    const a = new ShardMove({ router, shard: S0, target: N1, batchKeys: 100 });
    const b = new ShardMove({ router, shard: shardId('s1'), target: nodeId('n2'), batchKeys: 100 });
    const [ra, rb] = await Promise.all([a.run(), b.run()]);
    await l.stop();
    expect([ra.state, rb.state]).toEqual(['done', 'done']);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    expect(router.table.shard(S0)!.node).toBe(N1);
    expect(router.table.shard(shardId('s1'))!.node).toBe(nodeId('n2'));
    expect(await keysOn(nodes[0]!, inS0(router))).toEqual([]);
  });

  it('a split of the moving shard under the move: it rolls back, both halves active on the source, nothing lost', async () => {
    const { router, nodes } = cluster();
    await bulk(router, 3_000);
    const l = load(router, 200);
    await l.fill();
    l.start(19);
    const move = new ShardMove({
      router,
      shard: S0,
      target: N1,
      limits: { maxKeysPerSec: 20_000 },
      batchKeys: 100,
    });
    const running = move.run();
    while (move.progress().keysCopied === 0) await new Promise((r) => setTimeout(r, 5));
    router.setTable(router.table.split(S0));
    const result = await running;
    await l.stop();
    expect(result.state).toBe('rolled-back');
    expect(result.detail).toMatch(/shard s0 changed under the move/);
    expect(l.failures).toEqual([]);
    expect(await l.check()).toEqual([]);
    const halves = router.table.shards.filter((s) => s.id === S0 || s.id === shardId('s6'));
    expect(halves.map((s) => [s.node, s.status])).toEqual([
      [nodeId('n0'), ShardStatus.Active],
      [nodeId('n0'), ShardStatus.Active],
    ]);
    expect(await keysOn(nodes[1]!, (k) => ['s0', 's6'].includes(router.table.shardFor(k).id))).toEqual([]);
  });

  it('throttle: limits can change while it runs and bad limits are refused by name', async () => {
    const { router } = cluster();
    expect(() => new ShardMove({ router, shard: S0, target: N1, limits: { maxKeysPerSec: -1 } })).toThrow(
      /maxKeysPerSec must be null \(unlimited\) or a positive number/,
    );
    await bulk(router, 2_000);
    const move = new ShardMove({
      router,
      shard: S0,
      target: N1,
      limits: { maxKeysPerSec: 1_000 },
      batchKeys: 50,
    });
    const running = move.run();
    while (move.progress().keysCopied === 0) await new Promise((r) => setTimeout(r, 5));
    expect(move.progress().keysTotal).toBeGreaterThan(0);
    move.setLimits({ maxKeysPerSec: null });
    expect(move.state.limits).toEqual({ maxKeysPerSec: null, maxBytesPerSec: null });
    expect((await running).state).toBe('done');
  });
});
