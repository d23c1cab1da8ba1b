import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { ErrorCode } from '../../src/errors.js';
import { nodeId, shardId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { makeCommand } from '../../src/protocol/command.js';
import type { Reply } from '../../src/protocol/reply.js';
import { RangeGate } from '../../src/rebalance/range-gate.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';
import { direct, keysIn, value } from './move-harness.js';

const open: MemoryBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function cluster(): { router: Router; nodes: MemoryBackend[] } {
  const nodes = ['n0', 'n1'].map((n) => new MemoryBackend({ node: nodeId(n) }));
  open.push(...nodes);
  const table = RoutingTable.create({
    partitioner: hashPartitioner(),
    nodes: nodes.map((n) => n.node),
    shards: 4,
  });
  return { router: new Router(table, new Map(nodes.map((n) => [n.node, n]))), nodes };
}

/** Dispatches without waiting; the replies land in `log` as they come. */
function fire(router: Router, session: Session, log: string[], ...args: string[]): void {
  router.dispatch(
    session,
    args.map((a) => Buffer.from(a)),
    undefined,
    (r: Reply) => {
      const v = value(r);
      log.push(`${args.join(' ')} -> ${Buffer.isBuffer(v) ? v.toString() : JSON.stringify(v)}`);
    },
  );
}

describe('range gate - the router holds a cutting-over range', () => {
  it('holds keyed, multi-key, forwarded and all-node requests of the range, and what a held session sends next; releases in order', () => {
    const { router } = cluster();
    const s0 = shardId('s0');
    const [a0, a1] = keysIn(router, s0, 'a', 2) as [string, string];
    const other = keysIn(router, shardId('s1'), 'b', 1)[0]!;
    const gate = new RangeGate(s0);
    router.closeGate(gate);
    const log: string[] = [];
    const alice = new Session(1, 'a', false, 0);
    const bob = new Session(2, 'b', false, 0);
    fire(router, alice, log, 'SET', a0, '1');
    fire(router, alice, log, 'SET', other, 'alice'); // behind her held SET: waits too
    fire(router, bob, log, 'SET', other, 'bob'); // another session, another range: goes on
    fire(router, bob, log, 'MGET', other, a1); // touches the range: held
    fire(router, bob, log, 'DBSIZE'); // every node: held
    let forwarded = false;
    router.forward(makeCommand('SET', a1, 'f'), () => (forwarded = true));
    expect(log).toEqual([`SET ${other} bob -> {"value":"OK"}`]);
    expect(forwarded).toBe(false);
    expect(gate.size).toBe(5);
    const waited = router.openGate(gate);
    expect(waited).toHaveLength(5);
    expect(forwarded).toBe(true);
    expect(log).toEqual([
      `SET ${other} bob -> {"value":"OK"}`,
      `SET ${a0} 1 -> {"value":"OK"}`,
      `SET ${other} alice -> {"value":"OK"}`,
      `MGET ${other} ${a1} -> ${JSON.stringify([Buffer.from('alice'), null])}`,
      'DBSIZE -> 2',
    ]);
    expect(router.stats.commands).toBe(5);
  });

  it('one gate at a time; a released gate holds nothing', () => {
    const { router } = cluster();
    const g = new RangeGate(shardId('s0'));
    router.closeGate(g);
    expect(() => router.closeGate(new RangeGate(shardId('s1')))).toThrow(
      /shard s0 is already being cut over/,
    );
    router.openGate(g);
    let ran = false;
    g.hold(undefined, () => (ran = true));
    expect(ran).toBe(true);
  });

  it('nodes join and leave at runtime: addBackend refuses a known node, removeBackend a node that holds a shard', async () => {
    const { router, nodes } = cluster();
    const n2 = new MemoryBackend({ node: nodeId('n2') });
    open.push(n2);
    expect(() => router.addBackend(nodes[0]!.node, n2)).toThrow(
      expect.objectContaining({ code: ErrorCode.Routing }),
    );
    router.addBackend(n2.node, n2);
    router.setTable(router.table.withNode(n2.node).move(shardId('s0'), n2.node));
    const k = keysIn(router, shardId('s0'), 'k', 1)[0]!;
    const session = new Session(1, 't', false, 0);
    await new Promise((r) =>
      router.dispatch(session, [Buffer.from('SET'), Buffer.from(k), Buffer.from('v')], undefined, r),
    );
    expect(value(await direct(n2, 'GET', k))).toEqual(Buffer.from('v'));
    expect(() => router.removeBackend(n2.node)).toThrow(/node n2 still holds shards s0; move them first/);
    router.setTable(router.table.move(shardId('s0'), nodes[0]!.node));
    expect(router.removeBackend(n2.node)).toBe(n2);
    expect(router.backends.has(n2.node)).toBe(false);
  });
});
