/**
 * Transactions and blocking commands against a live move's machinery, on
 * embedded nodes: a block whose range is cut over waits at the gate and runs
 * once, whole, on the owner after the switch; a WATCH whose range moved makes
 * EXEC answer nil; a BLPOP whose range moves is ended with UNBLOCKED; a
 * client that leaves gives its WATCH connection back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory.js';
import { nodeId } from '../../src/keyspace/ids.js';
import { hashPartitioner } from '../../src/keyspace/partitioner.js';
import { RoutingTable } from '../../src/keyspace/routing-table.js';
import { decodeReply } from '../../src/protocol/reply-decoder.js';
import { RawReply, ReplyError, SimpleString, type Reply } from '../../src/protocol/reply.js';
import { RangeGate } from '../../src/rebalance/range-gate.js';
import { Router } from '../../src/router/router.js';
import { Session } from '../../src/router/session.js';

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

const shown = (r: Reply): unknown => {
  const v = r instanceof RawReply ? decodeReply(r.bytes) : r;
  if (v instanceof SimpleString) return v.value;
  if (v instanceof ReplyError) return `error: ${v.message}`;
  if (Buffer.isBuffer(v)) return v.toString();
  if (Array.isArray(v)) return v.map((x) => shown(x as Reply));
  return v;
};

/** Dispatches; the reply lands in `log` when it comes. */
function fire(router: Router, session: Session, log: unknown[], ...args: string[]): void {
  router.dispatch(
    session,
    args.map((a) => Buffer.from(a)),
    undefined,
    (r) => log.push(shown(r)),
  );
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

function keyOn(router: Router, shard: string, prefix: string): string {
  for (let i = 0; i < 10_000; i++) {
    const k = `{${prefix}${i}}`;
    if (router.table.shards[router.table.indexFor(Buffer.from(k))]!.id === shard) return k;
  }
  throw new Error(`no key on ${shard}`);
}

describe('transactions and blocking commands under a live move', () => {
  it('EXEC of a range being cut over waits at the gate, then runs whole on the new owner', async () => {
    const { router, nodes } = cluster();
    const s = router.table.shards[0]!;
    const key = keyOn(router, s.id, 'k');
    const session = new Session(1, 'c', false, 0);
    const log: unknown[] = [];
    fire(router, session, log, 'MULTI');
    fire(router, session, log, 'SET', `${key}:a`, '1');
    fire(router, session, log, 'INCR', `${key}:b`);
    const gate = new RangeGate(s.id);
    router.closeGate(gate);
    fire(router, session, log, 'EXEC');
    fire(router, session, log, 'GET', `${key}:a`); // behind the held EXEC
    await settle();
    expect(log).toEqual(['OK', 'QUEUED', 'QUEUED']);
    const other = nodes.find((n) => n.node !== s.node)!;
    router.setTable(router.table.move(s.id, other.node));
    router.openGate(gate);
    await settle();
    expect(log).toEqual(['OK', 'QUEUED', 'QUEUED', ['OK', 1], '1']);
    expect(await other.dump(Buffer.from(`${key}:a`))).not.toBeNull();
    expect(await nodes.find((n) => n.node === s.node)!.dump(Buffer.from(`${key}:a`))).toBeNull();
  });

  it('a watched key whose range moved to another node makes EXEC answer nil, and the session is free after', async () => {
    const { router, nodes } = cluster();
    const s = router.table.shards[1]!;
    const key = keyOn(router, s.id, 'w');
    const session = new Session(1, 'c', false, 0);
    const log: unknown[] = [];
    fire(router, session, log, 'WATCH', key);
    await settle();
    expect(router.dedicated.inUse(s.node)).toBe(1);
    router.setTable(router.table.move(s.id, nodes.find((n) => n.node !== s.node)!.node));
    fire(router, session, log, 'MULTI');
    fire(router, session, log, 'SET', key, 'x');
    fire(router, session, log, 'EXEC');
    fire(router, session, log, 'GET', key);
    await settle();
    expect(log).toEqual(['OK', 'OK', 'QUEUED', null, null]);
    expect(router.dedicated.inUse(s.node)).toBe(0);
  });

  it('a WATCH on embedded nodes: an expiry after WATCH counts as a change; a client that leaves gives its connection back', async () => {
    const { router } = cluster();
    const key = keyOn(router, router.table.shards[2]!.id, 'e');
    const session = new Session(1, 'c', false, 0);
    const log: unknown[] = [];
    fire(router, session, log, 'SET', key, 'v', 'PX', '30');
    fire(router, session, log, 'WATCH', key);
    await new Promise((r) => setTimeout(r, 80));
    fire(router, session, log, 'MULTI');
    fire(router, session, log, 'SET', key, 'after');
    fire(router, session, log, 'EXEC');
    await settle();
    expect(log).toEqual(['OK', 'OK', 'OK', 'QUEUED', null]);
    const node = router.table.shards[2]!.node;
    fire(router, session, log, 'WATCH', key);
    await settle();
    expect(router.dedicated.inUse(node)).toBe(1);
    router.sessionClosed(session);
    await settle();
    expect(router.dedicated.inUse(node)).toBe(0);
  });

  it('a BLPOP parked on a range that moves away is ended with UNBLOCKED; what the client sent after it runs', async () => {
    const { router, nodes } = cluster();
    const s = router.table.shards[3]!;
    const key = keyOn(router, s.id, 'q');
    const session = new Session(1, 'c', false, 0);
    const log: unknown[] = [];
    fire(router, session, log, 'BLPOP', key, '0');
    fire(router, session, log, 'PING'); // waits behind the blocked BLPOP, as on Redis
    await settle();
    expect(log).toEqual([]);
    expect(router.blockedSessions.size).toBe(1);
    router.setTable(router.table.move(s.id, nodes.find((n) => n.node !== s.node)!.node));
    await settle();
    expect(log).toHaveLength(2);
    expect(log[0]).toMatch(
      /^error: ERR HS_ERR_ROUTING UNBLOCKED: the range of key .* moved from node n\d to node n\d/,
    );
    expect(log[1]).toBe('PONG');
    expect(router.blockedSessions.size).toBe(0);
  });
});
